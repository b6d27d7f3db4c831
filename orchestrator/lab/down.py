"""`labctl down`: stop every process and pod container of the lab, leaving no process or port
behind; `labctl delete`: that, then remove the containers and the lab home.

Stops the watchdog first (so it restarts nothing), then what run/state.json records, last
started first; then, as a safety net for a lost or
stale state file, the embedded PostgreSQL and Redis found through their own pid files, and
any stray lab process (see `Supervisor.strays`); then the pods' Docker containers
(orchestrator/lab/containers.py), like ``minikube stop``: the next `up` starts them again as
their pods' restartPolicy says. External servers (DATABASE_URL, REDIS_URL) are never touched.
Credentials, data and logs stay in the home: `up` resumes the same lab. `delete` removes it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.lab.containers import remove_lab_containers, stop_lab_containers
from orchestrator.lab.embedded.ports import stop_process
from orchestrator.lab.embedded.postgres import stop_postgres
from orchestrator.lab.embedded.redis import stop_redis
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.supervisor import Supervisor, SupervisorError


@dataclass
class DownResult:
    stopped: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)  # <namespace>/<pod>/<container>


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
        # After the node agents: none of them may start a container again.
        result.containers = [c.name for c in stop_lab_containers(home)]
    return result


@dataclass
class DeleteResult:
    down: DownResult
    containers: list[str]
    home: str


def delete(settings: LabSettings, *, on_stop: Callable[[str], None] | None = None) -> DeleteResult:
    """`down`, then remove the lab's containers and its home (data, credentials, logs)."""
    home = settings.home
    if home.root.exists() and not _is_lab_home(home):
        raise SupervisorError(f"{home.root} does not look like a lab home (no pki/, tokens.csv or run/): "
                       "refusing to delete it; check LABKIT_HOME")
    stopped = down(settings, on_stop=on_stop)
    containers = [c.name for c in remove_lab_containers(home)]
    removed = ""
    if home.root.exists():
        shutil.rmtree(home.root)
        removed = str(home.root)
    return DeleteResult(stopped, containers, removed)


def _is_lab_home(home: LabHome) -> bool:
    return any((home.root / marker).exists() for marker in ("pki", "tokens.csv", "run", "postgres", "redis"))
