"""The relay: publishes the ``events`` outbox to Redis Streams, in revision order, exactly once.

    PostgreSQL events (outbox)            Redis
    rev 41 pods  ADDED      ──XADD──▶  labkit:stream:pods          41-0
    rev 42 nodes MODIFIED   ──XADD──▶  labkit:stream:nodes         42-0
    rev 43 pods  MODIFIED   ──XADD──▶  labkit:stream:pods          43-0
                                       labkit:relay:published = 43 (same MULTI as the XADDs)

Why it is correct:
- Single active. Any number of relays may run (one in each API server, or standalone); the
  one holding a PostgreSQL session advisory lock publishes, the others wait. The lock dies with
  its connection, so a killed relay is replaced within a poll interval.
- In order, no gaps. Writers commit in revision order (store.py), so "every event after the
  last published revision" is always a gap-free run.
- Exactly once. A batch's XADDs and the new ``published`` mark go in one MULTI/EXEC: a crash
  leaves both or neither. Entry ids are the revisions, so re-publishing after any crash is
  refused by Redis as "equal or smaller than the top item" instead of duplicated.
- Fenced. The leader writes a random epoch to Redis and every batch is WATCHed on it, so a
  relay that lost its lock without noticing cannot append behind the new leader's back.
- Rebuildable. If Redis comes back empty (no ``published`` mark), the relay republishes the
  retained window from PostgreSQL and sets the compaction mark to where it started: watchers
  older than that get 410 Expired, newer ones never notice.

Compaction: streams keep the last ``window`` revisions (XTRIM MINID); the mark
``labkit:compacted`` is raised *before* trimming so no reader trusts a range being trimmed.
PostgreSQL keeps a longer ``history`` for notebooks that replay an object's life; only events
already published are ever pruned.

Kubernetes equivalent: none — etcd's watch stream is built in. kine polls its SQL log the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.storage.streams import (
    COMPACTED_KEY,
    NOTIFY_CHANNEL,
    PUBLISHED_KEY,
    STREAM_PREFIX,
    entry_id,
    redis_client,
    stream_key,
)

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 0x6C61626B69740002
EPOCH_KEY = "labkit:relay:epoch"


def plain_dsn(database_url: str) -> str:
    """asyncpg wants ``postgresql://``; accept the SQLAlchemy spelling too."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class LostLeadership(Exception):
    """Another relay became active; stop publishing."""


