"""Faults on the watch path: the relay killed between commit and publish, Redis killed and
restarted empty. Nothing committed is lost; watchers see every change once, or get Expired."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.api.errors import Expired
from orchestrator.lab import components
from orchestrator.lab.embedded.redis import start_redis, stop_redis
from orchestrator.lab.home import LabHome
from orchestrator.storage.relay import Relay
from orchestrator.storage.store import Store
from orchestrator.storage.streams import WatchEvent
from orchestrator.storage.watchcache import WatchCache
from tests.factories import pod


async def outbox_revisions(store: Store) -> list[int]:
    async with store.engine.connect() as conn:
        return [r[0] for r in (await conn.execute(text("SELECT revision FROM events WHERE resource = 'pods' ORDER BY revision"))).all()]


async def drain(watch, *, until: int, timeout: float = 30) -> list[WatchEvent]:  # type: ignore[no-untyped-def]
    seen: list[WatchEvent] = []

    async def run() -> None:
        async for ev in watch:
            seen.append(ev)
            if ev.revision >= until:
                return

    await asyncio.wait_for(run(), timeout)
    return seen


@contextlib.asynccontextmanager
async def relayed(database_url: str, redis_url: str, *, window: int) -> AsyncIterator[WatchCache]:
    """A relay publishing to `redis_url` with a small window, and a watch cache reading it."""
    relay = Relay(database_url=database_url, redis_url=redis_url, window=window, poll_interval=0.1)
    relay_task = asyncio.create_task(relay.run())
    cache = WatchCache(redis_url)
    try:
        yield cache
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await cache.close()


def start_relay_process(database_url: str, redis_url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        components.Relay(database_url=database_url, redis_url=redis_url).argv(),
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


async def test_a_relay_killed_between_commit_and_publish_loses_and_repeats_nothing(
    store: Store, database_url: str, redis_url: str, watch_cache: WatchCache, tmp_path: Path
) -> None:
    log = tmp_path / "relay.log"
    relay = start_relay_process(database_url, redis_url, log)
    try:
        watch = watch_cache.watch("pods", since=0)
        first = asyncio.ensure_future(anext(watch))
        for i in range(50):
            await store.create("pods", pod(f"before-{i}"))
        os.kill(relay.pid, signal.SIGKILL)  # possibly mid-batch
        relay.wait()
        # committed while no relay runs: in PostgreSQL, not yet in Redis
        for i in range(50):
            await store.create("pods", pod(f"during-{i}"))
        relay = start_relay_process(database_url, redis_url, log)
        for i in range(50):
            await store.create("pods", pod(f"after-{i}"))
        last = await store.current_revision()
        events = [await asyncio.wait_for(first, 30), *await drain(watch, until=last)]
        await watch.aclose()
    finally:
        relay.kill()
        relay.wait()
    revisions = [e.revision for e in events]
    assert revisions == await outbox_revisions(store)
    assert len(revisions) == len(set(revisions)) == 150


@pytest.fixture
def private_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    home = LabHome(tmp_path / "home")
    server = start_redis(home)
    yield home, server
    stop_redis(home)


async def test_redis_restarted_empty_is_rebuilt_and_watchers_inside_the_window_continue(
    store: Store, database_url: str, private_redis
) -> None:
    home, server = private_redis
    async with relayed(database_url, server.url, window=50) as cache:
        for i in range(10):
            await store.create("pods", pod(f"a-{i}"))
        watch = cache.watch("pods", since=0)
        seen = await drain(watch, until=await store.current_revision())
        os.kill(server.pid, signal.SIGKILL)
        for i in range(5):  # fewer than the window: the rebuild covers the watcher's position
            await store.create("pods", pod(f"b-{i}"))
        start_redis(home, port=server.port)
        for i in range(5):
            await store.create("pods", pod(f"c-{i}"))
        seen += await drain(watch, until=await store.current_revision())
        await watch.aclose()
        assert [e.revision for e in seen] == await outbox_revisions(store)


async def test_redis_restarted_empty_after_the_window_moved_on_expires_watchers_and_a_relist_converges(
    store: Store, database_url: str, private_redis
) -> None:
    home, server = private_redis
    async with relayed(database_url, server.url, window=20) as cache:
        await store.create("pods", pod("first"))
        watch = cache.watch("pods", since=0)
        await drain(watch, until=await store.current_revision())
        os.kill(server.pid, signal.SIGKILL)
        for i in range(40):  # more than the window: the rebuild starts after the watcher's position
            await store.create("pods", pod(f"b-{i}"))
        start_redis(home, port=server.port)
        with pytest.raises(Expired):
            await drain(watch, until=await store.current_revision())
        # what a client does on 410: list, then watch from the list's revision
        listed = await store.list("pods")
        assert len(listed.items) == 41
        rewatch = cache.watch("pods", since=listed.revision)
        created = await store.create("pods", pod("after-relist"))
        events = await drain(rewatch, until=int(created["metadata"]["resourceVersion"]))
        await rewatch.aclose()
        assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "after-relist")]


async def test_a_quiet_watcher_whose_change_was_lost_with_redis_is_expired_not_bookmarked_past_it(
    store: Store, database_url: str, private_redis
) -> None:
    # A quiet resource's reader reads nothing after the rebuild, and the published mark jumps past
    # the ConfigMap written while Redis was down (the rebuild starts after it): its watcher must get
    # Expired and relist, not a bookmark (cursor progress) that claims it has seen that revision.
    home, server = private_redis
    async with relayed(database_url, server.url, window=20) as cache:
        before = await store.create("configmaps", {"metadata": {"name": "before", "namespace": "default"}})
        watcher = await cache.subscribe("configmaps", since=int(before["metadata"]["resourceVersion"]))
        waiting = asyncio.ensure_future(watcher.next())
        for i in range(3):  # the cluster moves on; the quiet watcher's progress with it
            await store.create("pods", pod(f"a-{i}"))
        moved = await store.current_revision()
        await asyncio.wait_for(_until(lambda: (watcher.progress() or 0) >= moved), 10)
        os.kill(server.pid, signal.SIGKILL)
        lost = await store.create("configmaps", {"metadata": {"name": "lost", "namespace": "default"}})
        for i in range(40):  # more than the window: the rebuild starts after the ConfigMap
            await store.create("pods", pod(f"b-{i}"))
        start_redis(home, port=server.port)
        with pytest.raises(Expired):
            await asyncio.wait_for(waiting, 30)
        assert (watcher.progress() or 0) < int(lost["metadata"]["resourceVersion"])
        watcher.close()


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    while not condition():
        await asyncio.sleep(0.05)
