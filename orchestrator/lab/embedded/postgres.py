"""A private PostgreSQL server for one lab, from the binaries in the `pgserver` wheel.

We use only the wheel's binaries (`pgserver/pginstall/bin`), not its PostgresServer class:
that class ties the server's life to the Python process that created it, and a lab's server
must outlive `labctl up` and be stopped by `labctl down`, a different process.

    start_postgres(home)  initdb once into <home>/postgres/data (trust auth, loopback only,
                          UTF8, fsync on), start `postgres -D data -p PORT -h 127.0.0.1` in its
                          own session logging to <home>/logs/postgres.log, wait until it accepts
                          connections, create the database `labkit`; idempotent.
    stop_postgres(home)   fast shutdown (SIGINT), SIGKILL after a timeout; port free afterwards.
    check_database_url()  for DATABASE_URL: start nothing, only check the server is reachable.

PostgreSQL refuses to run as root. As root we run initdb and postgres as the system user
`labkit-pg` (created with useradd if missing), which must own the data directory, traverse
every directory above it, and read the wheel's files.

Kubernetes equivalent: none; this plays the part of the etcd a kubeadm node runs as a static pod.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from orchestrator.lab.embedded.ports import (
    LOOPBACK,
    EmbeddedServerError,
    RunningServer,
    can_connect,
    pid_alive,
    process_matches,
    spawn_detached,
    with_log,
)
from orchestrator.lab.embedded.server import EmbeddedServer
from orchestrator.lab.home import LabHome

DATABASE = "labkit"
SUPERUSER = "postgres"
# The system user PostgreSQL runs as when we are root (pgserver does the same with `pgserver`).
SYSTEM_USER = "labkit-pg"
# A Unix socket path longer than this (sun_path) cannot be created; we then use TCP only.
_MAX_SOCKET_PATH = 100

MISSING_WHEEL = "the pgserver wheel is not installed: pip install pgserver, or set DATABASE_URL"


def postgres_bin_dir() -> Path:
    """The directory with initdb, postgres, pg_isready, psql from the pgserver wheel."""
    # find_spec locates the package without importing it (its __init__ has side effects).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(MISSING_WHEEL)
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServerError(MISSING_WHEEL)
    return bin_dir


def data_dir(home: LabHome) -> Path:
    return home.postgres_dir / "data"


def database_url(port: int, *, host: str = LOOPBACK) -> str:
    return f"postgresql://{SUPERUSER}@{host}:{port}/{DATABASE}"


class _Postgres(EmbeddedServer):
    name, title, env_var = "postgres", "PostgreSQL", "DATABASE_URL"
    # SIGINT is PostgreSQL's "fast" shutdown: abort transactions, checkpoint, exit.
    stop_signal, abort_timeout = signal.SIGINT, 10.0

    def url(self, port: int) -> str:
        return database_url(port)

    def running(self, notes: list[str] | None = None) -> tuple[int, int] | None:
        return running_postgres(self.home, notes=notes)

    def prepare(self) -> None:
        self.bins = postgres_bin_dir()

    def launch(self, *, port: int, log_file: Path) -> int:
        home, bins = self.home, self.bins
        self.user = _prepare_system_user(home, bins) if os.geteuid() == 0 else None
        _initdb_once(home, bins=bins, user=self.user, log_file=log_file)
        socket_dir = home.run_dir / "postgres"
        if len(str(socket_dir / f".s.PGSQL.{port}")) > _MAX_SOCKET_PATH:
            socket_arg = ""  # the home is too deep for a Unix socket; loopback TCP is enough
        else:
            socket_arg = str(socket_dir)
        argv = [str(bins / "postgres"), "-D", str(data_dir(home)), "-p", str(port), "-h", LOOPBACK, "-k", socket_arg]
        return spawn_detached(argv, log_file=log_file, env=_clean_env(), cwd=data_dir(home), user=self.user)

    def wait_ready(self, *, pid: int, port: int, log_file: Path, timeout: float) -> None:
        _wait_ready(self.bins, pid=pid, port=port, log_file=log_file, timeout=timeout)
        _create_database(self.bins, port=port, log_file=log_file)

    def forget(self) -> None:
        """Nothing to remove: PostgreSQL deletes its postmaster.pid itself when it shuts down."""


def start_postgres(home: LabHome, *, port: int | None = None, timeout: float = 60.0) -> RunningServer:
    """Start (or find already running) the lab's PostgreSQL; see the module docstring."""
    return _Postgres(home).start(port=port, timeout=timeout)


def stop_postgres(home: LabHome, *, timeout: float = 30.0) -> bool:
    """Stop the lab's PostgreSQL if it runs (fast shutdown); True if one was stopped."""
    return _Postgres(home).stop(timeout=timeout)


def running_postgres(home: LabHome, *, notes: list[str] | None = None) -> tuple[int, int] | None:
    """(pid, port) of the lab's running PostgreSQL, from postmaster.pid; None if it is not running.

    A postmaster.pid whose pid is dead, or now belongs to another program, is stale (the
    server was killed, or the machine rebooted): it is removed, and a note says so.
    """
    pid_file = data_dir(home) / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return None
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else 0
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else 0
    if pid and port and process_matches(pid, name="postgres", mentions=str(data_dir(home))):
        return pid, port
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    if notes is not None:
        notes.append(f"removed stale pid file {pid_file} (pid {pid or '?'} is not a running PostgreSQL)")
    return None


