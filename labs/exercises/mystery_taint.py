"""Mystery "taint": the break-fix exercise set up by ``labs.mystery("taint", lab=lab)``.

The story, the hints and the grading are in labs/mysteries.py; the reference fix in
labs/solutions/mystery_taint.py.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register
from labs.mysteries import grade


@register("mystery-taint", title="Mystery: nothing runs after maintenance", notebook="mysteries")
def check(c: Checker, *, lab: Any, diagnosis: str = "") -> None:
    grade(c, "taint", lab=lab, diagnosis=diagnosis)
