"""Test session fixtures: real PostgreSQL and Redis servers, started once per session.

By default the session starts the embedded servers (the same code `labctl up` uses) in a
temporary lab home. ``LABKIT_TEST_DATABASE_URL`` / ``LABKIT_TEST_REDIS_URL`` point the tests at
servers you already run instead. Every test that needs storage gets a fresh database and an
empty Redis database, so tests never see each other's revisions.

The lab fixtures (`lab`, `api`, `namespace`) are registered here once, from tests/support/fixtures.py:
pytest takes ``pytest_plugins`` only from this top-level conftest.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from orchestrator.storage.relay import Relay
from orchestrator.storage.store import Store
from orchestrator.storage.watchcache import WatchCache

pytest_plugins = ["tests.support.fixtures"]


@dataclass(frozen=True)
class Servers:
    database_url: str  # the maintenance database; tests create their own next to it
    redis_url: str  # host and port; tests pick database 1
    home: Path | None = None

    def database(self, name: str) -> str:
        base, _, query = self.database_url.partition("?")
        base = base.rsplit("/", 1)[0] + "/" + name
        return base + ("?" + query if query else "")

    @property
    def test_redis_url(self) -> str:
        return self.redis_url.rsplit("/", 1)[0] + "/1"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    db_url, redis_url = os.environ.get("LABKIT_TEST_DATABASE_URL"), os.environ.get("LABKIT_TEST_REDIS_URL")
    if db_url and redis_url:
        yield Servers(db_url, redis_url)
        return
    from orchestrator.lab.embedded.postgres import start_postgres, stop_postgres
    from orchestrator.lab.embedded.redis import start_redis, stop_redis
    from orchestrator.lab.home import LabHome

    home = LabHome(tmp_path_factory.mktemp("labkit-home"))
    pg = start_postgres(home)
    try:
        rs = start_redis(home)
    except BaseException:
        stop_postgres(home)
        raise
    try:
        yield Servers(pg.url, rs.url, home.root)
    finally:
        stop_redis(home)
        stop_postgres(home)


@pytest.fixture
async def database_url(servers: Servers) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield servers.database(name)
    admin = await asyncpg.connect(servers.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def redis_url(servers: Servers) -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(servers.test_redis_url)
    await client.flushdb()
    await client.aclose()
    yield servers.test_redis_url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = await Store.connect(database_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def relay(database_url: str, redis_url: str, store: Store) -> AsyncIterator[Relay]:
    """A relay running in this event loop (tests that kill it use a subprocess instead)."""
    r = Relay(database_url=database_url, redis_url=redis_url, poll_interval=0.2)
    task = asyncio.create_task(r.run(), name="test-relay")
    for _ in range(200):
        if r.active:
            break
        await asyncio.sleep(0.02)
    try:
        yield r
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def watch_cache(redis_url: str) -> AsyncIterator[WatchCache]:
    cache = WatchCache(redis_url)
    try:
        yield cache
    finally:
        await cache.close()
