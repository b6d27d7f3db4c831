"""`Table`: rows (a list of dicts) that render as an HTML table in Jupyter and as text elsewhere.

Inspectors return Tables so a cell shows the rows nicely *and* a checkpoint can assert on them
like any list: ``assert rows[0]["revision"] == 42``. ``rows.column("revision")`` picks a column.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_CELL_CHARS = 80  # longer values are shortened in the rendering, never in the data


class Table(list[dict[str, Any]]):
    """A list of row dicts, with a title and a column order, rendered for people."""

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]] = (),
        *,
        title: str = "",
        columns: Sequence[str] | None = None,
    ) -> None:
        super().__init__(dict(row) for row in rows)
        self.title = title
        if columns is None:
            seen: dict[str, None] = {}
            for row in self:
                seen.update(dict.fromkeys(row))
            columns = list(seen)
        self.columns: list[str] = list(columns)

    def column(self, name: str) -> list[Any]:
        """The values of one column, in row order."""
        return [row.get(name) for row in self]

    def _cells(self) -> list[list[str]]:
        return [[_show(row.get(col)) for col in self.columns] for row in self]

    def __repr__(self) -> str:
        cells = self._cells()
        widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(col.upper().ljust(w) for col, w in zip(self.columns, widths, strict=True)).rstrip())
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
        if not self:
            lines.append("(no rows)")
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(c)}</code></td>" for c in r) + "</tr>"
            for r in self._cells()
        )
        if not self:
            body = f"<tr><td colspan='{max(len(self.columns), 1)}'><i>(no rows)</i></td></tr>"
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        return f"<table class='labkit-table'>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"
