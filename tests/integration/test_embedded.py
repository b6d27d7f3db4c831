"""Embedded PostgreSQL and Redis: real servers from the pip wheels, in a temporary lab home.

These run as whatever user runs the tests; as root they exercise the dedicated
`labkit-pg` system user that PostgreSQL needs.
"""

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from orchestrator.lab.embedded.ports import (
    EmbeddedServerError,
    free_port,
    pid_alive,
    port_is_free,
    wait_exit,
)
from orchestrator.lab.embedded.postgres import (
    check_database_url,
    running_postgres,
    start_postgres,
    stop_postgres,
)
from orchestrator.lab.embedded.redis import check_redis_url, start_redis, stop_redis
from orchestrator.lab.home import LabHome


@pytest.fixture
def home(tmp_path: Path) -> Iterator[LabHome]:
    lab = LabHome(tmp_path / "lab")
    yield lab
    # Whatever a test left running is stopped, so one failure does not leak servers.
    stop_postgres(lab)
    stop_redis(lab)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def _kill_group(pid: int) -> None:
    """Simulate a crash: the server and everything it spawned die without cleaning up."""
    os.killpg(pid, signal.SIGKILL)
    assert wait_exit(pid, timeout=10)


async def test_embedded_postgres_serves_the_labkit_database_and_stops_without_leftovers(
    home: LabHome,
) -> None:
    server = start_postgres(home)
    assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/labkit"
    conn = await asyncpg.connect(server.url, timeout=10)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SHOW fsync") == "on"
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
    finally:
        await conn.close()

    assert stop_postgres(home) is True
    assert not pid_alive(server.pid)
    assert port_is_free(server.port)
    assert running_postgres(home) is None


def test_starting_postgres_twice_finds_the_running_server(home: LabHome) -> None:
    first = start_postgres(home)
    second = start_postgres(home)
    assert second.already_running and second.pid == first.pid and second.port == first.port


@pytest.mark.skipif(os.geteuid() != 0, reason="the dedicated system user is only used as root")
def test_as_root_postgres_runs_as_its_own_system_user(home: LabHome) -> None:
    import psutil

    server = start_postgres(home)
    assert psutil.Process(server.pid).username() == "labkit-pg"


async def test_postgres_restarts_after_a_crash_and_reports_the_stale_pid_file(home: LabHome) -> None:
    crashed = start_postgres(home)
    _kill_group(crashed.pid)

    restarted = start_postgres(home, port=crashed.port)
    assert not restarted.already_running
    assert any("stale pid file" in note and "postmaster.pid" in note for note in restarted.notes)
    conn = await asyncpg.connect(restarted.url, timeout=10)
    await conn.close()


def test_busy_postgres_port_gives_a_one_line_error(home: LabHome, listening_port: int) -> None:
    with pytest.raises(EmbeddedServerError) as excinfo:
        start_postgres(home, port=listening_port)
    message = str(excinfo.value)
    assert f"port 127.0.0.1:{listening_port} is already in use" in message
    assert "\n" not in message


def test_unreachable_database_url_gives_a_one_line_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/labkit"
    with pytest.raises(EmbeddedServerError) as excinfo:
        check_database_url(url, timeout=1.0)
    message = str(excinfo.value)
    assert message.startswith(f"DATABASE_URL {url} is unreachable")
    assert "unset DATABASE_URL" in message and "\n" not in message


def test_reachable_database_url_is_used_without_starting_anything(home: LabHome) -> None:
    server = start_postgres(home)
    external = check_database_url(server.url)
    assert external.external and external.port == server.port


def test_embedded_redis_answers_ping_and_stops_without_leftovers(home: LabHome) -> None:
    server = start_redis(home)
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    with redis.Redis.from_url(server.url) as client:
        assert client.ping() is True
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}

    assert stop_redis(home) is True
    assert not pid_alive(server.pid)
    assert port_is_free(server.port)


def test_redis_restarts_after_a_crash_and_reports_the_stale_pid_file(home: LabHome) -> None:
    crashed = start_redis(home)
    _kill_group(crashed.pid)

    restarted = start_redis(home)
    assert any("stale pid file" in note for note in restarted.notes)
    with redis.Redis.from_url(restarted.url) as client:
        assert client.ping() is True


def test_busy_redis_port_gives_a_one_line_error(home: LabHome, listening_port: int) -> None:
    with pytest.raises(EmbeddedServerError) as excinfo:
        start_redis(home, port=listening_port)
    assert "already in use" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_unreachable_redis_url_gives_a_one_line_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(EmbeddedServerError) as excinfo:
        check_redis_url(url, timeout=1.0)
    message = str(excinfo.value)
    assert message.startswith(f"REDIS_URL {url} is unreachable")
    assert "unset REDIS_URL" in message and "\n" not in message
