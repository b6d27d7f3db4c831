"""A small supervisor: the lab's components as detached OS processes, remembered in run/state.json.

`labctl up`, `labctl down`, `labctl stop/start` and the watchdog are different processes, so
everything the supervisor knows lives in `<home>/run/state.json`:

    {"components": [ {name, kind, pid, create_time, address, log_file, started_at, health,
                      stop_signal, argv, env, depends_on, start_timeout,       # how to run it again
                      restarts, last_exit, last_exit_at, backoff, backoff_until,
                      stopped_by_user}, ... ],                                  # in start order
     "watchdog": {pid, create_time, started_at, log_file} | null,
     "lab": {...}}                # what `up` remembers (ports, nodes, runtime, owner)

A component's `kind` is "process" (started from its recorded argv), "embedded" (the lab's
PostgreSQL or Redis: started again through start_postgres/start_redis on the same port) or
"external" (DATABASE_URL / REDIS_URL: never started, stopped or restarted).

Contract:
- `start(spec)` starts `spec.argv` in its own session (output appended to logs/<name>.log),
  records it at once (so `down` can stop it even if `up` is interrupted), then waits until
  it is healthy. A component already running is left alone. A component whose process dies
  or stays unhealthy fails with an error naming it, its log file and the log's last lines.
- `adopt(server)` records a process someone else started (the embedded PostgreSQL and
  Redis start themselves) or an external server (no pid: never stopped).
- `stop_component(name)` / `start_component(name)`: the Python API behind `labctl stop` and
  `labctl start`, for notebooks too. `stop_component` marks the component "stopped by user"
  (the watchdog leaves it stopped, as a failure lab wants) and stops it; `start_component`
  clears the mark and starts it again from its record, waiting until it is healthy. Both
  take the lock themselves; an unknown name raises a SupervisorError listing the known ones.
- `respawn(record)` starts a dead component again from its record without waiting (the
  watchdog's restart, orchestrator/lab/watchdog.py, which also owns the back-off policy).
- `stop_all()` stops the watchdog first (so nothing is restarted behind our back), then
  components in reverse start order: the component's stop signal, a grace period, then
  SIGKILL to its process group; then checks their ports are free.
- A recorded pid counts as "our process" only if its start time matches the record, so a
  pid reused by an unrelated process after a reboot is never signalled.
- Callers hold `lock()` around a whole verb, so two `labctl up` never interleave; the lock is
  re-entrant within one Supervisor object. The watchdog only ever takes it with `try_lock()`,
  so it never waits behind a verb and never acts in the middle of one.

Adding a component to the lab is one `ComponentSpec(...)` line in orchestrator/lab/up.py.

Kubernetes equivalent: none in the product; plays the part of kubelet's static pods on a
kubeadm control-plane node (pkg/kubelet/config/file.go).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil

from orchestrator.lab.embedded.ports import (
    EmbeddedServerError,
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
from orchestrator.lab.home import LabHome

# A health check: a callable answering "healthy?", an http(s) URL that must answer 2xx,
# or None (healthy = the process runs and, if it has an address, accepts TCP connections).
HealthCheck = Callable[[], bool] | str | None
Kind = Literal["process", "embedded", "external"]
# What `status` says about a component; render.py turns "back-off" into "restarting in 3s (back-off)".
ComponentState = Literal["healthy", "running", "back-off", "stopped by user", "exited", "external", "unreachable"]
_SETTLE_SECONDS = 1.0
WATCHDOG_MODULE = "orchestrator.lab.watchdog"


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
    kind: Kind = "process"
    # How to run it again (kind "process"): the spec, minus a callable health check.
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    start_timeout: float = 60.0
    # The watchdog's bookkeeping (see orchestrator/lab/watchdog.py).
    restarts: int = 0
    last_exit: str | None = None
    last_exit_at: float | None = None
    backoff: float | None = None  # the last back-off delay, doubled on the next quick crash
    backoff_until: float | None = None  # set while a crashed component waits to be restarted
    stopped_by_user: bool = False

    @property
    def port(self) -> int | None:
        _, _, port = self.address.rpartition(":")
        return int(port) if port.isdigit() else None

    def spec(self) -> ComponentSpec:
        return ComponentSpec(
            name=self.name,
            argv=list(self.argv),
            env=dict(self.env),
            health=self.health if self.health and not self.health.startswith("tcp://") else None,
            depends_on=tuple(self.depends_on),
            address=self.address,
            stop_signal=signal.Signals[self.stop_signal],
            start_timeout=self.start_timeout,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComponentRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        if record.external:
            record.kind = "external"
        return record


@dataclass(frozen=True)
class WatchdogRecord:
    pid: int
    create_time: float | None
    started_at: float
    log_file: str


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
    state: ComponentState = "running"
    restarts: int = 0
    last_exit: str | None = None
    last_exit_at: float | None = None
    backoff_until: float | None = None


@dataclass(frozen=True)
class WatchdogStatus:
    """What `labctl status` says below the table about the watchdog and the lab's owner."""

    pid: int | None
    running: bool
    owner_pid: int | None


