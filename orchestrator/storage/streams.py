"""Names and shapes shared by the relay (writer) and the watch cache (reader) of Redis.

One stream per resource, ``labkit:stream:<group_resource>`` (``labkit:stream:pods``,
``labkit:stream:deployments.apps``). The entry id of the change with revision R is ``R-0``, so
a learner who sees ``resourceVersion: "1042"`` finds the entry ``1042-0``. Each entry has the
fields ``type`` (ADDED/MODIFIED/DELETED), ``namespace``, ``name``, ``object`` and, for
MODIFIED and DELETED, ``prev`` (JSON text of the state before the change: a watch with a
selector needs it to tell "left the selection" from "changed outside it").

Two plain keys complete the picture:
    labkit:relay:published   the newest revision the relay has published (to every stream)
    labkit:compacted         the compaction revision: every change with a greater revision is
                             still in its stream; a watch from an older revision gets 410 Expired
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

STREAM_PREFIX = "labkit:stream:"
PUBLISHED_KEY = "labkit:relay:published"
COMPACTED_KEY = "labkit:compacted"
NOTIFY_CHANNEL = "labkit_events"


def redis_client(url: str, **options: Any) -> aioredis.Redis:
    """A Redis client that retries a command on a fresh connection after Redis restarted:
    pooled connections to the old process are dead, and the first use of each must not
    fail a watch that could simply go on."""
    max_connections = options.pop("max_connections", 64)
    # Blocking pool: a burst of new watches waits for a connection instead of failing with
    # "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=20, socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError], **options,
    )
    return aioredis.Redis(connection_pool=pool)


def stream_key(group_resource: str) -> str:
    return f"{STREAM_PREFIX}{group_resource}"


def entry_id(revision: int) -> str:
    return f"{revision}-0"


def revision_of(entry_id_: str | bytes) -> int:
    text = entry_id_.decode() if isinstance(entry_id_, bytes) else entry_id_
    return int(text.split("-", 1)[0])


@dataclass(frozen=True)
class WatchEvent:
    """One committed change, as the store's watch delivers it."""

    type: EventType
    object: dict[str, Any]
    revision: int
    prev: dict[str, Any] | None = None

    def to_fields(self) -> dict[str, str]:
        meta = self.object.get("metadata") or {}
        fields = {
            "type": self.type,
            "namespace": meta.get("namespace") or "",
            "name": meta.get("name") or "",
            "object": json.dumps(self.object, separators=(",", ":")),
        }
        if self.prev is not None:
            fields["prev"] = json.dumps(self.prev, separators=(",", ":"))
        return fields

    @classmethod
    def from_entry(cls, entry_id_: str | bytes, fields: dict[Any, Any]) -> WatchEvent:
        def field(name: str) -> str | None:
            value = fields.get(name, fields.get(name.encode()))
            return value.decode() if isinstance(value, bytes) else value

        prev = field("prev")
        return cls(
            type=field("type"),  # type: ignore[arg-type]
            object=json.loads(field("object") or "{}"),
            revision=revision_of(entry_id_),
            prev=json.loads(prev) if prev else None,
        )
