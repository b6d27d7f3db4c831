"""Watches on real PostgreSQL + Redis: exactly once, in order, no gaps — or 410 Expired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from orchestrator.api.errors import Expired
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.storage.relay import Relay, compact_now
from orchestrator.storage.store import Store
from orchestrator.storage.streams import WatchEvent
from orchestrator.storage.watchcache import WatchCache
from tests.factories import pod


async def collect(it: AsyncIterator[WatchEvent], *, until_revision: int, timeout: float = 30) -> list[WatchEvent]:
    seen: list[WatchEvent] = []

    async def run() -> None:
        async for ev in it:
            seen.append(ev)
            if ev.revision >= until_revision:
                return

    await asyncio.wait_for(run(), timeout)
    return seen


async def outbox(store: Store, resource: str = "pods") -> list[tuple[int, str, str]]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(
            text("SELECT revision, type, name FROM events WHERE resource = :r ORDER BY revision"), {"r": resource}
        )).all()
    return [(r.revision, r.type, r.name) for r in rows]


async def test_a_watch_from_zero_sees_every_change_of_20_concurrent_writers_exactly_once_in_order(
    store: Store, relay: Relay, watch_cache: WatchCache
) -> None:
    watch = watch_cache.watch("pods", since=0)
    first = asyncio.ensure_future(anext(watch))  # join before the writers start

    async def writer(w: int) -> None:
        for i in range(100):
            name = f"w{w}-{i % 10}"
            if i < 10:
                await store.create("pods", pod(name))
            elif i < 90:
                await store.guaranteed_update("pods", "default", name, lambda o: o)
            else:
                await store.delete("pods", "default", name)

    await asyncio.gather(*(writer(w) for w in range(20)))
    last = await store.current_revision()
    events = [await first, *await collect(watch, until_revision=last)]
    await watch.aclose()
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions)), "strictly increasing, no duplicates"
    assert [(e.revision, e.type, e.object["metadata"]["name"]) for e in events] == await outbox(store)
    assert len(events) == 20 * 100


async def test_list_then_watch_from_the_list_revision_misses_nothing(
    store: Store, relay: Relay, watch_cache: WatchCache
) -> None:
    await store.create("pods", pod("a"))
    listed = await store.list("pods")
    watch = watch_cache.watch("pods", since=listed.revision)
    nxt = asyncio.ensure_future(anext(watch))
    b = await store.create("pods", pod("b"))
    event = await asyncio.wait_for(nxt, 10)
    await watch.aclose()
    assert (event.type, event.object["metadata"]["name"], event.revision) == ("ADDED", "b", int(b["metadata"]["resourceVersion"]))


async def test_watch_carries_the_resource_version_as_the_stream_entry_id(
    store: Store, relay: Relay, redis_url: str
) -> None:
    created = await store.create("pods", pod("a"))
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    for _ in range(100):
        entries = await client.xrange("labkit:stream:pods")
        if entries:
            break
        await asyncio.sleep(0.05)
    await client.aclose()
    assert entries[0][0] == f"{created['metadata']['resourceVersion']}-0"
    assert entries[0][1]["type"] == "ADDED" and entries[0][1]["name"] == "a"


async def test_selectors_turn_entering_and_leaving_into_added_and_deleted(
    store: Store, relay: Relay, watch_cache: WatchCache
) -> None:
    start = await store.current_revision()
    watch = watch_cache.watch("pods", since=start, field_selector=FieldSelector.parse("spec.nodeName=n1", group_resource="pods"),
                              label_selector=LabelSelector.parse("app=web"))
    p = await store.create("pods", pod("a", labels={"app": "web"}))  # not bound: not selected
    p["spec"]["nodeName"] = "n1"
    p = await store.update("pods", p)  # bound to n1: enters
    p["metadata"]["labels"]["extra"] = "1"
    p = await store.update("pods", p)  # still selected
    p["metadata"]["labels"]["app"] = "db"
    p = await store.update("pods", p)  # leaves
    await store.delete("pods", "default", "a")  # already outside: nothing
    events = await collect(watch, until_revision=int(p["metadata"]["resourceVersion"]))
    await watch.aclose()
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]


async def test_a_watch_from_before_the_compaction_revision_is_expired(
    store: Store, relay: Relay, watch_cache: WatchCache, database_url: str, redis_url: str
) -> None:
    for i in range(5):
        await store.create("pods", pod(f"p{i}"))
    last = await store.current_revision()
    while relay.published < last:
        await asyncio.sleep(0.02)
    compacted = await compact_now(database_url=database_url, redis_url=redis_url, keep=2)
    assert compacted == last - 2
    with pytest.raises(Expired, match="too old resource version"):
        await anext(watch_cache.watch("pods", since=1))
    # a watch inside the window still works, from the stream
    events = await collect(watch_cache.watch("pods", since=compacted), until_revision=last)
    assert [e.revision for e in events] == [last - 1, last]


async def test_a_watch_older_than_the_memory_buffer_is_served_from_the_stream(
    store: Store, relay: Relay, redis_url: str
) -> None:
    cache = WatchCache(redis_url, buffer_size=3)
    try:
        start = await store.current_revision()
        live = cache.watch("pods", since=start)  # starts the reader
        first = asyncio.ensure_future(anext(live))
        for i in range(10):
            await store.create("pods", pod(f"p{i}"))
        last = await store.current_revision()
        await collect(live, until_revision=last)
        await first
        late = await collect(cache.watch("pods", since=start), until_revision=last)
        assert [e.revision for e in late] == list(range(start + 1, last + 1))
    finally:
        await cache.close()


async def test_a_patient_watcher_gets_every_change_in_order_from_batched_reads_and_an_ordinary_one_is_served(
    store: Store, relay: Relay, watch_cache: WatchCache
) -> None:
    # Only a patient watcher: the reader reads what accumulated a quarter second at a time.
    patient = watch_cache.watch("pods", since=await store.current_revision(), patient=True)
    first = asyncio.ensure_future(anext(patient))
    await asyncio.sleep(0.1)  # the reader has started and is pausing
    for i in range(30):
        await store.create("pods", pod(f"p{i}"))
    await store.delete("pods", "default", "p0")
    last = await store.current_revision()
    events = [await asyncio.wait_for(first, 10), *await collect(patient, until_revision=last)]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == (
        [("ADDED", f"p{i}") for i in range(30)] + [("DELETED", "p0")])
    reads = watch_cache.stats()["pods"]["reads"]
    assert reads < 15, f"31 events took {reads} reads: the patient reader did not batch"

    # An ordinary watcher joining gets its events too (the reader stops pausing for it).
    ordinary = watch_cache.watch("pods", since=last)
    nxt = asyncio.ensure_future(anext(ordinary))
    created = await store.create("pods", pod("q"))
    event = await asyncio.wait_for(nxt, 10)
    assert (event.type, event.revision) == ("ADDED", int(created["metadata"]["resourceVersion"]))
    await ordinary.aclose()
    await patient.aclose()


async def test_a_watcher_with_a_deadline_takes_events_without_a_task_each_and_a_timeout_loses_nothing(
    store: Store, relay: Relay, watch_cache: WatchCache
) -> None:
    # The API server's watch loop waits with its bookmark interval as the deadline. A timed-out
    # wait must leave the queue intact, and taking an event must not cost a task (docs/benchmarks.md).
    since = await store.current_revision()
    watcher = await watch_cache.subscribe("pods", since=since, namespace="default")
    try:
        assert await watcher.next(0.05) is None  # nothing yet: the deadline passes
        created = [await store.create("pods", pod(f"t-{i}")) for i in range(50)]
        last = int(created[-1]["metadata"]["resourceVersion"])
        first = await watcher.next(10)  # the relay publishes in batches: wait for the first
        assert first is not None
        await asyncio.wait_for(_until(lambda: watcher.progress() is None and watch_cache.stats()["pods"]["position"] >= last), 10)
        loop = asyncio.get_running_loop()
        factory, tasks = loop.get_task_factory(), 0

        def counting(loop_: asyncio.AbstractEventLoop, coro, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal tasks
            tasks += 1
            return asyncio.Task(coro, loop=loop_, **kwargs) if factory is None else factory(loop_, coro, **kwargs)

        loop.set_task_factory(counting)
        try:
            rest = [await watcher.next(10) for _ in range(49)]
        finally:
            loop.set_task_factory(factory)
        assert tasks == 0, f"{tasks} tasks for 49 queued events"
        names = [e.object["metadata"]["name"] for e in [first, *rest] if e is not None]
        assert names == [f"t-{i}" for i in range(50)]
        assert await watcher.next(0.05) is None
        assert watcher.progress() is not None and watcher.progress() >= last  # type: ignore[operator]
    finally:
        watcher.close()
    assert watch_cache.stats()["pods"]["watchers"] == 0


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    while not condition():
        await asyncio.sleep(0.02)


async def test_ready_takes_what_is_queued_in_order_and_an_overflowed_watcher_gets_its_events_then_expired(
    store: Store, relay: Relay, redis_url: str
) -> None:
    # The API server sends a watcher's queued events in one write (`Watcher.ready`); a watcher that
    # overflowed gets what was queued before its Expired, then the Expired (and relists).
    cache = WatchCache(redis_url, queue_size=5)  # a queue of 16 (the least `subscribe` gives)
    try:
        since = await store.current_revision()
        watcher = await cache.subscribe("pods", since=since)
        created = [await store.create("pods", pod(f"q-{i}")) for i in range(8)]
        last = int(created[-1]["metadata"]["resourceVersion"])
        await asyncio.wait_for(_until(lambda: cache.stats()["pods"]["position"] >= last), 10)
        first = watcher.ready(3)
        rest = watcher.ready(100)
        assert [e.object["metadata"]["name"] for e in [*first, *rest]] == [f"q-{i}" for i in range(8)]
        assert len(first) == 3 and watcher.ready(10) == []
        watcher.close()

        overflowing = await cache.subscribe("pods", since=last)
        more = [await store.create("pods", pod(f"o-{i}")) for i in range(20)]
        await asyncio.wait_for(_until(lambda: cache.stats()["pods"]["position"] >= int(more[-1]["metadata"]["resourceVersion"])), 10)
        # 16 queued, the 17th overflowed: the reader dropped the oldest to make room for Expired.
        delivered = overflowing.ready(100)
        assert [e.object["metadata"]["name"] for e in delivered] == [f"o-{i}" for i in range(1, 16)]
        with pytest.raises(Expired):
            await overflowing.next(1)
    finally:
        await cache.close()