def check_database_url(url: str, *, timeout: float = 3.0) -> RunningServer:
    """Check an external DATABASE_URL is reachable (TCP connect); start nothing."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise EmbeddedServerError(
            f"DATABASE_URL {_redact(url)} is not a postgresql:// URL; fix it, or unset it to use the embedded PostgreSQL"
        )
    host, port = parts.hostname or "localhost", parts.port or 5432
    err = can_connect(host, port, timeout=timeout)
    if err is not None:
        raise EmbeddedServerError(
            f"DATABASE_URL {_redact(url)} is unreachable: cannot connect to {host}:{port} "
            f"({err.strerror or err}); start that server, or unset DATABASE_URL to use the embedded PostgreSQL"
        )
    return RunningServer(name="postgres", url=url, host=host, port=port)


# --- steps of start_postgres ------------------------------------------------------------------


def _initdb_once(home: LabHome, *, bins: Path, user: str | None, log_file: Path) -> None:
    data = data_dir(home)
    if (data / "PG_VERSION").exists():
        return
    if data.exists():
        # No PG_VERSION: a previous initdb died half-way. Nothing in it is worth keeping.
        shutil.rmtree(data)
    data.mkdir(parents=True, mode=0o700)
    if user is not None:
        shutil.chown(data, user=user, group=_group_of(user))
    argv = [
        str(bins / "initdb"),
        "-D", str(data),
        "-U", SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",  # C collation: same sort order on every machine, no locale packages needed
        "--no-instructions",
    ]  # fmt: skip
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(b"\n--- initdb\n")
        log.flush()
        result = subprocess.run(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            cwd=data,
            user=user,
            group=_group_of(user) if user else None,
            extra_groups=[] if user else None,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise EmbeddedServerError(with_log(f"initdb failed (exit code {result.returncode})", log_file))
    # Trust is safe only because nothing but this machine can connect: the server listens
    # on 127.0.0.1 only, and these are the only rules (initdb's defaults also allow replication).
    (data / "pg_hba.conf").write_text(
        "# labkit: trust local connections only; the server listens on 127.0.0.1\n"
        "local all all trust\n"
        "host  all all 127.0.0.1/32 trust\n"
        "host  all all ::1/128 trust\n"
    )


def _wait_ready(bins: Path, *, pid: int, port: int, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not pid_alive(pid):
            raise EmbeddedServerError(with_log(f"PostgreSQL exited while starting on port {port}", log_file))
        ready = subprocess.run(
            [
                str(bins / "pg_isready"),
                "-h",
                LOOPBACK,
                "-p",
                str(port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-t",
                "1",
            ],
            capture_output=True,
            env=_clean_env(),
            check=False,
        )
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                with_log(
                    f"PostgreSQL did not accept connections on port {port} within {timeout:.0f}s", log_file
                )
            )
        time.sleep(0.1)


def _create_database(bins: Path, *, port: int, log_file: Path) -> None:
    psql = [str(bins / "psql"), "-h", LOOPBACK, "-p", str(port), "-U", SUPERUSER, "-d", "postgres", "-tAX"]
    exists = subprocess.run(
        [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    if exists.returncode == 0 and exists.stdout.strip() == "1":
        return
    created = subprocess.run(
        [*psql, "-c", f"CREATE DATABASE {DATABASE}"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    if created.returncode != 0:
        raise EmbeddedServerError(
            with_log(f"cannot create database {DATABASE}: {created.stderr.strip()}", log_file)
        )


def _clean_env() -> dict[str, str]:
    # A user's PGHOST/PGPORT/PGDATA must not redirect our own tools to another server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


# --- running as root --------------------------------------------------------------------------


def _prepare_system_user(home: LabHome, bins: Path) -> str:
    """Make SYSTEM_USER exist and able to reach its data dir, socket dir and the binaries."""
    _ensure_user(SYSTEM_USER)
    group = _group_of(SYSTEM_USER)
    home.postgres_dir.mkdir(parents=True, exist_ok=True)
    socket_dir = home.run_dir / "postgres"
    socket_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(socket_dir, user=SYSTEM_USER, group=group)
    socket_dir.chmod(0o700)
    if data_dir(home).exists():
        shutil.chown(data_dir(home), user=SYSTEM_USER, group=group)
    try:
        _make_traversable(home.postgres_dir)
        _make_traversable(socket_dir)
        pginstall = bins.parent
        _make_traversable(pginstall)
        _grant_others(pginstall, executable_under=bins)
    except PermissionError as err:
        raise EmbeddedServerError(
            f"cannot give user {SYSTEM_USER} access to {err.filename}: "
            "make it readable by others, or run labctl as a non-root user"
        ) from err
    return SYSTEM_USER


def _ensure_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and result.returncode != 9:  # 9: created meanwhile by someone else
        raise EmbeddedServerError(
            f"PostgreSQL cannot run as root and `useradd {name}` failed ({result.stderr.strip()}): "
            f"create the user {name}, run labctl as a non-root user, or set DATABASE_URL"
        )


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _make_traversable(path: Path) -> None:
    """Add o+x to `path` and every directory above it that lacks it (no read access granted)."""
    for d in [path, *path.parents]:
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(mode | stat.S_IXOTH)


def _grant_others(root: Path, *, executable_under: Path) -> None:
    """Make the wheel's files readable by others, and the binaries executable, where they are not."""
    for dirpath, _dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        mode = d.stat().st_mode
        if mode & (stat.S_IROTH | stat.S_IXOTH) != (stat.S_IROTH | stat.S_IXOTH):
            d.chmod(mode | stat.S_IROTH | stat.S_IXOTH)
        want_exec = d == executable_under
        for name in filenames:
            f = d / name
            mode = f.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            want = stat.S_IROTH | (stat.S_IXOTH if want_exec else 0)
            if mode & want != want:
                f.chmod(mode | want)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
