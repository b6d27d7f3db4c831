"""`labctl down`: stop every process of the lab and leave no process or port behind.

Stops the watchdog first (so it restarts nothing), then what run/state.json records, last
started first; then, as a safety net for a lost or
stale state file, the embedded PostgreSQL and Redis found through their own pid files, and
any stray lab process (see `Supervisor.strays`). External servers (DATABASE_URL, REDIS_URL)
are never touched. Credentials, data and logs stay in the home: `up` resumes the same lab.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.cli.supervisor import Supervisor
from orchestrator.embedded.ports import stop_process
from orchestrator.embedded.postgres import stop_postgres
from orchestrator.embedded.redis import stop_redis
from orchestrator.labhome import LabSettings


@dataclass
class DownResult:
    stopped: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)


def down(settings: LabSettings, *, on_stop: Callable[[str], None] | None = None) -> DownResult:
    home = settings.home
    result = DownResult()
    if not home.root.exists():
        return result
    supervisor = Supervisor(home)
    with supervisor.lock():
        result.stopped = supervisor.stop_all(on_stop=on_stop)
        # The owner (a notebook kernel) was this lab's; the next `up` names its own.
        supervisor.set_owner(None)
        # Safety net: servers whose state record was lost still have their pid files.
        if stop_postgres(home):
            result.stopped.append("postgres")
        if stop_redis(home):
            result.stopped.append("redis")
        for proc in supervisor.strays():
            result.strays.append(f"pid {proc.pid} ({proc.info['name']})")
            stop_process(proc.pid, timeout=5.0)
    return result
