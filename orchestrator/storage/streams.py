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

from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.api.jsontext import loads_stored

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


class WatchEvent:
    """One committed change, as the store's watch delivers it.

    Read from a stream entry, ``object`` and ``prev`` stay JSON text until first used: a watcher
    that only looks at ``type`` (the deleted-object cache of ServiceAccount tokens) costs no
    decoding, and the watch cache's ring buffer keeps ``undecoded()`` events, so the garbage
    collector does not traverse thousands of decoded objects on every full collection."""

    __slots__ = ("type", "revision", "_object", "_prev", "_object_text", "_prev_text")

    def __init__(self, type: EventType, object: dict[str, Any], revision: int,  # noqa: A002
                 prev: dict[str, Any] | None = None) -> None:
        self.type = type
        self.revision = revision
        self._object: dict[str, Any] | None = object
        self._prev = prev
        self._object_text: str | None = None
        self._prev_text: str | None = None

    @property
    def object(self) -> dict[str, Any]:
        obj = self._object
        if obj is None:
            obj = self._object = loads_stored(self._object_text or "{}")
        return obj

    @property
    def prev(self) -> dict[str, Any] | None:
        if self._prev is None and self._prev_text is not None:
            self._prev = loads_stored(self._prev_text)
        return self._prev

    def undecoded(self) -> WatchEvent:
        """The same change holding only its JSON text, when it was read from a stream: what a
        long-lived buffer keeps, so that the decoded objects go when the watchers are done."""
        if self._object_text is None:
            return self
        twin = WatchEvent.__new__(WatchEvent)
        twin.type, twin.revision = self.type, self.revision
        twin._object = twin._prev = None
        twin._object_text, twin._prev_text = self._object_text, self._prev_text
        return twin

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WatchEvent):
            return NotImplemented
        return (self.type, self.revision, self.object, self.prev) == (other.type, other.revision, other.object, other.prev)

    __hash__ = None  # type: ignore[assignment]  # mutable contents, as the frozen dataclass's were

    def __repr__(self) -> str:
        return f"WatchEvent(type={self.type!r}, object={self.object!r}, revision={self.revision!r}, prev={self.prev!r})"

    @classmethod
    def from_entry(cls, entry_id_: str | bytes, fields: dict[Any, Any]) -> WatchEvent:
        def field(name: str) -> str | None:
            value = fields.get(name, fields.get(name.encode()))
            return value.decode() if isinstance(value, bytes) else value

        event = cls.__new__(cls)
        event.type = field("type")  # type: ignore[assignment]
        event.revision = revision_of(entry_id_)
        event._object, event._object_text = None, field("object") or "{}"
        event._prev, event._prev_text = None, field("prev") or None
        return event
