"""How the everyday verbs print: server-printed Tables as rich tables, objects as YAML or JSON.

`labctl get` does what `kubectl get` does: it asks the API server for a ``meta.k8s.io/v1``
Table (the column logic — READY ``1/1``, STATUS ``ContainerCreating``, AGE ``3m10s`` — lives
once, server-side, in `orchestrator.api.printing`), then chooses columns and lays them out:

- the columns with ``priority`` 0, plus the others with ``-o wide``;
- headers upper-cased as kubectl does (``Up-to-date`` -> ``UP-TO-DATE``, ``Last Seen`` -> ``LAST SEEN``);
- with ``-A``, a NAMESPACE column first, read from each row's object metadata;
- three spaces between columns, no box: output stays greppable and `cut`-able.

`-w` prints one more line per watch event, padded to the widths of the first table, so the
columns stay aligned while the stream runs.

The output console is as wide as the terminal (``COLUMNS`` wins); when stdout is not a terminal
and ``COLUMNS`` is unset, lines are never wrapped, so scripts see one object per line.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestrator.api.resources import ResourceInfo

GAP = 3  # spaces between columns, as kubectl's tabwriter
OUTPUTS = ("table", "wide", "yaml", "json", "name")

_GOOD = {"Running", "Ready", "Active", "Completed", "Succeeded", "True", "Normal"}
_PENDING = {"Pending", "ContainerCreating", "PodInitializing", "Terminating", "Unknown", "Warning"}
_STYLED_COLUMNS = {"STATUS", "TYPE"}


def console() -> Console:
    """stdout: the terminal's width, COLUMNS if set; unwrapped when piped."""
    unwrapped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(highlight=False, soft_wrap=False, width=100_000 if unwrapped else None)


def header(name: str) -> str:
    """kubectl's header: the column name upper-cased (``Nominated Node`` -> ``NOMINATED NODE``)."""
    return name.upper()


@dataclass(frozen=True)
class Columns:
    """Which cells of a Table's rows are shown, and under what headers."""

    indexes: tuple[int, ...]
    headers: tuple[str, ...]
    namespace: bool  # a NAMESPACE column first (-A)

    @property
    def all_headers(self) -> tuple[str, ...]:
        return (("NAMESPACE",) if self.namespace else ()) + self.headers


def choose_columns(definitions: list[dict[str, Any]], *, wide: bool, namespace: bool) -> Columns:
    """The priority-0 columns (all of them with ``wide``), in the server's order."""
    indexes = tuple(i for i, c in enumerate(definitions) if wide or int(c.get("priority") or 0) == 0)
    return Columns(indexes, tuple(header(definitions[i].get("name", "")) for i in indexes), namespace)


def cell_text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def row_cells(row: dict[str, Any], columns: Columns, *, prefix: str = "") -> list[str]:
    """The shown cells of one Table row; `prefix` (``pod/``) goes before the name when several types print."""
    cells = row.get("cells") or []
    shown = [cell_text(cells[i]) if i < len(cells) else "" for i in columns.indexes]
    if prefix and shown:
        shown[0] = prefix + shown[0]
    if columns.namespace:
        meta = (row.get("object") or {}).get("metadata") or {}
        shown.insert(0, meta.get("namespace") or "")
    return shown


def _style(header_name: str, value: str) -> str:
    if header_name not in _STYLED_COLUMNS:
        return ""
    if value in _GOOD:
        return "green"
    if value in _PENDING or value.startswith("Init:"):
        return "yellow"
    if value and value[0].isupper() and value not in _GOOD:
        return "red"
    return ""


def rich_table(rows: list[list[str]], columns: Columns) -> Table:
    """Rows under their headers: no box, GAP spaces apart, only the last column wrapped."""
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, GAP, 0, 0), show_edge=False)
    last = len(columns.all_headers) - 1
    for position, name in enumerate(columns.all_headers):
        # Only the last column (a MESSAGE, IMAGES) wraps in a narrow terminal: names stay whole.
        table.add_column(name, no_wrap=position != last, overflow="fold")
    headers = columns.all_headers
    for cells in rows:
        table.add_row(*(Text(value, style=_style(headers[i], value)) for i, value in enumerate(cells)))
    return table


def fitted_width(rows: list[list[str]], columns: Columns, available: int) -> int:
    """The width to lay the table out in: the terminal's, unless even with the last column
    wrapped to 20 characters it would not fit — then the table's natural width, and the terminal
    wraps lines (kubectl never cuts a name)."""
    column_widths = widths(rows, columns)
    natural = sum(column_widths) + GAP * (len(column_widths) - 1)
    if natural <= available:
        return available
    fixed = natural - column_widths[-1] + min(column_widths[-1], 20)
    return available if fixed <= available else natural


def print_table(out: Console, rows: list[list[str]], columns: Columns) -> None:
    """Print rows as a table line by line, without the padding rich leaves after the last
    column, so lines end where their text ends (``grep 'Running$'`` works)."""
    options = out.options.update(width=fitted_width(rows, columns, out.width))
    for line in out.render_lines(rich_table(rows, columns), options, pad=False):
        text = Text.assemble(*((segment.text, segment.style or "") for segment in line if not segment.control))
        text.rstrip()
        out.print(text, soft_wrap=True)


def widths(rows: list[list[str]], columns: Columns) -> list[int]:
    """Each column's width in the first table: what later watch lines are padded to."""
    result = [len(h) for h in columns.all_headers]
    for cells in rows:
        for i, value in enumerate(cells):
            result[i] = max(result[i], len(value))
    return result


def aligned_line(cells: list[str], column_widths: list[int]) -> str:
    """One watch line, padded like the table above it (a longer cell just pushes the rest right)."""
    parts = [value.ljust(column_widths[i]) if i < len(column_widths) else value
             for i, value in enumerate(cells[:-1])]
    return (" " * GAP).join([*parts, cells[-1] if cells else ""]).rstrip()


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Several objects as kubectl prints them with -o yaml/json: a ``v1`` List."""
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def with_type(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """Items of a list may lack kind/apiVersion; printed alone, an object says what it is."""
    if "kind" in obj and "apiVersion" in obj:
        return obj
    return {"apiVersion": info.api_version, "kind": info.kind, **obj}


def dump(obj: dict[str, Any], output: str, *, show_managed_fields: bool = False) -> str:
    """The object as YAML or indented JSON, keys sorted as kubectl prints them; like kubectl,
    without metadata.managedFields unless asked (they are long and rarely what one looks for)."""
    if not show_managed_fields:
        obj = without_managed_fields(obj)
    if output == "json":
        return json.dumps(obj, indent=4, ensure_ascii=False, sort_keys=True)
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True).rstrip("\n")


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of `obj` (and of a List's items) without metadata.managedFields."""
    if isinstance(obj.get("items"), list):
        return {**obj, "items": [without_managed_fields(item) for item in obj["items"]]}
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def object_name(info: ResourceInfo, obj: dict[str, Any]) -> str:
    """``-o name``: ``pod/web-1``, ``deployment.apps/web``."""
    kind = f"{info.kind.lower()}.{info.group}" if info.group else info.kind.lower()
    return f"{kind}/{(obj.get('metadata') or {}).get('name', '')}"
