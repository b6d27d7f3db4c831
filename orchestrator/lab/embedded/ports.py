"""Loopback ports and the process plumbing shared by the embedded servers and the supervisor.

- ports: pick a free loopback port (outside the kernel's ephemeral range, never twice), tell whether one is free, say who holds a busy one;
- detached processes: start one in its own session with its output appended to a log file,
  tell whether a pid is alive (a zombie is not), stop one (polite signal, then SIGKILL to
  its whole process group) and read the tail of its log for error messages;
- `EmbeddedServerError`: the one error type of this package. Its message is one line that
  says what to do, optionally followed by the last lines of a log.

A detached process outlives `labctl up`: it is its own session leader (so a Ctrl-C in the
terminal does not reach it, and its pid is also its process-group id, which `stop` uses to
kill whatever it spawned).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"


class EmbeddedServerError(Exception):
    """An embedded server could not be started, reached or stopped; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RunningServer:
    """A server the lab uses: one we started (pid set) or an external one (pid None)."""

    name: str
    url: str
    host: str
    port: int
    pid: int | None = None
    log_file: Path | None = None
    # Things worth telling the user, e.g. "removed stale pid file ...".
    notes: tuple[str, ...] = field(default=())
    already_running: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def external(self) -> bool:
        return self.pid is None


# --- ports ------------------------------------------------------------------------------------


# Ports handed out by `free_port` in this process: never handed out twice, even before the
# component they were chosen for has bound them (`labctl up` picks several, then starts them).
_handed_out: set[int] = set()
# Ports the lab or kubelet use by convention: never picked at random.
_RESERVED = frozenset({6443, 10250, 10255, 10256, 10257, 10259})


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections and bind(0), e.g. (32768, 60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = LOOPBACK) -> int:
    """A port on `host` that nobody listens on now and that stays ours until a component binds it.

    "Check, close, start the server later" has a race: between the check and the bind, another
    process may take the port. The kernel itself is the usual culprit -- it hands out ports of
    its ephemeral range to every outgoing connection and every bind(0) -- so a lab of hundreds of
    node agents, each with connections to the API server, once saw a port it had picked taken by
    one of its own agents. Ports are therefore picked at random *below* the ephemeral range,
    where the kernel never assigns one by itself, and a port is never handed out twice by one
    process (`labctl up` picks all its ports before it starts the components).
    """
    low, _ = ephemeral_range()
    first = 20000 if low > 21000 else 1024
    for _ in range(200):
        port = random.randrange(first, low) if low - first > 100 else random.randrange(1024, 65536)
        if port in _handed_out or port in _RESERVED or not port_is_free(port, host):
            continue
        _handed_out.add(port)
        return port
    # A crowded low range (or an odd kernel setting): let the kernel pick, as before.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    _handed_out.add(port)
    return port


def reserve(port: int) -> int:
    """Keep `free_port` in this process from handing out `port`, and return it: for a port chosen
    without `free_port` (one a lab remembered from its last start, or asked for) whose component
    binds it only later. Unreserved, the API server's remembered port was once handed to the lab's
    PostgreSQL, started first."""
    _handed_out.add(port)
    return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if a server could bind `host:port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Servers set SO_REUSEADDR, so connections lingering in TIME_WAIT do not stop them
        # binding; set it here too so that only a real listener counts as "busy".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_port_free(port: int, *, host: str = LOOPBACK, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not port_is_free(port, host):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def port_holder(port: int) -> str:
    """'pid 123 (postgres)' for the process listening on `port`, or 'another process'."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                with contextlib.suppress(psutil.Error):
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f"pid {conn.pid}"
    return "another process"


def require_free_port(port: int, *, host: str = LOOPBACK, what: str, hint: str) -> None:
    if not port_is_free(port, host):
        raise EmbeddedServerError(
            f"cannot start {what}: port {host}:{port} is already in use by {port_holder(port)}; {hint}"
        )


def can_connect(host: str, port: int, *, timeout: float = 1.0) -> OSError | None:
    """None if a TCP connection to host:port succeeds, else the error."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return err


# --- processes --------------------------------------------------------------------------------

# Popen objects of the processes this Python process started, so that stopping one also
# reaps it (otherwise it would linger as a zombie until we exit).
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(
    argv: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start `argv` in its own session, stdout+stderr appended to `log_file`; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                user=user,
                group=_primary_group(user) if user else None,
                extra_groups=[] if user else None,
            )
        except OSError as err:
            raise EmbeddedServerError(f"cannot run {argv[0]}: {err}") from err
    _children[proc.pid] = proc
    return proc.pid


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def pid_alive(pid: int | None) -> bool:
    """True if `pid` runs (a zombie has exited: it only waits for its parent to reap it)."""
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def exit_code(pid: int) -> int | None:
    """How a process this Python process started ended: its exit code, or minus the signal that
    killed it; None while it runs or when it was started by another process (only a parent learns it)."""
    child = _children.get(pid)
    return child.poll() if child is not None else None


def process_matches(pid: int, *, name: str, mentions: str | None = None) -> bool:
    """True if `pid` is alive, runs program `name`, and (if given) its command line mentions `mentions`.

    Used to tell a live server from an unrelated process that reused a stale pid.
    """
    if not pid_alive(pid):
        return False
    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        names = {proc.name(), Path(cmdline[0]).name if cmdline else ""}
    except psutil.Error:
        return False
    if name not in names:
        return False
    return mentions is None or any(mentions in part for part in cmdline)


def create_time(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), to tell it from a later process reusing the pid."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def wait_exit(pid: int, *, timeout: float) -> bool:
    """Wait until `pid` is gone (or a zombie); True if it went within `timeout`."""
    child = _children.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(pid, None)
        return True
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_process(pid: int, *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Send `sig` to `pid`, wait up to `timeout`, then SIGKILL its whole process group.

    The final SIGKILL to the group also takes down anything the process left behind
    (PostgreSQL backends, a uvicorn worker), so nothing keeps a port open.
    """
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        if not wait_exit(pid, timeout=timeout):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            wait_exit(pid, timeout=5.0)
    # Leftovers in the group (the leader is gone, its children may not be).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(1.0)


def log_tail(log_file: Path | None, lines: int = 15) -> str:
    """The last `lines` lines of a log file, indented, for an error message ('' if none)."""
    if log_file is None or not log_file.exists():
        return ""
    with open(log_file, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 16384))
        text = f.read().decode(errors="replace")
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in tail)


def with_log(message: str, log_file: Path | None) -> str:
    """`message`, pointing at `log_file` and followed by its last lines."""
    if log_file is None:
        return message
    tail = log_tail(log_file)
    return f"{message} (see {log_file})" + (f"; last log lines:\n{tail}" if tail else "")
