"""The teaching layer: what the notebooks in notebooks/ call to run and look inside a lab cluster.

    import labs
    lab = labs.start(nodes=2)             # labctl up, from a notebook; cleaned up when the kernel exits
    lab = labs.connect(kubeconfig="student-07.kubeconfig")   # or a classroom lab someone else runs
    lab.kubectl("get", "pods")           # the real kubectl, the lab's kubeconfig
    labs.inspect.rows(lab, "pods")       # PostgreSQL rows, read-only
    labs.wait_for(lambda: ..., what="the pod to be Running")
    labs.exercise("scheduler_plugin")    # copy an exercise file next to the notebook, to edit
    labs.check("scheduler-plugin")       # an exercise's automatic check (recorded for labs.progress())
    labs.progress()                      # which checks this learner has passed, per notebook
    labs.mystery("taint", lab=lab)       # a break-fix mystery; labs.hint("mystery-taint"), labs.check(...)
    lab.stop()

Modules: `lab` (start, Lab), `waiting` (wait_for, wait_for_pods), `inspect` (PostgreSQL and Redis
read-only), `table` (Table), `checks` (exercise checks), `widgets` (live ipywidgets views),
`plots` (matplotlib), `watching` (watches, list+watch in a thread); per lesson: `nodes`, `scheduling`,
`containers`, `rollouts`, `failures`, `scale`, `timetravel`, `apimachinery`, `grading` and `podset`
(imported by the notebook that uses them).
`widgets` and `plots` are imported on first use: they pull in Jupyter.
The API is documented in labs/README.md. Notebooks hold no logic of their own: it lives here.
"""

from __future__ import annotations

from typing import Any

from labs import inspect
from labs.checks import CheckResult, check
from labs.connect import ConnectedLab, connect
from labs.errors import LabError, LabTimeout
from labs.exercises import exercise
from labs.lab import Lab, start
from labs.mysteries import hint, mystery
from labs.progress import progress
from labs.table import Table
from labs.waiting import wait_for, wait_for_pods

__all__ = [
    "CheckResult",
    "ConnectedLab",
    "Lab",
    "LabError",
    "LabTimeout",
    "Table",
    "check",
    "connect",
    "exercise",
    "hint",
    "inspect",
    "mystery",
    "plots",
    "progress",
    "start",
    "wait_for",
    "wait_for_pods",
    "widgets",
]


def __getattr__(name: str) -> Any:
    # widgets and plots import ipywidgets/matplotlib: only when a notebook asks for them.
    if name in ("widgets", "plots"):
        import importlib

        return importlib.import_module(f"labs.{name}")
    raise AttributeError(f"module 'labs' has no attribute {name!r}")
