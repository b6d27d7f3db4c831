"""The notebooks quote their learners' time from labs/INSTRUCTOR.md, the one place for timings.

Each notebook's first cell says "Time: about N minutes"; the table "The notebooks" of
INSTRUCTOR.md has the same N for that notebook. A change to one without the other fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]*-*.ipynb"))  # 00, 00b, 01, ...


def _number(path: Path) -> str:
    return path.name.split("-", 1)[0]


def _table() -> dict[str, int]:
    text = (REPO / "labs" / "INSTRUCTOR.md").read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| (\d\d[a-z]?) \| [^|]+ \| (\d+) min \|", text, re.M)}


def test_the_instructor_table_has_every_notebook() -> None:
    assert sorted(_table()) == [_number(p) for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_number)
def test_a_notebook_quotes_its_time_from_the_instructor_table(path: Path) -> None:
    first = nbformat.read(path, as_version=4).cells[0].source
    found = re.search(r"Time: about (\d+) minutes", first)
    assert found, f"{path.name}: the first cell should say 'Time: about N minutes' (from labs/INSTRUCTOR.md)"
    assert int(found.group(1)) == _table()[_number(path)], (
        f"{path.name} says {found.group(1)} minutes, labs/INSTRUCTOR.md says {_table()[_number(path)]}"
    )
    assert "labs/INSTRUCTOR.md" in first, f"{path.name}: point to the timings table in labs/INSTRUCTOR.md"
