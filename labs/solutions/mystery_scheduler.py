"""Reference fix of the mystery "scheduler" (labs/mysteries.py): the diagnosis and the fix."""

from __future__ import annotations

from typing import Any

DIAGNOSIS = "no Scheduled or FailedScheduling events: the scheduler is not running"


def fix(lab: Any) -> None:
    """`labctl start scheduler`."""
    lab.start_component("scheduler")
