"""``?watch=true``: a stream of newline-delimited JSON events, as kube-apiserver sends them.

    {"type":"ADDED","object":{...}}\\n
    {"type":"MODIFIED","object":{...}}\\n
    {"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",...}}\\n

- ``resourceVersion`` R: every change after R. Absent or "0": first a synthetic ADDED for every
  object that exists now (one consistent list), then every change after that list.
- An R older than the compaction revision is not an HTTP error: the stream opens and its only
  event is an ERROR with a 410 Status, which is what clients (client-go, the Python client,
  kubectl) expect and how they know to relist.
- ``timeoutSeconds`` ends the stream cleanly; clients re-watch from their last resourceVersion.
- BOOKMARK events (the current resourceVersion, no object) are sent only when the client asked
  with ``allowWatchBookmarks=true``: others would print them as junk.
- When a Table was asked (``kubectl get -w``), every object is a one-row Table.

Each event's JSON is encoded once and shared by all the watchers that receive it. The events
already queued for a watcher are sent in one write, as many as BATCH_EVENTS.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import ApiError
from orchestrator.api.resources import ResourceInfo
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.apiserver import metrics
from orchestrator.apiserver.negotiation import Negotiated
from orchestrator.apiserver.registry import strategy_for
from orchestrator.storage.store import Store
from orchestrator.storage.streams import WatchEvent
from orchestrator.storage.watchcache import WatchCache

BOOKMARK_INTERVAL_SECONDS = 30.0
BATCH_EVENTS = 256  # events queued for one watcher that are sent in one write, at most
_ENCODED_CACHE_SIZE = 4096
_encoded: OrderedDict[tuple[int, str, str], bytes] = OrderedDict()


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def encode_event(event: WatchEvent) -> bytes:
    """The wire line of a plain-JSON watch event, encoded once per (revision, type) per process."""
    key = (event.revision, event.type, event.object.get("metadata", {}).get("uid", ""))
    line = _encoded.get(key)
    if line is None:
        line = _line(event.type, event.object)
        _encoded[key] = line
        if len(_encoded) > _ENCODED_CACHE_SIZE:
            _encoded.popitem(last=False)
    return line


def error_line(error: ApiError) -> bytes:
    return _line("ERROR", error.status())


async def watch_stream(
    *,
    info: ResourceInfo,
    store: Store,
    watch_cache: WatchCache,
    namespace: str | None,
    resource_version: int | None,
    label_selector: LabelSelector,
    field_selector: FieldSelector,
    timeout_seconds: float,
    bookmarks: bool,
    negotiated: Negotiated,
    bookmark_seconds: float = BOOKMARK_INTERVAL_SECONDS,
) -> AsyncIterator[bytes]:
    """The body of a watch response."""

    custom = getattr(info, "strategy", None) is not None

    def render(event_type: str, obj: dict[str, Any], event: WatchEvent | None = None) -> bytes:
        if custom and obj.get("apiVersion") != info.api_version:
            # Stored at the CRD's storage version, watched at another: a copy at the asked version
            # (the event's object is shared by every watcher, and its cached line too).
            obj, event = {**obj, "apiVersion": info.api_version}, None
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        if negotiated.as_table:
            table = tables.table_for_watch_event(strategy_for(info), obj, include_column_definitions=True,
                                                 api_version=negotiated.table_version)
            return _line(event_type, table)
        if negotiated.as_partial_object_metadata:
            return _line(event_type, tables.partial_object_metadata(obj, api_version=negotiated.partial_object_metadata_version))
        return encode_event(event) if event is not None else _line(event_type, obj)

    metrics.WATCHERS.labels(info.plural).inc()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    events_sent = metrics.WATCH_EVENTS.labels(info.plural)
    try:
        since = resource_version
        if not since:
            listed = await store.list(info.group_resource, namespace=namespace, label_selector=label_selector,
                                      field_selector=field_selector)
            for obj in listed.items:
                yield render("ADDED", obj)
            since = listed.revision
        watcher = await watch_cache.subscribe(info.group_resource, since=since, namespace=namespace,
                                              label_selector=label_selector, field_selector=field_selector)
        last_rv = since
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                event = await watcher.next(min(remaining, bookmark_seconds) if bookmarks else remaining)
                if event is None:
                    if bookmarks and deadline - loop.time() > 0:
                        # Where the cluster is, not where this resource last changed: a quiet
                        # watcher's next watch then starts inside the window (no 410, no relist).
                        last_rv = max(last_rv, watcher.progress() or 0)
                        yield _line("BOOKMARK", {"kind": info.kind, "apiVersion": info.api_version,
                                                 "metadata": {"resourceVersion": str(last_rv)}})
                    continue
                # What else is queued goes out in the same write (a watcher that fell behind
                # catches up in a few large writes, not one per event).
                events = [event, *watcher.ready(BATCH_EVENTS - 1)]
                last_rv = events[-1].revision
                yield b"".join(render(e.type, e.object, e) for e in events)
                events_sent.inc(len(events))
        finally:
            watcher.close()
    except ApiError as err:  # Expired above all: the client relists
        yield error_line(err)
    finally:
        metrics.WATCHERS.labels(info.plural).dec()