class Relay:
    """Run with ``await relay.run()``; see the module docstring for the guarantees."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        window: int = 10_000,
        history: int = 200_000,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        compact_interval: float = 5.0,
    ) -> None:
        self._dsn = plain_dsn(database_url)
        self._redis_url = redis_url
        self.window = window
        self.history = history
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.compact_interval = compact_interval
        self.active = False
        self.published = 0
        self.events_published = 0
        self._epoch = ""
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Forever: wait to become the active relay, then publish until something breaks."""
        backoff = 0.1
        while True:
            try:
                await self._run_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RedisConnectionError,
                    RedisTimeoutError, LostLeadership) as exc:
                log.warning("relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, backoff)
            self.active = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _run_once(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        redis = redis_client(self._redis_url, socket_timeout=10)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                await asyncio.sleep(self.poll_interval)
            self.active = True
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            await self._claim(redis, conn)
            loop = asyncio.get_running_loop()
            next_compaction = loop.time()
            while True:
                self._wake.clear()
                while await self.publish_batch(conn, redis) == self.batch_size:
                    pass
                if loop.time() >= next_compaction:
                    await self.compact(conn, redis)
                    next_compaction = loop.time() + self.compact_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            self.active = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(redis.aclose(), 2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _claim(self, redis: aioredis.Redis, conn: asyncpg.Connection) -> None:
        """Become the writer of record in Redis; rebuild it from PostgreSQL if it was emptied."""
        self._epoch = uuid.uuid4().hex
        await redis.set(EPOCH_KEY, self._epoch)
        published = await redis.get(PUBLISHED_KEY)
        if published is not None:
            self.published = int(published)
            return
        latest, pg_compacted = await conn.fetchrow("SELECT value, compacted FROM revision")
        start = max(int(pg_compacted), int(latest) - self.window, 0)
        log.warning("relay: Redis has no published mark; rebuilding streams from revision %d", start)
        pipe = redis.pipeline(transaction=True)
        pipe.set(COMPACTED_KEY, start)
        pipe.set(PUBLISHED_KEY, start)
        await pipe.execute()
        self.published = start

    async def publish_batch(self, conn: asyncpg.Connection, redis: aioredis.Redis) -> int:
        """Publish the next run of unpublished events; return how many there were."""
        rows = await conn.fetch(
            "SELECT revision, resource, namespace, name, type, object::text AS object, prev::text AS prev "
            "FROM events WHERE revision > $1 ORDER BY revision LIMIT $2",
            self.published,
            self.batch_size,
        )
        if not rows:
            return 0
        last = int(rows[-1]["revision"])
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(EPOCH_KEY)
                epoch = await pipe.get(EPOCH_KEY)
                if epoch is None or epoch.decode() != self._epoch:
                    await self._reclaim_or_step_down(redis, conn)
                    return self.batch_size  # go round again with the new state
                pipe.multi()
                for row in rows:
                    fields = {"type": row["type"], "namespace": row["namespace"], "name": row["name"],
                              "object": row["object"]}
                    if row["prev"] is not None:
                        fields["prev"] = row["prev"]
                    pipe.xadd(stream_key(row["resource"]), fields, id=entry_id(int(row["revision"])))
                pipe.set(PUBLISHED_KEY, last)
                results = await pipe.execute(raise_on_error=False)
            except WatchError:
                raise LostLeadership("the relay epoch changed during a batch") from None
        for result in results:
            if isinstance(result, ResponseError) and "equal or smaller" not in str(result):
                raise result
        self.published = last
        self.events_published += len(rows)
        return len(rows)

    async def _reclaim_or_step_down(self, redis: aioredis.Redis, conn: asyncpg.Connection) -> None:
        # The epoch vanished (Redis restarted empty) or changed. Our lock is only still ours
        # if our PostgreSQL session is alive; prove that before writing anything.
        await conn.fetchval("SELECT 1")
        current = await redis.get(EPOCH_KEY)
        if current is not None and current.decode() != self._epoch:
            raise LostLeadership("another relay holds the epoch")
        await self._claim(redis, conn)

    async def compact(self, conn: asyncpg.Connection, redis: aioredis.Redis) -> None:
        """Trim streams to the watch window and PostgreSQL's log to the history window."""
        target = self.published - self.window
        current = int(await redis.get(COMPACTED_KEY) or 0)
        if target > current:
            await redis.set(COMPACTED_KEY, target)  # raise the mark first: see module docstring
            async for key in redis.scan_iter(match=f"{STREAM_PREFIX}*", count=100):
                await redis.xtrim(key, minid=entry_id(target + 1))
        pg_target = self.published - self.history
        if pg_target > 0:
            async with conn.transaction():
                pg_compacted = await conn.fetchval("SELECT compacted FROM revision FOR UPDATE")
                if pg_target > pg_compacted:
                    await conn.execute("DELETE FROM events WHERE revision <= $1", pg_target)
                    await conn.execute("UPDATE revision SET compacted = $1", pg_target)


async def compact_now(*, database_url: str, redis_url: str, keep: int) -> int:
    """Compact right away to keep only the last ``keep`` revisions watchable (labs, tests).
    Returns the new compaction revision. Safe beside a running relay: both only move it forward."""
    conn = await asyncpg.connect(plain_dsn(database_url), timeout=5)
    redis = redis_client(redis_url)
    try:
        published = int(await redis.get(PUBLISHED_KEY) or 0)
        target = max(published - keep, 0)
        current = int(await redis.get(COMPACTED_KEY) or 0)
        if target > current:
            await redis.set(COMPACTED_KEY, target)
            async for key in redis.scan_iter(match=f"{STREAM_PREFIX}*", count=100):
                await redis.xtrim(key, minid=entry_id(target + 1))
        return max(target, current)
    finally:
        await redis.aclose()
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.storage.relay",
                                     description="Publish the PostgreSQL outbox to Redis Streams.")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--watch-window", type=int, default=10_000,
                        help="revisions kept watchable in Redis (older watches get 410 Expired)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    relay = Relay(database_url=args.database_url, redis_url=args.redis_url, window=args.watch_window)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(relay.run())


if __name__ == "__main__":
    main()
