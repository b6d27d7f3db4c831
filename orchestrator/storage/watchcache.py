"""The watch cache: one Redis reader per resource, fanned out in memory to every watcher.

A hundred ``kubectl get pods -w`` cost one ``XREAD`` on ``labkit:stream:pods``, not a hundred.
Each reader keeps the most recent events in a ring buffer, so a watcher that starts a little
in the past (the usual "list at R, then watch from R") is served from memory; one further back
is served from the stream with XRANGE; one older than the compaction mark gets ``Expired``.

Guarantees to a watcher from revision R: every change of the resource with revision > R,
exactly once, in revision order — or an ``Expired`` error, never a silent gap:
- joining is atomic: the backlog is copied from the buffer and the watcher registered with no
  ``await`` in between, so no event can slip between "backlog" and "live";
- a reader that loses Redis reconnects and continues from its last id; if Redis came back
  emptied and rebuilt from a later revision than the reader had reached (the compaction mark
  is above its position), every watcher of that resource gets ``Expired`` and must relist;
- a watcher that cannot keep up (its queue is full) is ended with ``Expired`` as well
  (Kubernetes closes such watchers too); it resumes from its last resourceVersion.

Reading costs a round trip to Redis per wake-up, so a reader wakes for each new entry only while
some watcher waits for it. A *patient* watcher (an internal follower such as the API server's
deleted-object cache for ServiceAccount tokens) takes its events up to PATIENT_SECONDS late: a
reader that serves only patient watchers, or none, reads what accumulated that often, in one round
trip, and wakes at once when an ordinary watcher joins.

Selectors are applied the Kubernetes way, with the previous state carried in each event: an
object that starts matching arrives as ADDED, one that stops matching as DELETED.

**Progress** (what a BOOKMARK may say): each read asks Redis for the relay's ``published`` mark
*before* its XREAD, in the same round trip. The relay raises that mark in the same MULTI as the
entries it publishes, so every change of this resource up to the mark is in the stream when the
XREAD runs; a read that was not cut short by its batch size has them all. A watcher whose queue
is empty has then seen everything up to the mark, though its resource has not changed since: a
quiet watcher's resourceVersion moves on with the cluster's, and when its watch ends it watches
again from a revision still in the window, instead of getting 410 and listing everything again
(kube-apiserver's bookmarks do this with etcd's progress notifications).

Kubernetes equivalent: k8s.io/apiserver/pkg/storage/cacher/cacher.go
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.api.errors import Expired, Unavailable
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.storage.streams import (
    COMPACTED_KEY,
    PUBLISHED_KEY,
    WatchEvent,
    entry_id,
    redis_client,
    stream_key,
)
from orchestrator.storage.transform import ValueTransformer

log = logging.getLogger(__name__)

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
PATIENT_SECONDS = 0.25


def too_old(revision: int, compacted: int) -> Expired:
    return Expired(f"too old resource version: {revision} ({compacted + 1})")


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[WatchEvent | BaseException]
    closed: bool = False
    patient: bool = False  # takes events up to PATIENT_SECONDS late (see the module docstring)
    seen: int = 0  # the subscriber has (queued) every change it needs up to this revision


@dataclass(eq=False)
class _StreamReader:
    """Reads one resource's stream and hands each event to every subscriber."""

    resource: str
    redis: aioredis.Redis
    buffer_size: int
    position: int = 0  # the last revision read from the stream
    progress: int = 0  # every change of this resource up to this revision has been read (module docstring)
    floor: int = 0  # the buffer holds every event of this stream with revision > floor
    buffer: deque[WatchEvent] = field(default_factory=deque)
    subscribers: set[_Subscriber] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    events_read: int = 0
    reads: int = 0  # round trips to Redis that brought entries
    stopping: bool = False
    # Set when an ordinary watcher joins or the reader stops: ends a patient reader's pause.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Turns a stream entry into the event watchers get (decrypting it, for encrypted resources).
    decode: Callable[[str | bytes, dict[Any, Any]], WatchEvent] = WatchEvent.from_entry

    async def start(self) -> None:
        last = await self.redis.xrevrange(stream_key(self.resource), count=1)
        compacted = int(await self.redis.get(COMPACTED_KEY) or 0)
        self.position = WatchEvent.from_entry(*last[0]).revision if last else compacted
        self.floor = self.position
        self.task = asyncio.create_task(self._loop(), name=f"watchcache-reader-{self.resource}")

    async def _loop(self) -> None:
        backoff = 0.05
        batch = 1000
        full = False
        while not self.stopping:
            if not full and not any(not sub.patient for sub in self.subscribers):
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), PATIENT_SECONDS)
                if self.stopping:
                    break
            try:
                # One round trip: the mark is read right *after* the entries (a relay rebuilding
                # an emptied Redis raises the mark before it appends, so a rebuilt range can never
                # pass unnoticed). Short blocks so `stop()` returns promptly: cancelling a blocked
                # XREAD can leave redis-py waiting on the connection it is tearing down.
                # The published mark is read *before* the entries: see "Progress" above.
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(PUBLISHED_KEY)
                    pipe.xread({stream_key(self.resource): entry_id(self.position)}, block=500, count=batch)
                    pipe.get(COMPACTED_KEY)
                    published, reply, mark = await pipe.execute()
                backoff = 0.05
                if not reply:
                    full = False
                    if mark is not None and published is not None:
                        # A mark past all we know of means a rebuilt or trimmed stream: what it
                        # lost must end our watchers before any bookmark claims to be past it.
                        self._check_gap(int(mark))
                        self._advance(int(published))
                    continue
            except asyncio.CancelledError:
                raise
            except _REDIS_DOWN as exc:
                log.warning("watch cache %s: Redis unavailable (%s); retrying", self.resource, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if mark is None:  # emptied again since: read once more when a relay has rebuilt it
                await asyncio.sleep(0.05)
                continue
            self._check_gap(int(mark))
            self.reads += 1
            for _stream, entries in reply:
                full = len(entries) >= batch  # more may be waiting: read on without a pause
                for eid, fields in entries:
                    self._deliver(self.decode(eid, fields))
            if not full and published is not None:
                self._advance(max(int(published), self.position))

    def _advance(self, revision: int) -> None:
        """Every change of this resource up to `revision` has been read and queued to every
        watcher (see "Progress" in the module docstring)."""
        self.progress = max(self.progress, revision)
        for sub in self.subscribers:
            sub.seen = max(sub.seen, self.progress)

    def _check_gap(self, mark: int) -> None:
        """Events up to the compaction mark may be gone. A reader behind the mark (Redis was
        emptied and rebuilt past what it had read, or it fell a whole window behind) may have
        missed some, so every watcher that still needed one must relist; a watcher that has
        everything up to the mark (it joined from a revision at or after it) loses nothing. What
        the reader has read is its position or, for a quiet resource, its progress: ordinary
        compaction passes a quiet stream's last entry without anything being lost."""
        if mark > max(self.position, self.progress):
            behind = [sub for sub in self.subscribers if sub.seen < mark]
            log.warning("watch cache %s: the stream now starts after revision %d, past our position %d; "
                        "expiring %d of %d watchers", self.resource, mark, self.position, len(behind),
                        len(self.subscribers))
            error = too_old(self.position, mark)
            for sub in behind:
                self._drop(sub, error)
            self.position = self.floor = mark
            self.buffer.clear()

    async def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        if self.task is not None:
            done, _ = await asyncio.wait([self.task], timeout=2.0)
            if not done:
                self.task.cancel()

    def _deliver(self, event: WatchEvent) -> None:
        if event.revision <= self.position:
            return  # a rebuilt stream replaying entries we already have
        self.position = event.revision
        self.events_read += 1
        # Undecoded in the buffer: the watchers below share `event`, decoded once, and its decoded
        # objects go when they are done with it (the garbage collector's work grows with them).
        self.buffer.append(event.undecoded())
        if len(self.buffer) > self.buffer_size:
            self.floor = self.buffer.popleft().revision
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(event)
                sub.seen = max(sub.seen, event.revision)
            except asyncio.QueueFull:
                self._drop(sub, Expired("the watcher fell too far behind; watch again from the last resourceVersion"))

    def _drop(self, sub: _Subscriber, error: BaseException) -> None:
        self.subscribers.discard(sub)
        sub.closed = True
        # make room so the error is seen right after what was already queued
        while sub.queue.full():
            sub.queue.get_nowait()
        sub.queue.put_nowait(error)

    def expire_all(self, error: Expired) -> None:
        for sub in list(self.subscribers):
            self._drop(sub, error)


class WatchCache:
    """Watches over Redis Streams for every resource; one per API server process."""

    # A watcher's queue holds references to events every watcher shares, so a long one is cheap; it
    # must outlast a stall of the API server. 2,048 (20 s of a 30,000-pod rollout's ~100 pod events
    # a second) let every pod watcher of a density run overflow at once, and their seven relists of
    # 20,000 pods stalled the server long enough for the next overflow (docs/benchmarks.md).
    def __init__(self, redis_url: str, *, buffer_size: int = 4096, queue_size: int = 16384,
                 relay_wait_seconds: float = 10.0, transformer: ValueTransformer | None = None) -> None:
        self._redis = redis_client(redis_url, socket_timeout=30, max_connections=64)
        self._transformer = transformer
        self._transformed = frozenset(transformer.resources) if transformer is not None else frozenset()
        self._buffer_size = buffer_size
        self._queue_size = queue_size
        self._relay_wait = relay_wait_seconds
        self._readers: dict[str, _StreamReader] = {}
        self._starting: dict[str, asyncio.Lock] = {}

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    async def close(self) -> None:
        for reader in self._readers.values():
            reader.expire_all(Expired("the API server is shutting down; watch again"))
            await reader.stop()
        self._readers.clear()
        await self._redis.aclose()

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            r: {"watchers": len(rd.subscribers), "position": rd.position, "buffered": len(rd.buffer),
                "events_read": rd.events_read, "reads": rd.reads}
            for r, rd in self._readers.items()
        }

    async def compacted_revision(self) -> int:
        """The compaction mark; waits briefly for a relay to set it after Redis was emptied."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._relay_wait
        while True:
            try:
                mark = await self._redis.get(COMPACTED_KEY)
            except _REDIS_DOWN as exc:
                raise Unavailable(f"Redis is unavailable: {exc}") from exc
            if mark is not None:
                return int(mark)
            if loop.time() >= deadline:
                raise Unavailable("the watch stream is not ready: no relay has published to Redis yet")
            await asyncio.sleep(0.05)

    async def _reader(self, resource: str) -> _StreamReader:
        reader = self._readers.get(resource)
        if reader is not None:
            return reader
        lock = self._starting.setdefault(resource, asyncio.Lock())
        async with lock:
            reader = self._readers.get(resource)
            if reader is None:
                reader = _StreamReader(resource, self._redis, self._buffer_size, decode=self._decoder(resource))
                try:
                    await reader.start()
                except _REDIS_DOWN as exc:
                    raise Unavailable(f"Redis is unavailable: {exc}") from exc
                self._readers[resource] = reader
        return reader

    async def subscribe(
        self,
        resource: str,
        *,
        since: int,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        patient: bool = False,
    ) -> Watcher:
        """A watcher of every change of ``resource`` after revision ``since`` that matches, in
        order; ``patient``: each up to PATIENT_SECONDS after it was published, not at once.
        Close it when done.

        Raises Expired (here or from `Watcher.next`) when that history is no longer available."""
        labels = label_selector or LabelSelector.parse(None)
        fields = field_selector or FieldSelector.parse(None, group_resource=resource)

        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            meta = obj.get("metadata") or {}
            if namespace and meta.get("namespace") != namespace:
                return False
            return labels.matches(meta.get("labels")) and fields.matches(obj)

        # Unfiltered, _filter is the identity: skip it, and leave the object undecoded.
        everything = not namespace and labels.empty and fields.empty
        sub = await self._subscribe(resource, since, patient=patient)
        return Watcher(self._readers[resource], sub, since, None if everything else matches)

    async def watch(self, resource: str, *, since: int, **options: Any) -> AsyncIterator[WatchEvent]:
        """`subscribe` (the same options) as an async iterator, for followers that wait for events
        with no deadline."""
        watcher = await self.subscribe(resource, since=since, **options)
        try:
            while True:
                event = await watcher.next()
                assert event is not None  # no timeout: only an event or an error ends the wait
                yield event
        finally:
            watcher.close()

    def _decoder(self, resource: str) -> Callable[[str | bytes, dict[Any, Any]], WatchEvent]:
        """Stream entries of an encrypted resource hold ciphertext (the outbox row's document);
        they are decrypted once, as they enter the cache, and held in memory in clear — as
        kube-apiserver's watch cache holds decoded objects."""
        if resource not in self._transformed:
            return WatchEvent.from_entry
        transformer = self._transformer
        assert transformer is not None

        def decode(eid: str | bytes, fields: dict[Any, Any]) -> WatchEvent:
            raw = WatchEvent.from_entry(eid, fields)
            meta = raw.object.get("metadata") or {}
            ns, name = meta.get("namespace") or "", meta.get("name") or ""
            obj = transformer.from_storage(resource, ns, name, raw.object)
            prev = transformer.from_storage(resource, ns, name, raw.prev) if raw.prev is not None else None
            return WatchEvent(raw.type, obj, raw.revision, prev)

        return decode

    async def _subscribe(self, resource: str, since: int, *, patient: bool = False) -> _Subscriber:
        reader = await self._reader(resource)
        compacted = await self.compacted_revision()
        if since < compacted:
            raise too_old(since, compacted)
        backlog: list[WatchEvent] = []
        covered = since  # backlog holds every event in (since, covered]
        while covered < reader.floor:
            # Older than the ring buffer: read the gap from the stream itself.
            upto = reader.floor
            try:
                entries = await self._redis.xrange(stream_key(resource), min=entry_id(covered + 1), max=entry_id(upto))
                compacted = int(await self._redis.get(COMPACTED_KEY) or 0)
            except _REDIS_DOWN as exc:
                raise Unavailable(f"Redis is unavailable: {exc}") from exc
            if since < compacted:
                raise too_old(since, compacted)
            backlog.extend(reader.decode(eid, f) for eid, f in entries)
            covered = upto
        # No await from here on: copy what the buffer adds and register, atomically.
        backlog.extend(e.undecoded() for e in reader.buffer if e.revision > covered)
        queue: asyncio.Queue[WatchEvent | BaseException] = asyncio.Queue(maxsize=max(self._queue_size, len(backlog) + 16))
        for event in backlog:
            queue.put_nowait(event)
        # Everything up to the reader's position is in the backlog; before `since` nothing is needed.
        sub = _Subscriber(queue, patient=patient, seen=max(since, reader.position))
        reader.subscribers.add(sub)
        if not patient:
            reader.wake.set()  # a reader pausing for patient watchers reads on at once
        return sub


class Watcher:
    """One watcher of a resource (`WatchCache.subscribe`). ``next`` reads its queue directly: an
    event already queued costs no task and no timer, and a wait with a deadline (the API server's
    bookmark interval) is a timer, not a task per event as ``asyncio.wait`` on an async
    generator's ``anext`` would be (docs/benchmarks.md, watch delivery)."""

    def __init__(self, reader: _StreamReader, sub: _Subscriber, since: int,
                 matches: Callable[[dict[str, Any] | None], bool] | None) -> None:
        self._reader = reader
        self._sub = sub
        self._since = since
        self._matches = matches

    async def next(self, timeout: float | None = None) -> WatchEvent | None:
        """The next matching event, or None when ``timeout`` seconds pass first.

        Raises Expired when this watcher's history was lost (it must relist)."""
        queue = self._sub.queue
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            if not queue.empty():
                item = queue.get_nowait()
            elif deadline is None:
                item = await queue.get()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await queue.get()  # cancellation leaves the queue intact
                except TimeoutError:
                    return None
            out = self._take(item)
            if out is not None:
                return out

    def ready(self, limit: int) -> list[WatchEvent]:
        """Up to ``limit`` more matching events that are already queued, without waiting: a
        watcher that fell behind sends them in one write instead of one each.

        Raises Expired as `next` does, once the events queued before it are taken."""
        out: list[WatchEvent] = []
        queue = self._sub.queue
        while len(out) < limit and not queue.empty():
            item = queue.get_nowait()
            if isinstance(item, BaseException) and out:
                # Deliver what came before the error first; it is raised on the next call. The
                # reader dropped this watcher, so nothing follows the error, and there is room.
                queue.put_nowait(item)
                return out
            event = self._take(item)
            if event is not None:
                out.append(event)
        return out

    def _take(self, item: WatchEvent | BaseException) -> WatchEvent | None:
        """What a queued item is for this watcher: the error that ended it (raised), an event
        it already has or that does not match (None), or the event as its selectors see it."""
        if isinstance(item, BaseException):
            raise item
        if item.revision <= self._since:
            return None
        self._since = item.revision
        return item if self._matches is None else _filter(item, self._matches)

    def progress(self) -> int | None:
        """How far this watcher is known to have every change, for a BOOKMARK (the module
        docstring): None while events wait in its queue."""
        if self._sub.closed or not self._sub.queue.empty():
            return None
        return self._reader.progress or None

    def close(self) -> None:
        self._reader.subscribers.discard(self._sub)


def _filter(event: WatchEvent, matches: Any) -> WatchEvent | None:
    """Kubernetes' selector transitions: entering the selection is ADDED, leaving it DELETED."""
    now = matches(event.object)
    if event.type == "ADDED":
        return event if now else None
    if event.type == "DELETED":
        return event if matches(event.prev if event.prev is not None else event.object) else None
    before = matches(event.prev) if event.prev is not None else now
    if now and before:
        return event
    if now:
        return WatchEvent("ADDED", event.object, event.revision, event.prev)
    if before:
        return WatchEvent("DELETED", event.object, event.revision, event.prev)
    return None
