"""Run the notebooks under pytest with nbval (`make test` collects them: see pyproject's testpaths).

- One lab home per test session: while a notebook's cells run, LABKIT_HOME points at a temporary
  directory (set before nbval starts the notebook's kernel, which inherits it), and so does
  LABKIT_EXERCISES_DIR (where `labs.exercise` copies exercise files). The notebooks
  run one after another and share it; each one's clean-up cell stops its lab.
- The kernel is this interpreter (``--nbval-current-env`` in pyproject's addopts), so notebooks
  import this checkout's `labs` and `orchestrator`, whatever kernelspecs the machine has.
- They run in a shuffled order, as a learner may open them (issue #14: "any notebook, in any
  order"); each notebook's cells stay in their order. The seed is printed in the report header
  and at the end: ``LABKIT_NOTEBOOK_ORDER=<seed>`` repeats an order, ``=sorted`` runs them by
  number. CI pins a seed that passed (.ci/run), so its verdict does not depend on the draw.
- Each notebook runs twice in a row (issue #14: "a learner can run any notebook twice"): Run
  All, then Kernel → Restart Kernel and Run All, as a learner does after a fix or the next day. The
  second run's cells are reported as ``Cell N (run 2)``, after a ``restart the kernel`` step.
  ``LABKIT_NOTEBOOK_TWICE=same-kernel`` runs the second time without the restart (Run All twice:
  the first run's variables and threads still there); ``=0`` runs each notebook once (a quicker
  loop). Twice needs the notebooks collected together (a command line that puts tests between
  them runs each once, shuffled).
- At the end of the session any lab still up in that home is stopped (a notebook that failed
  before its clean-up cell is stopped by the supervisor's owner watchdog already; this is the
  belt to those braces), and the home is deleted.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

_NOTEBOOKS = Path(__file__).resolve().parent
# Notebook 07's experiment size (labs/scale.py): under pytest the CI size unless asked otherwise.
os.environ.setdefault("LABKIT_NOTEBOOK_SCALE", "small")
_home: Path | None = None
_order: list[str] = []  # the notebooks in the order this session runs them
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


def _seed() -> int | None:
    """The shuffle's seed (drawn once per session), or None for the numbered order."""
    wanted = os.environ.get("LABKIT_NOTEBOOK_ORDER", "random")
    if wanted == "sorted":
        return None
    if wanted == "random":
        os.environ["LABKIT_NOTEBOOK_ORDER"] = wanted = str(random.randrange(10**6))
    try:
        return int(wanted)
    except ValueError:
        raise pytest.UsageError(f"LABKIT_NOTEBOOK_ORDER={wanted!r}: give a seed (an integer), random or sorted") from None


def pytest_configure(config: pytest.Config) -> None:
    _seed()  # drawn before pytest-xdist starts its workers: they inherit it and collect alike


def pytest_report_header(config: pytest.Config) -> str:
    seed = _seed()
    order = "numbered order" if seed is None else f"shuffled, LABKIT_NOTEBOOK_ORDER={seed}"
    runs = {"restart": "each twice, the kernel restarted between", "same-kernel": "each twice in one kernel",
            "": "each once"}[_twice()]
    return f"notebooks: {order}; {runs} (LABKIT_NOTEBOOK_TWICE)"


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: a selected cell's second run keeps its restart
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = _seed()
    slots = [i for i, item in enumerate(items) if _is_notebook_item(item)]
    notebooks: dict[str, list[pytest.Item]] = {}
    for i in slots:
        notebooks.setdefault(str(items[i].fspath), []).append(items[i])
    names = sorted(notebooks)
    if seed is not None:
        random.Random(seed).shuffle(names)
    _order[:] = [Path(name).stem for name in names]
    # The cells of one notebook stay together and in order; only whole notebooks move.
    ordered = [item for name in names for item in notebooks[name]]
    contiguous = not slots or slots == list(range(slots[0], slots[0] + len(slots)))
    if not contiguous:  # interleaved with tests: order only
        for slot, item in zip(slots, ordered, strict=True):
            items[slot] = item
        return
    if twice := _twice():
        ordered = [item for name in names for item in _run_twice(notebooks[name], restart=twice == "restart")]
    first = slots[0] if slots else len(items)
    items[first:first + len(slots)] = ordered


def _twice() -> str:
    """How the notebooks run a second time: "restart" (the default), "same-kernel", or "" (once)."""
    wanted = os.environ.get("LABKIT_NOTEBOOK_TWICE", "restart").strip().lower()
    if wanted in ("0", "no", "false", "once"):
        return ""
    if wanted in ("1", "yes", "true", "restart"):
        return "restart"
    if wanted == "same-kernel":
        return wanted
    raise pytest.UsageError(f"LABKIT_NOTEBOOK_TWICE={wanted!r}: give restart (the default), same-kernel or 0")


def _run_twice(cells: list[pytest.Item], *, restart: bool) -> list[pytest.Item]:
    """One notebook's cells, then (after a kernel restart) the same cells again as new items, so
    that a failure names the run it happened in."""
    notebook = cells[0].parent
    again: list[pytest.Item] = [_RestartKernel.from_parent(notebook, name="restart the kernel")] if restart else []
    again += [type(cell).from_parent(notebook, name=f"{cell.name} (run 2)", cell_num=cell.cell_num,  # type: ignore[attr-defined]
                                     cell=cell.cell, options=cell.options)  # type: ignore[attr-defined]
              for cell in cells]
    return [*cells, *again]


class _RestartKernel(pytest.Item):
    """Kernel → Restart Kernel between a notebook's two runs: nbval's own teardown stops the
    kernel and its setup starts a new one, with nothing of the first run in it."""

    def runtest(self) -> None:
        notebook = self.parent
        assert notebook is not None
        notebook.teardown()
        notebook.timed_out = False  # type: ignore[attr-defined]
        notebook.setup()

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.parent.name if self.parent else '?'}: restart the kernel"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _order:
        seed = os.environ.get("LABKIT_NOTEBOOK_ORDER")
        terminalreporter.write_line(f"notebooks, in the order run (LABKIT_NOTEBOOK_ORDER={seed}): "
                                    + " ".join(name.split("-", 1)[0] for name in _order))


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
