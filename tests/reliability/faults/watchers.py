"""Watchers that record every event they receive, as an informer would consume them.

A `RecordingWatcher` lists, then watches from the list's revision with bookmarks. When the stream
ends or the connection drops, it watches again from the last revision it saw (an event's or a
bookmark's) — that is the client's half of "no gap, no duplicate". When the server answers
410 Expired (its window no longer reaches back that far, e.g. after Redis came back empty) it
lists again and starts a new `Segment`. Each segment is checked on its own against the outbox:
"every change after the list's revision, up to the last revision seen, exactly once, in order".
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability.faults.client import Api


@dataclass(frozen=True)
class Seen:
    type: str
    name: str
    uid: str
    revision: int
    node_name: str | None


@dataclass
class Segment:
    list_revision: int
    listed: dict[str, int]  # name -> resourceVersion in the list
    events: list[Seen] = field(default_factory=list)
    last_revision: int = 0  # the newest revision the watcher knows it has everything up to
    ended_by: str = "stop"  # "stop" or "410"


class RecordingWatcher:
    def __init__(self, api: Api, *, name: str, path: str, lag_seconds: float = 0.0) -> None:
        self.api = api
        self.name = name
        self.path = path
        # A lagging watcher ends each watch after a few seconds and waits `lag_seconds` before
        # the next: a slow consumer, the one a compaction leaves behind (410, then relist).
        self.lag_seconds = lag_seconds
        self.lagging = asyncio.Event()  # set while it waits between two watches
        self.segments: list[Segment] = []
        self.counts = Counter[str]()
        self.problems: list[str] = []

    @property
    def last_revision(self) -> int:
        return self.segments[-1].last_revision if self.segments else 0

    async def run(self, stop: asyncio.Event) -> None:
        need_list = True
        delay = 0.1
        while not stop.is_set():
            try:
                if need_list:
                    await self._list()
                    need_list = False
                if await self._watch(stop):
                    need_list = True
                elif self.lag_seconds:
                    self.lagging.set()
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=self.lag_seconds)
                    except TimeoutError:
                        pass
                    self.lagging.clear()
                delay = 0.1
            except (httpx.TransportError, RetryLater) as err:
                self.counts[f"reconnect after {type(err).__name__}"] += 1
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 2.0)

    async def _list(self) -> None:
        answer = await self.api.call("GET", self.path)
        if not answer.ok:
            raise RetryLater(answer.error)
        rv = int(answer.body["metadata"]["resourceVersion"])
        listed = {item["metadata"]["name"]: int(item["metadata"]["resourceVersion"]) for item in answer.body["items"]}
        for name, item_rv in listed.items():
            if item_rv > rv:
                self.problems.append(f"{self.name}: list at {rv} holds {name} at a newer revision {item_rv}")
        self.segments.append(Segment(list_revision=rv, listed=listed, last_revision=rv))
        self.counts["lists"] += 1

    async def _watch(self, stop: asyncio.Event) -> bool:
        """One watch request; True if the server said 410 (list again)."""
        seg = self.segments[-1]
        params = {"watch": "true", "resourceVersion": str(seg.last_revision), "allowWatchBookmarks": "true",
                  "timeoutSeconds": "5" if self.lag_seconds else "20"}
        timeout = httpx.Timeout(5.0, read=60.0)
        async with self.api.http.stream("GET", self.path, params=params, timeout=timeout) as r:
            if r.status_code == 410:
                return self._expired(seg)
            if r.status_code != 200:
                await r.aread()
                raise RetryLater(f"watch answered {r.status_code}")
            self.counts["watches"] += 1
            stopping = asyncio.create_task(stop.wait())
            lines = r.aiter_lines()
            try:
                while True:
                    nxt = asyncio.ensure_future(anext(lines))
                    done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if nxt not in done:
                        nxt.cancel()
                        await asyncio.gather(nxt, return_exceptions=True)
                        return False
                    try:
                        line = nxt.result()
                    except StopAsyncIteration:
                        return False
                    if not line.strip():
                        continue
                    if self._event(seg, json.loads(line)):
                        return True
            finally:
                stopping.cancel()

    def _event(self, seg: Segment, event: dict[str, Any]) -> bool:
        kind, obj = event["type"], event["object"]
        if kind == "ERROR":
            if obj.get("code") == 410:
                return self._expired(seg)
            raise RetryLater(f"watch ERROR event: {obj}")
        rv = int(obj["metadata"]["resourceVersion"])
        if kind == "BOOKMARK":
            self.counts["bookmarks"] += 1
            if rv < seg.last_revision:
                self.problems.append(f"{self.name}: bookmark {rv} went back from {seg.last_revision}")
            seg.last_revision = max(seg.last_revision, rv)
            return False
        meta = obj["metadata"]
        seg.events.append(Seen(kind, meta["name"], meta.get("uid", ""), rv, (obj.get("spec") or {}).get("nodeName")))
        self.counts["events"] += 1
        seg.last_revision = rv  # not max(): a revision going back must show up in the check
        return False

    def _expired(self, seg: Segment) -> bool:
        seg.ended_by = "410"
        self.counts["410 relists"] += 1
        return True


class RetryLater(Exception):
    """A list or watch answer that is not the one we want yet (the server is down or starting)."""
