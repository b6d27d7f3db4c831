"""Mystery "scheduler": the break-fix exercise set up by ``labs.mystery("scheduler", lab=lab)``.

The story, the hints and the grading are in labs/mysteries.py; the reference fix in
labs/solutions/mystery_scheduler.py.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register
from labs.mysteries import grade


@register("mystery-scheduler", title="Mystery: Pending, and not a word why", notebook="mysteries")
def check(c: Checker, *, lab: Any, diagnosis: str = "") -> None:
    grade(c, "scheduler", lab=lab, diagnosis=diagnosis)
