"""Recording Events: the "why" a component leaves on an object for ``kubectl describe`` to show.

``recorder.event(pod, "Warning", "FailedScheduling", "0/3 nodes are available: ...")`` returns at
once and never raises: reporting must not break the work being reported on. The event is
queued; the recorder's `run` task (owned by the component, like every long-lived task) sends
it as a core/v1 Event:

- ``metadata.name`` is ``<object name>.<16 hex digits>`` (the time in nanoseconds, as
  client-go), in the object's namespace — ``default`` for cluster-scoped objects like Nodes;
- ``involvedObject`` names the object (kind, namespace, name, uid, apiVersion,
  resourceVersion), ``source.component`` / ``reportingComponent`` the component;
- ``firstTimestamp``, ``lastTimestamp`` and ``count`` say how often and when it happened.

**Aggregation**: a component in a retry loop would otherwise write the same event over and
over. The same event again — same object, type, reason and message — within 10 minutes of its
last occurrence is not a new Event: the recorder PATCHes the existing one's ``count`` and
``lastTimestamp`` (``"Warning  FailedScheduling  3m (x12 over 10m)"`` in ``describe``). If
that Event is gone (expired by the server), a new one is created.

Sending retries a few times when the server is unavailable, then drops the event with a log
line; any other error drops it at once. Events are best-effort by design, in Kubernetes too.
If the queue is full (the server is down for long), new events are dropped, never blocking.

Kubernetes equivalent: k8s.io/client-go/tools/record (event.go, events_cache.go).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.api.errors import ApiError, NotFound, Unavailable
from orchestrator.api.timestamps import rfc3339
from orchestrator.client.clock import Clock, LoopClock
from orchestrator.client.rest import ApiClient, resource_info

__all__ = ["EventRecorder", "EventType", "format_time"]

log = logging.getLogger(__name__)

EVENTS = resource_info("events")
EventType = Literal["Normal", "Warning"]
EVENT_TYPES = ("Normal", "Warning")

AGGREGATION_WINDOW = dt.timedelta(minutes=10)
CACHE_SIZE = 4096  # client-go's maxLruCacheEntries


format_time = rfc3339  # ``2024-05-01T12:00:00Z`` (metav1.Time), orchestrator/api/timestamps.py


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _Pending:
    """One call of `event`, as captured at the moment it happened."""

    key: tuple[str, ...]
    event: dict[str, Any]
    at: dt.datetime


@dataclass
class _Seen:
    """What the aggregation needs of an Event already written."""

    name: str
    namespace: str
    count: int
    last: dt.datetime
    first_timestamp: str = field(default="")


class EventRecorder:
    """Queue events with `event`; run `run` as an owned task to send them."""

    def __init__(
        self,
        client: ApiClient,
        *,
        component: str,
        host: str | None = None,
        max_queued: int = 1000,
        send_attempts: int = 3,
        retry_delay: float = 1.0,
        wall_clock: Callable[[], dt.datetime] = _utc_now,
        clock: Clock | None = None,
    ) -> None:
        if not component:
            raise ValueError("component is required, e.g. 'default-scheduler'")
        self.client = client
        self.component = component
        self.host = host
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queued)
        self._attempts = max(1, send_attempts)
        self._retry_delay = retry_delay
        self._wall = wall_clock
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._last_nanos = 0
        self.dropped = 0  # events given up on: a number for status pages and tests

    def __repr__(self) -> str:
        return f"<EventRecorder {self.component} queued={self._queue.qsize()}>"

    def event(self, obj: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
        """Record that `reason` happened to `obj`. Returns at once; never raises."""
        try:
            self._enqueue(obj, type_, reason, message)
        except Exception:
            # Reporting must never break the caller; a bug here shows in the log instead.
            self.dropped += 1
            log.exception("%s: could not record event %s on %.200r", self, reason, obj)

    async def run(self) -> None:
        """Send queued events until cancelled."""
        while True:
            pending = await self._queue.get()
            try:
                await self._send(pending)
            except ApiError as err:
                self.dropped += 1
                log.warning("%s: dropped event %s: %s", self, pending.event["reason"], err)
            except Exception:
                self.dropped += 1
                log.exception("%s: dropped event %s", self, pending.event["reason"])
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every event queued so far has been sent or given up on (needs `run`)."""
        await self._queue.join()

    # --- building ---------------------------------------------------------------------------

    def _enqueue(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if type_ not in EVENT_TYPES:
            self.dropped += 1
            log.error("%s: unsupported event type %r (want Normal or Warning); not recorded", self, type_)
            return
        meta = obj.get("metadata") or {}
        kind, name = obj.get("kind"), meta.get("name")
        if not kind or not name:
            self.dropped += 1
            log.error("%s: cannot reference an object without kind and name (%r); event %s not recorded",
                      self, meta, reason)
            return
        involved = {
            "kind": kind,
            "namespace": meta.get("namespace", ""),
            "name": name,
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        now = self._wall()
        stamp = format_time(now)
        source: dict[str, str] = {"component": self.component}
        if self.host:
            source["host"] = self.host
        namespace = involved["namespace"] or "default"  # where events of cluster-scoped objects go
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{self._unique_nanos(now):x}", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host or "",
        }
        # The resourceVersion is left out of the key: the same complaint about a pod that
        # changed meanwhile is still the same complaint.
        key = (self.component, self.host or "", kind, involved["namespace"], name, involved["uid"],
               involved["apiVersion"], type_, reason, message)
        try:
            self._queue.put_nowait(_Pending(key, event, now))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("%s: event queue full; dropped %s on %s", self, reason, name)

    def _unique_nanos(self, now: dt.datetime) -> int:
        # Two events in one nanosecond (a coarse clock) would share a name: keep them distinct.
        nanos = max(int(now.timestamp() * 1e9), self._last_nanos + 1)
        self._last_nanos = nanos
        return nanos

    # --- sending ----------------------------------------------------------------------------

    async def _send(self, pending: _Pending) -> None:
        seen = self._seen.get(pending.key)
        if seen is not None and pending.at - seen.last <= AGGREGATION_WINDOW:
            seen.count += 1
            seen.last = pending.at
            self._seen.move_to_end(pending.key)
            patch = {"count": seen.count, "lastTimestamp": format_time(pending.at)}
            try:
                await self._with_retries(
                    lambda: self.client.patch(EVENTS, seen.name, patch, namespace=seen.namespace)
                )
                return
            except NotFound:
                # The server expired the Event meanwhile: start a new one, keeping the count.
                pending.event["count"] = seen.count
                pending.event["firstTimestamp"] = seen.first_timestamp or pending.event["firstTimestamp"]
        created = await self._with_retries(
            lambda: self.client.create(EVENTS, pending.event, namespace=pending.event["metadata"]["namespace"])
        )
        meta = created.get("metadata") or {}
        self._seen[pending.key] = _Seen(
            name=meta.get("name", pending.event["metadata"]["name"]),
            namespace=meta.get("namespace", pending.event["metadata"]["namespace"]),
            count=int(created.get("count") or pending.event["count"]),
            last=pending.at,
            first_timestamp=created.get("firstTimestamp") or pending.event["firstTimestamp"],
        )
        self._seen.move_to_end(pending.key)
        while len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)

    async def _with_retries(self, call: Callable[[], Any]) -> dict[str, Any]:
        for attempt in range(self._attempts):
            try:
                result: dict[str, Any] = await call()
                return result
            except Unavailable:
                if attempt + 1 >= self._attempts:
                    raise
                await self._clock.sleep(self._retry_delay * 2**attempt)
        raise AssertionError("unreachable")
