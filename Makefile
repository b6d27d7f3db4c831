# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv and install the package with its dev extras first, if needed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test check unit integration lint bench proto lab clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/labctl demo

# JupyterLab on the notebooks, with this venv as the kernel (the notebooks start their own lab cluster).
# Its terminals get the venv on PATH (labctl) and the lab home the notebooks use (labctl status sees
# their lab; labs/jupyter/jupyter_server_config.py keeps that PATH in non-login terminal shells);
# labs/jupyter/labconfig turns the news/update pop-up off (the announcements plugin),
# and news_url=None stops the feed being fetched at all.
lab: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" LABKIT_HOME="$${LABKIT_HOME:-$(CURDIR)/.labkit}" \
	JUPYTER_CONFIG_PATH="$(CURDIR)/labs/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --LabApp.news_url=None

# Everything: unit, integration, reliability and the notebooks (what CI runs).
test: $(STAMP)
	$(PY) -m pytest

# The quick loop before a commit: lint, the import contracts and the unit tests. Measured: ~35 s on
# a quiet 2-core machine (ruff 0.1 s, lint-imports 1 s, unit tests ~30 s), 2.6 min under a load
# average of 15. -p no:cacheprovider keeps parallel checkouts from sharing pytest's cache.
check: lint $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) bench/store_writes.py

proto: $(STAMP)
	PYTHON=$(PY) orchestrator/proto/generate.sh

clean:
	rm -rf $(VENV) .labkit .pytest_cache
