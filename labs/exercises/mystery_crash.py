"""Mystery "crash": the break-fix exercise set up by ``labs.mystery("crash", lab=lab)``.

The story, the hints and the grading are in labs/mysteries.py; the reference fix in
labs/solutions/mystery_crash.py.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register
from labs.mysteries import grade


@register("mystery-crash", title="Mystery: up for a second, then down again", notebook="mysteries")
def check(c: Checker, *, lab: Any, diagnosis: str = "") -> None:
    grade(c, "crash", lab=lab, diagnosis=diagnosis)
