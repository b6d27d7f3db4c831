"""Reference fix of the mystery "taint" (labs/mysteries.py): the diagnosis and the fix."""

from __future__ import annotations

from typing import Any

from labs.mysteries import TAINT_KEY

DIAGNOSIS = ("FailedScheduling says every node has the untolerated taint mystery.labkit.io/maintenance; "
             "maintenance is over, so the taint comes off")


def fix(lab: Any) -> None:
    """`kubectl taint nodes --all mystery.labkit.io/maintenance-`."""
    lab.kubectl("taint", "nodes", "--all", f"{TAINT_KEY}-")
