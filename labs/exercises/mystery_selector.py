"""Mystery "selector": the break-fix exercise set up by ``labs.mystery("selector", lab=lab)``.

The story, the hints and the grading are in labs/mysteries.py; the reference fix in
labs/solutions/mystery_selector.py.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register
from labs.mysteries import grade


@register("mystery-selector", title="Mystery: the fast-disk pods never start", notebook="mysteries")
def check(c: Checker, *, lab: Any, diagnosis: str = "") -> None:
    grade(c, "selector", lab=lab, diagnosis=diagnosis)