class Supervisor:
    """Starts, records, checks and stops the lab's components (see the module docstring)."""

    def __init__(self, home: LabHome) -> None:
        self.home = home
        self._ssl: ssl.SSLContext | None = None
        self._lock_depth = 0

    # --- state ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the lab's lock file (blocks while another labctl changes the lab)."""
        with self._locked(blocking=True):
            yield

    @contextlib.contextmanager
    def try_lock(self) -> Iterator[bool]:
        """Take the lab's lock if nobody holds it; yields whether it was taken."""
        held = self._locked(blocking=False)
        try:
            held.__enter__()
        except BlockingIOError:
            yield False
            return
        with contextlib.ExitStack() as stack:
            stack.push(held)
            yield True

    @contextlib.contextmanager
    def _locked(self, *, blocking: bool) -> Iterator[None]:
        if self._lock_depth:
            # flock locks belong to an open file: a second open in this process would deadlock.
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.home.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.home.run_dir / "labctl.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(f, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.home.state_file.read_text())
        except FileNotFoundError:
            return {"components": [], "lab": {}, "watchdog": None}
        except json.JSONDecodeError as err:
            raise SupervisorError(
                f"{self.home.state_file} is corrupt ({err}): stop stray processes and delete the file"
            ) from err
        state.setdefault("components", [])
        state.setdefault("lab", {})
        state.setdefault("watchdog", None)
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self.home.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.home.state_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.home.state_file)  # atomic: a crash never leaves half a state file

    def records(self) -> list[ComponentRecord]:
        return [ComponentRecord.from_json(r) for r in self._load()["components"]]

    def put(self, record: ComponentRecord) -> None:
        """Write `record` to state.json (replacing the one of that name, keeping its place). Hold `lock()`."""
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

    def forget(self, *keys: str) -> None:
        state = self._load()
        for key in keys:
            state["lab"].pop(key, None)
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
            if existing.stopped_by_user:
                existing.stopped_by_user = False
                self.put(existing)
            return existing, False
        for dep in spec.depends_on:
            if not self.is_running(dep):
                raise SupervisorError(f"cannot start {spec.name}: it needs {dep}, which is not running")
        record = self._spawn(spec, previous=existing)
        self.put(record)
        try:
            self._wait_healthy(spec, record)
        except BaseException:
            self._stop(record, timeout=5.0)
            self._drop(spec.name)
            raise
        return record, True

    def _spawn(self, spec: ComponentSpec, *, previous: ComponentRecord | None) -> ComponentRecord:
        port = _port_of(spec.address)
        if port is not None and not port_is_free(port):
            raise SupervisorError(
                f"cannot start {spec.name}: port {spec.address} is already in use by {port_holder(port)}; "
                "stop that process or choose another port"
            )
        log_file = self.home.log_file(spec.name)
        pid = spawn_detached(spec.argv, log_file=log_file, env={**os.environ, **spec.env})
        return ComponentRecord(
            name=spec.name,
            pid=pid,
            address=spec.address,
            log_file=str(log_file),
            started_at=time.time(),
            create_time=create_time(pid),
            health=spec.health if isinstance(spec.health, str) else _tcp_url(spec.address),
            stop_signal=signal.Signals(spec.stop_signal).name,
            kind="process",
            argv=list(spec.argv),
            env=dict(spec.env),
            depends_on=list(spec.depends_on),
            start_timeout=spec.start_timeout,
            # The count survives `labctl start` and `up`, as a pod's restartCount survives.
            restarts=previous.restarts if previous is not None else 0,
            last_exit=previous.last_exit if previous is not None else None,
            last_exit_at=previous.last_exit_at if previous is not None else None,
        )

    def adopt(self, server: RunningServer, *, stop_signal: int = signal.SIGTERM) -> ComponentRecord:
        """Record a server started elsewhere (or an external one, which is never stopped)."""
        existing = self.record(server.name)
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
            kind="external" if server.external else "embedded",
            restarts=existing.restarts if existing is not None else 0,
            last_exit=existing.last_exit if existing is not None else None,
            last_exit_at=existing.last_exit_at if existing is not None else None,
        )
        if existing is not None and existing.pid == record.pid and existing.create_time == record.create_time:
            if existing.stopped_by_user:
                existing.stopped_by_user = False
                self.put(existing)
            return existing  # the same process: keep its original start time
        self.put(record)
        return record

    def respawn(self, record: ComponentRecord) -> ComponentRecord:
        """Start a dead component again from its record, on the same port; do not wait for health.

        Raises SupervisorError / EmbeddedServerError when it cannot even be started (its port
        is taken, an embedded server does not come up); the watchdog counts that as a crash.
        """
        if record.kind == "external":
            raise SupervisorError(f"{record.name} is an external server: labctl never starts it")
        self._kill_leftovers(record)
        if record.kind == "embedded":
            server = _start_embedded(self.home, record.name, port=record.port)
            fresh = dataclasses.replace(
                record,
                pid=server.pid,
                create_time=create_time(server.pid) if server.pid else None,
                started_at=time.time(),
            )
        else:
            spawned = self._spawn(record.spec(), previous=record)
            fresh = dataclasses.replace(
                record, pid=spawned.pid, create_time=spawned.create_time, started_at=spawned.started_at
            )
        fresh.backoff_until = None
        self.put(fresh)
        return fresh

    def _kill_leftovers(self, record: ComponentRecord) -> None:
        """SIGKILL what a dead component left in its process group (PostgreSQL backends whose
        postmaster was killed hold its shared memory, and a new postmaster refuses to start)."""
        if record.pid is None or pid_alive(record.pid):
            return  # alive, or its pid now belongs to another process, whose group this is
        born = (record.create_time or record.started_at) - 1.0
        for proc in psutil.process_iter(["pid", "create_time"]):
            with contextlib.suppress(psutil.Error, OSError):
                # Same group as the dead leader and younger than it: its own children, nobody else.
                if os.getpgid(proc.info["pid"]) == record.pid and proc.info["create_time"] >= born:
                    proc.kill()

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

    # --- stop / start one component (labctl stop|start, notebooks) ----------------------------

    def component_names(self) -> list[str]:
        return [r.name for r in self.records()]

    def known(self, name: str) -> ComponentRecord:
        """The record of component `name`, or a SupervisorError that lists the known names."""
        record = self.record(name)
        if record is not None:
            return record
        names = self.component_names()
        if not names:
            raise SupervisorError(
                f"unknown component {name!r}: the lab in {self.home.root} is not running; start it with `labctl up`"
            )
        raise SupervisorError(f"unknown component {name!r}: this lab's components are {', '.join(names)}")

    def stop_component(self, name: str, *, timeout: float = 15.0) -> bool:
        """Stop component `name` and mark it "stopped by user" so the watchdog leaves it stopped.

        Returns False if it was not running (it is marked all the same).
        """
        with self.lock():
            record = self.known(name)
            if record.external:
                raise SupervisorError(f"{name} is an external server (from the environment): labctl never stops it")
            # Marked before it is stopped, so the watchdog never sees it dead and unmarked.
            record.stopped_by_user = True
            record.backoff_until = None
            self.put(record)
            was_running = self._alive(record)
            self._stop(record, timeout=timeout)
            port = record.port
            if port is not None and not wait_port_free(port, timeout=5.0):
                raise SupervisorError(f"stopped {name}, but port {record.address} is still held by {port_holder(port)}")
            return was_running

    def start_component(self, name: str) -> ComponentRecord:
        """Clear the "stopped by user" mark of `name` and start it from its record; wait until healthy."""
        with self.lock():
            record = self.known(name)
            if record.external:
                raise SupervisorError(f"{name} is an external server (from the environment): labctl never starts it")
            if self._alive(record):
                if record.stopped_by_user or record.backoff_until is not None:
                    record.stopped_by_user = False
                    record.backoff_until = None
                    self.put(record)
                return record
            if record.kind == "embedded":
                fresh = self.respawn(dataclasses.replace(record, stopped_by_user=False, backoff=None))
                return fresh
            spec = record.spec()
            for dep in spec.depends_on:
                if not self.is_running(dep):
                    raise SupervisorError(f"cannot start {name}: it needs {dep}, which is not running")
            self._kill_leftovers(record)
            fresh = self._spawn(spec, previous=record)
            self.put(fresh)
            try:
                self._wait_healthy(spec, fresh)
            except BaseException:
                # Keep the record (the lab still has this component), marked so nobody restarts it.
                self._stop(fresh, timeout=5.0)
                self.put(dataclasses.replace(fresh, stopped_by_user=True))
                raise
            return fresh

    # --- stop -------------------------------------------------------------------------------

    def stop_all(self, *, timeout: float = 15.0, on_stop: Callable[[str], None] | None = None) -> list[str]:
        """Stop the watchdog, then every recorded component, last started first; return the names stopped."""
        stopped: list[str] = []
        if self.stop_watchdog():
            stopped.append("watchdog")
            if on_stop is not None:
                on_stop("watchdog")
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
            else:
                self._kill_leftovers(record)
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

        Recognised by program and command line: postgres/redis-server/haproxy/orchestrator modules
        whose command line mentions this lab home.
        """
        root = str(self.home.root)
        mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        found = []
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["pid"] in mine or not any(root in part for part in cmdline):
                continue
            is_ours = proc.info["name"] in ("postgres", "redis-server", "haproxy") or any(
                part.startswith("orchestrator.") for part in cmdline
            )
            if is_ours and pid_alive(proc.info["pid"]):
                found.append(proc)
        return found

    # --- the watchdog -----------------------------------------------------------------------

    def watchdog(self) -> WatchdogRecord | None:
        data = self._load()["watchdog"]
        return WatchdogRecord(**data) if data else None

    def watchdog_running(self) -> bool:
        record = self.watchdog()
        return record is not None and _same_process(record.pid, record.create_time)

    def ensure_watchdog(self) -> tuple[WatchdogRecord, bool]:
        """Start the watchdog unless it runs. Returns (record, started_now). Hold `lock()`."""
        existing = self.watchdog()
        if existing is not None and _same_process(existing.pid, existing.create_time):
            return existing, False
        log_file = self.home.log_file("watchdog")
        argv = [sys.executable, "-m", WATCHDOG_MODULE, "--home", str(self.home.root)]
        pid = spawn_detached(argv, log_file=log_file)
        record = WatchdogRecord(pid=pid, create_time=create_time(pid), started_at=time.time(), log_file=str(log_file))
        state = self._load()
        state["watchdog"] = asdict(record)
        self._save(state)
        return record, True

    def stop_watchdog(self) -> bool:
        """Stop the watchdog (unless we are it) and forget it; True if one was stopped."""
        record = self.watchdog()
        if record is None:
            return False
        stopped = record.pid != os.getpid() and _same_process(record.pid, record.create_time)
        if stopped:
            stop_process(record.pid, timeout=10.0)
        state = self._load()
        state["watchdog"] = None
        self._save(state)
        return stopped

    @property
    def heartbeat_file(self) -> Path:
        """Touched by the watchdog after each round, so tests and `status` can tell it is alive."""
        return self.home.run_dir / "watchdog.beat"

    def set_owner(self, pid: int | None) -> None:
        """The process whose end takes the lab down (a notebook kernel); None: no owner."""
        if pid is None:
            self.forget("owner")
            return
        born = create_time(pid)
        if born is None or not pid_alive(pid):
            raise SupervisorError(f"owner process {pid} is not running")
        self.remember(owner={"pid": pid, "create_time": born})

    def owner(self) -> tuple[int, float | None] | None:
        owner = self.lab.get("owner")
        return (int(owner["pid"]), owner.get("create_time")) if owner else None

    def owner_gone(self) -> bool:
        owner = self.owner()
        return owner is not None and not _same_process(owner[0], owner[1])

    # --- status -----------------------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        rows = []
        watchdog_running = self.watchdog_running()
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
                    state=_state(record, running=running, healthy=healthy, watchdog_running=watchdog_running),
                    restarts=record.restarts,
                    last_exit=record.last_exit,
                    last_exit_at=record.last_exit_at,
                    backoff_until=record.backoff_until,
                )
            )
        return rows

    def watchdog_status(self) -> WatchdogStatus:
        record = self.watchdog()
        owner = self.owner()
        return WatchdogStatus(
            pid=record.pid if record else None,
            running=self.watchdog_running(),
            owner_pid=owner[0] if owner else None,
        )

    # --- probes -----------------------------------------------------------------------------

    def alive(self, record: ComponentRecord) -> bool:
        """True if the record's process runs (and is the same process, not a reused pid)."""
        return self._alive(record)

    def _alive(self, record: ComponentRecord) -> bool:
        return record.pid is not None and _same_process(record.pid, record.create_time)

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


