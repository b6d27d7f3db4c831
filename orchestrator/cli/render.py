"""Everything labctl prints: the status table, progress lines, errors. One place for output.

Commands compute values; this module turns them into rich renderables, so the same
rows can be shown in a terminal or in a notebook.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

from orchestrator.cli.supervisor import StatusRow
from orchestrator.cli.up import Outcome

_OUTCOME_STYLE: dict[str, tuple[str, str]] = {
    "started": ("✓", "green"),
    "running": ("•", "cyan"),
    "external": ("↗", "cyan"),
    "skipped": ("–", "dim"),
}


def status_table(rows: list[StatusRow], *, now: float | None = None) -> Table:
    """COMPONENT PID ADDRESS HEALTHY AGE, one row per component."""
    now = time.time() if now is None else now
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("COMPONENT", "PID", "ADDRESS", "HEALTHY", "AGE"):
        table.add_column(column)
    for row in rows:
        if not row.running:
            healthy = Text("not running", style="red")
        elif row.healthy:
            healthy = Text("yes", style="green")
        else:
            healthy = Text("no", style="red")
        table.add_row(
            row.name,
            "external" if row.external else str(row.pid),
            row.address or "-",
            healthy,
            human_duration(now - row.started_at) if row.running and not row.external else "-",
        )
    return table


def human_duration(seconds: float) -> str:
    """kubectl's AGE column style: 42s, 5m, 3h, 2d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def error(console: Console, message: str) -> None:
    """The error's first line in red; any following lines (a log tail) dimmed below it."""
    first, _, rest = message.partition("\n")
    console.print(Text(f"error: {first}", style="bold red"), soft_wrap=True)
    if rest:
        console.print(Text(rest, style="dim"), soft_wrap=True)


class RichProgress:
    """Renders `up` progress: a spinner while a component starts, then one line for it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None

    def starting(self, name: str) -> None:
        self._stop_spinner()
        self._status = self.console.status(f"starting {name}…")
        self._status.start()

    def done(self, name: str, outcome: Outcome, detail: str) -> None:
        self._stop_spinner()
        mark, style = _OUTCOME_STYLE[outcome]
        line = Text(f"{mark} ", style=style)
        line.append(f"{name:<20}", style="bold")
        line.append(f"{outcome:<9}", style=style)
        line.append(detail)
        self.console.print(line, soft_wrap=True)

    def note(self, message: str) -> None:
        self._stop_spinner()
        self.console.print(Text(f"! {message}", style="yellow"), soft_wrap=True)

    def close(self) -> None:
        self._stop_spinner()

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
