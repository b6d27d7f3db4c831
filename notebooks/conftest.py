"""Run the notebooks under pytest with nbval (`make test` collects them: see pyproject's testpaths).

- One lab home per test session: while a notebook's cells run, LABKIT_HOME points at a temporary
  directory (set before nbval starts the notebook's kernel, which inherits it), and so does
  LABKIT_EXERCISES_DIR (where `labs.exercise` copies exercise files). The notebooks
  run one after another and share it; each one's clean-up cell stops its lab.
- The kernel is this interpreter (``--nbval-current-env`` in pyproject's addopts), so notebooks
  import this checkout's `labs` and `orchestrator`, whatever kernelspecs the machine has.
- At the end of the session any lab still up in that home is stopped (a notebook that failed
  before its clean-up cell is stopped by the supervisor's owner watchdog already; this is the
  belt to those braces), and the home is deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_NOTEBOOKS = Path(__file__).resolve().parent
# Notebook 07's experiment size (labs/scale.py): under pytest the CI size unless asked otherwise.
os.environ.setdefault("LABKIT_NOTEBOOK_SCALE", "small")
_home: Path | None = None
_saved: dict[str, str | None] = {}


def _is_notebook_item(item: pytest.Item) -> bool:
    path = Path(str(item.fspath))
    return path.suffix == ".ipynb" and _NOTEBOOKS in path.parents


def notebook_home() -> Path:
    """The session's lab home for notebooks (created on first use; short: PostgreSQL's socket path)."""
    global _home
    if _home is None:
        _home = Path(tempfile.mkdtemp(prefix="labkit-nb-"))
    return _home


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_notebook_item(item) and "LABKIT_HOME" not in _saved:
        _saved["LABKIT_HOME"] = os.environ.get("LABKIT_HOME")
        os.environ["LABKIT_HOME"] = str(notebook_home())
        # labs.exercise copies exercise files there, not next to the notebooks in the checkout.
        _saved["LABKIT_EXERCISES_DIR"] = os.environ.get("LABKIT_EXERCISES_DIR")
        os.environ["LABKIT_EXERCISES_DIR"] = str(notebook_home())


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if _is_notebook_item(item) and (nextitem is None or not _is_notebook_item(nextitem)) and _saved:
        for name, previous in list(_saved.items()):
            del _saved[name]
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _home is None:
        return
    from orchestrator.lab.down import down
    from orchestrator.lab.home import LabHome, LabSettings

    try:
        down(LabSettings(home=LabHome(_home)))
    finally:
        shutil.rmtree(_home, ignore_errors=True)