def _state(record: ComponentRecord, *, running: bool, healthy: bool, watchdog_running: bool) -> ComponentState:
    if record.external:
        return "external" if healthy else "unreachable"
    if running:
        return "healthy" if healthy else "running"
    if record.stopped_by_user:
        return "stopped by user"
    if record.backoff_until is not None and watchdog_running:
        return "back-off"
    return "exited"


def _same_process(pid: int, born: float | None) -> bool:
    if not pid_alive(pid):
        return False
    # Same pid, different start time: the pid was reused, our process is gone.
    now = create_time(pid)
    return born is None or (now is not None and abs(now - born) < 1.0)


def _start_embedded(home: LabHome, name: str, *, port: int | None) -> RunningServer:
    # Imported here: the embedded servers' modules are only needed when one is (re)started.
    from orchestrator.lab.embedded.postgres import start_postgres
    from orchestrator.lab.embedded.redis import start_redis

    if name == "postgres":
        return start_postgres(home, port=port)
    if name == "redis":
        return start_redis(home, port=port)
    raise EmbeddedServerError(f"{name} is not an embedded server labctl knows how to start")


def _port_of(address: str) -> int | None:
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else None


def _tcp_url(address: str) -> str | None:
    return f"tcp://{address}" if _port_of(address) is not None else None


def recorded_address(component: str) -> str | None:
    """Where the lab in $LABKIT_HOME runs ``component`` (host:port), if it runs one; the CLI's
    gRPC commands use it so that `labctl scheduler ...` finds the lab's scheduler by itself."""
    from orchestrator.lab.home import LabSettings

    try:
        record = Supervisor(LabSettings.from_env().home).record(component)
    except Exception:  # no readable lab home here: the caller falls back to its default
        return None
    return record.address if record is not None and record.address else None
