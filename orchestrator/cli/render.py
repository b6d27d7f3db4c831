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

from orchestrator.lab.supervisor import StatusRow, WatchdogStatus
from orchestrator.lab.up import Outcome

_OUTCOME_STYLE: dict[str, tuple[str, str]] = {
    "started": ("✓", "green"),
    "running": ("•", "cyan"),
    "external": ("↗", "cyan"),
    "skipped": ("–", "dim"),
}


_STATE_STYLE: dict[str, str] = {
    "healthy": "green",
    "running": "yellow",
    "back-off": "yellow",
    "stopped by user": "cyan",
    "exited": "red",
    "external": "green",
    "unreachable": "red",
}


def status_table(rows: list[StatusRow], *, now: float | None = None) -> Table:
    """COMPONENT STATE RESTARTS PID ADDRESS AGE LAST-EXIT, one row per component.

    STATE is one of: healthy; running (started, not answering its health check yet);
    restarting in 4s (back-off); stopped by user (`labctl stop`); exited (dead, and no
    watchdog will restart it: run `labctl up` or `labctl start NAME`); external / unreachable.
    """
    now = time.time() if now is None else now
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("COMPONENT", "STATE", "RESTARTS", "PID", "ADDRESS", "AGE", "LAST-EXIT"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            Text(state_text(row, now=now), style=_STATE_STYLE.get(row.state, "")),
            "-" if row.external else str(row.restarts),
            "-" if row.external or not row.running else str(row.pid),
            row.address or "-",
            human_duration(now - row.started_at) if row.running and not row.external else "-",
            f"{row.last_exit} ({human_duration(now - row.last_exit_at)} ago)"
            if row.last_exit and row.last_exit_at
            else "-",
        )
    return table


def state_text(row: StatusRow, *, now: float) -> str:
    if row.state == "back-off" and row.backoff_until is not None:
        wait = row.backoff_until - now
        return f"restarting in {wait:.0f}s (back-off)" if wait >= 0.5 else "restarting"
    return row.state


def watchdog_line(status: WatchdogStatus) -> Text:
    """One line below the status table: who restarts crashed components, and who owns the lab."""
    if status.running:
        line = Text(f"watchdog pid {status.pid}: restarts crashed components with back-off", style="dim")
    else:
        line = Text("watchdog not running: crashed components stay down; run `labctl up` to start it",
                    style="yellow")
    if status.owner_pid is not None:
        line.append(f"; the lab stops when process {status.owner_pid} ends", style="dim")
    return line


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


class _Starting:
    """The spinner's text: which component is starting and for how long, redrawn on each refresh."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.t0 = time.monotonic()

    def __rich__(self) -> Text:
        text = Text(f"starting {self.name}… ")
        text.append(f"{time.monotonic() - self.t0:.1f}s", style="dim")
        return text


class RichProgress:
    """Renders `up` progress: a spinner with the elapsed time while a component starts, then
    one line for it (in a terminal; elsewhere, e.g. a captured run, just the lines)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None

    def starting(self, name: str) -> None:
        self._stop_spinner()
        self._status = self.console.status(_Starting(name))
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
