"""The notebooks' exercises, one module each, named as their check (``predict-revision`` →
``predict_revision.py``). Each module registers its check with `labs.checks.register`;
`labs.check(name)` imports the module on first use. Reference solutions live apart, in
`labs.solutions` (instructors: see labs/INSTRUCTOR.md).

Exercises in which the learner edits a file (``scheduler_plugin``) are copied first, with
`labs.exercise(name)`, into the notebook's folder as ``my_<name>.py``: the learner's own copy,
which JupyterLab (rooted at notebooks/) can open, which git ignores, and which the check grades.
The stub in this package stays as shipped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_HERE = Path(__file__).resolve().parent
EDITABLE = ("scheduler_plugin", "replicaset_controller", "pod_scheduler")


def copy_name(name: str) -> str:
    """The module name of the learner's copy of exercise ``name``: ``my_<name>``."""
    return "my_" + name.replace("-", "_")


def _folder(directory: Path | str | None) -> Path:
    # $LABKIT_EXERCISES_DIR: where test runs of the notebooks keep their copies (not in the checkout).
    return Path(directory or os.environ.get("LABKIT_EXERCISES_DIR") or os.getcwd())


def learner_copy(name: str, directory: Path | str | None = None) -> Path | None:
    """The learner's copy of exercise ``name`` in ``directory`` (default: the current one), if made."""
    path = _folder(directory) / f"{copy_name(name)}.py"
    return path if path.is_file() else None


def exercise(name: str, *, directory: Path | str | None = None) -> Path:
    """Copy the stub of exercise ``name`` next to the notebook (``my_<name>.py``); return its path.

    An existing copy is kept as it is: it holds the learner's work. Delete it to start over.
    """
    module = name.replace("-", "_")
    if module not in EDITABLE:
        raise ValueError(f"no exercise file called {name!r}; the exercises with a file to edit: {', '.join(EDITABLE)}")
    target = _folder(directory) / f"{copy_name(name)}.py"
    if target.exists():
        print(f"your copy is {target.name} (kept as you left it; delete it to start over from the stub)")
    else:
        shutil.copyfile(_HERE / f"{module}.py", target)
        print(f"copied the exercise to {target.name}: open it in JupyterLab's file browser (next to this notebook)")
    return target
