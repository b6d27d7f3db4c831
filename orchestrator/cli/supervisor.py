"""A small supervisor: the lab's components as detached OS processes, remembered in run/state.json.

`labctl up` and `labctl down` are different, short-lived processes, so everything the
supervisor knows lives in `<home>/run/state.json`:

    {"components": [ {name, pid, create_time, address, log_file, started_at, health,
                      stop_signal, external}, ... ],   # in start order
     "lab": {...}}                                       # what `up` wants to remember (ports, nodes)

Contract:
- `start(spec)` starts `spec.argv` in its own session (output appended to logs/<name>.log),
  records it at once (so `down` can stop it even if `up` is interrupted), then waits until
  it is healthy. A component already running is left alone. A component whose process dies
  or stays unhealthy fails with an error naming it, its log file and the log's last lines.
- `adopt(server)` records a process someone else started (the embedded PostgreSQL and
  Redis start themselves) or an external server (no pid: never stopped).
- `stop_all()` stops components in reverse start order: the component's stop signal, a
  grace period, then SIGKILL to its process group; then checks their ports are free.
- A recorded pid counts as "our process" only if its start time matches the record, so a
  pid reused by an unrelated process after a reboot is never signalled.
- Callers hold `lock()` around a whole verb, so two `labctl up` never interleave.

Adding a component to the lab is one `ComponentSpec(...)` line in orchestrator/cli/up.py.

Kubernetes equivalent: none in the product; plays the part of kubelet's static pods on a
kubeadm control-plane node (pkg/kubelet/config/file.go).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from orchestrator.embedded.ports import (
    RunningServer,
    can_connect,
    create_time,
    pid_alive,
    port_holder,
    port_is_free,
    spawn_detached,
    stop_process,
    wait_port_free,
    with_log,
)
from orchestrator.labhome import LabHome

# A health check: a callable answering "healthy?", an http(s) URL that must answer 2xx,
# or None (healthy = the process runs and, if it has an address, accepts TCP connections).
HealthCheck = Callable[[], bool] | str | None
_SETTLE_SECONDS = 1.0


class SupervisorError(Exception):
    """A component could not be started, checked or stopped; the message says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ComponentSpec:
    """How to run one component of the lab."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    health: HealthCheck = None
    depends_on: Sequence[str] = ()
    # host:port the component serves on: shown by `status`, must be free to start, checked
    # free again after stopping.
    address: str = ""
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0


@dataclass
class ComponentRecord:
    """One entry of run/state.json: a process the lab runs (or an external server, pid None)."""

    name: str
    pid: int | None
    address: str
    log_file: str | None
    started_at: float
    create_time: float | None = None
    # A URL (http/https) or tcp://host:port that `status` probes; None: process liveness only.
    health: str | None = None
    stop_signal: str = "SIGTERM"
    external: bool = False

    @property
    def port(self) -> int | None:
        _, _, port = self.address.rpartition(":")
        return int(port) if port.isdigit() else None


@dataclass(frozen=True)
class StatusRow:
    """What `labctl status` shows for one component."""

    name: str
    pid: int | None
    address: str
    running: bool
    healthy: bool
    external: bool
    started_at: float
    log_file: str | None


class Supervisor:
    """Starts, records, checks and stops the lab's components (see the module docstring)."""

    def __init__(self, home: LabHome) -> None:
        self.home = home
        self._ssl: ssl.SSLContext | None = None

    # --- state ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the lab's lock file (blocks while another labctl changes the lab)."""
        self.home.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.home.run_dir / "labctl.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.home.state_file.read_text())
        except FileNotFoundError:
            return {"components": [], "lab": {}}
        except json.JSONDecodeError as err:
            raise SupervisorError(
                f"{self.home.state_file} is corrupt ({err}): stop stray processes and delete the file"
            ) from err
        state.setdefault("components", [])
        state.setdefault("lab", {})
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self.home.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.home.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.home.state_file)  # atomic: a crash never leaves half a state file

    def records(self) -> list[ComponentRecord]:
        return [ComponentRecord(**r) for r in self._load()["components"]]

    def _put(self, record: ComponentRecord) -> None:
        state = self._load()
        others = [r for r in state["components"] if r["name"] != record.name]
        # Keep start order: a restarted component keeps its place.
        names = [r["name"] for r in state["components"]]
        if record.name in names:
            others.insert(names.index(record.name), asdict(record))
            state["components"] = others
        else:
            state["components"] = [*others, asdict(record)]
        self._save(state)

    def _drop(self, name: str) -> None:
        state = self._load()
        state["components"] = [r for r in state["components"] if r["name"] != name]
        self._save(state)

    @property
    def lab(self) -> dict[str, Any]:
        """What `up` remembered about the lab (ports, nodes, runtime)."""
        return dict(self._load()["lab"])

    def remember(self, **values: Any) -> None:
        state = self._load()
        state["lab"].update(values)
        self._save(state)

    def record(self, name: str) -> ComponentRecord | None:
        return next((r for r in self.records() if r.name == name), None)

    def is_running(self, name: str) -> bool:
        record = self.record(name)
        return record is not None and (record.external or self._alive(record))

    # --- start ------------------------------------------------------------------------------

    def start(self, spec: ComponentSpec) -> tuple[ComponentRecord, bool]:
        """Start `spec` unless it runs; wait until healthy. Returns (record, started_now)."""
        existing = self.record(spec.name)
        if existing is not None and self._alive(existing):
            return existing, False
        for dep in spec.depends_on:
            if not self.is_running(dep):
                raise SupervisorError(f"cannot start {spec.name}: it needs {dep}, which is not running")
        port = _port_of(spec.address)
        if port is not None and not port_is_free(port):
            raise SupervisorError(
                f"cannot start {spec.name}: port {spec.address} is already in use by {port_holder(port)}; "
                "stop that process or choose another port"
            )
        log_file = self.home.log_file(spec.name)
        pid = spawn_detached(spec.argv, log_file=log_file, env={**os.environ, **spec.env})
        record = ComponentRecord(
            name=spec.name,
            pid=pid,
            address=spec.address,
            log_file=str(log_file),
            started_at=time.time(),
            create_time=create_time(pid),
            health=spec.health if isinstance(spec.health, str) else _tcp_url(spec.address),
            stop_signal=signal.Signals(spec.stop_signal).name,
        )
        self._put(record)
        try:
            self._wait_healthy(spec, record)
        except BaseException:
            self._stop(record, timeout=5.0)
            self._drop(spec.name)
            raise
        return record, True

    def adopt(self, server: RunningServer, *, stop_signal: int = signal.SIGTERM) -> ComponentRecord:
        """Record a server started elsewhere (or an external one, which is never stopped)."""
        record = ComponentRecord(
            name=server.name,
            pid=server.pid,
            address=server.address,
            log_file=str(server.log_file) if server.log_file else None,
            started_at=time.time(),
            create_time=create_time(server.pid) if server.pid else None,
            health=_tcp_url(server.address),
            stop_signal=signal.Signals(stop_signal).name,
            external=server.external,
        )
        existing = self.record(server.name)
        if existing is not None and existing.pid == record.pid and existing.create_time == record.create_time:
            return existing  # the same process: keep its original start time
        self._put(record)
        return record

    def _wait_healthy(self, spec: ComponentSpec, record: ComponentRecord) -> None:
        log_file = Path(record.log_file) if record.log_file else None
        started = time.monotonic()
        deadline = started + spec.start_timeout
        # With nothing to probe, "healthy" can only mean "still running a moment later":
        # a process that dies on a bad flag must not count as started.
        settle = _SETTLE_SECONDS if spec.health is None and _port_of(spec.address) is None else 0.0
        while True:
            if not pid_alive(record.pid):
                raise SupervisorError(with_log(f"{spec.name} exited while starting", log_file))
            settled = time.monotonic() - started >= settle
            if settled and self._healthy(spec.health, address=spec.address, pid=record.pid):
                return
            if time.monotonic() > deadline:
                raise SupervisorError(
                    with_log(f"{spec.name} did not become healthy within {spec.start_timeout:.0f}s", log_file)
                )
            time.sleep(0.1)

    # --- stop -------------------------------------------------------------------------------

    def stop_all(self, *, timeout: float = 15.0, on_stop: Callable[[str], None] | None = None) -> list[str]:
        """Stop every recorded component, last started first; return the names stopped."""
        stopped: list[str] = []
        busy: list[str] = []
        for record in reversed(self.records()):
            if record.external:
                self._drop(record.name)
                continue
            if self._alive(record):
                self._stop(record, timeout=timeout)
                stopped.append(record.name)
                if on_stop is not None:
                    on_stop(record.name)
            port = record.port
            if port is not None and not wait_port_free(port, timeout=5.0):
                busy.append(f"{record.name} port {record.address} (held by {port_holder(port)})")
            self._drop(record.name)
        if busy:
            raise SupervisorError("stopped the lab, but ports are still in use: " + "; ".join(busy))
        return stopped

    def _stop(self, record: ComponentRecord, *, timeout: float) -> None:
        if record.pid is None or not self._alive(record):
            return
        stop_process(record.pid, sig=signal.Signals[record.stop_signal], timeout=timeout)

    def strays(self) -> list[psutil.Process]:
        """Lab processes not in the state file (e.g. after the state file was deleted).

        Recognised by program and command line: postgres/redis-server/orchestrator modules
        whose command line mentions this lab home.
        """
        root = str(self.home.root)
        mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        found = []
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["pid"] in mine or not any(root in part for part in cmdline):
                continue
            is_ours = proc.info["name"] in ("postgres", "redis-server") or any(
                part.startswith("orchestrator.") for part in cmdline
            )
            if is_ours and pid_alive(proc.info["pid"]):
                found.append(proc)
        return found

    # --- status -----------------------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        rows = []
        for record in self.records():
            running = record.external or self._alive(record)
            healthy = running and self._healthy(record.health, address=record.address, pid=record.pid)
            rows.append(
                StatusRow(
                    name=record.name,
                    pid=record.pid,
                    address=record.address,
                    running=running,
                    healthy=healthy,
                    external=record.external,
                    started_at=record.started_at,
                    log_file=record.log_file,
                )
            )
        return rows

    # --- probes -----------------------------------------------------------------------------

    def _alive(self, record: ComponentRecord) -> bool:
        if record.pid is None or not pid_alive(record.pid):
            return False
        # Same pid, different start time: the pid was reused, our process is gone.
        now = create_time(record.pid)
        return record.create_time is None or (now is not None and abs(now - record.create_time) < 1.0)

    def _healthy(self, health: HealthCheck, *, address: str, pid: int | None) -> bool:
        if callable(health):
            try:
                return bool(health())
            except Exception:  # a probe that raises means "not healthy yet"
                return False
        if isinstance(health, str) and health.startswith(("http://", "https://")):
            try:
                response = httpx.get(health, verify=self._ssl_context(), timeout=2.0)
            except httpx.HTTPError:
                return False
            return response.is_success
        url = health if isinstance(health, str) else _tcp_url(address)
        if url:
            host, _, port = url.removeprefix("tcp://").rpartition(":")
            return can_connect(host, int(port), timeout=1.0) is None
        return pid is None or pid_alive(pid)

    def _ssl_context(self) -> ssl.SSLContext | bool:
        # Components serve certificates from the lab CA; trust exactly that CA.
        if self._ssl is None and self.home.ca_cert.exists():
            self._ssl = ssl.create_default_context(cafile=str(self.home.ca_cert))
        return self._ssl if self._ssl is not None else True


def _port_of(address: str) -> int | None:
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else None


def _tcp_url(address: str) -> str | None:
    return f"tcp://{address}" if _port_of(address) is not None else None


def recorded_address(component: str) -> str | None:
    """Where the lab in $LABKIT_HOME runs ``component`` (host:port), if it runs one; the CLI's
    gRPC commands use it so that `labctl scheduler ...` finds the lab's scheduler by itself."""
    from orchestrator.labhome import LabSettings

    try:
        record = Supervisor(LabSettings.from_env().home).record(component)
    except Exception:  # no readable lab home here: the caller falls back to its default
        return None
    return record.address if record is not None and record.address else None
