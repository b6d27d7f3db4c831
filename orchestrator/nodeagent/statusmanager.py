"""Pod status to the API server, coalesced per pod: the latest status wins, a few sends at a time.

A pod worker hands its newest status to `StatusManager.patch_status` and goes on at once; the
manager keeps at most one pending status per pod (a newer one replaces an unsent one) and
`senders` tasks PATCH them, oldest pod first. So:

- a burst of changes to one pod (ContainerCreating, then Running a moment later) costs one
  PATCH when the API server is busy, not two queued behind each other;
- a slow API server slows the senders, not the workers, and the backlog is bounded by the
  number of pods (never by the number of changes);
- the sends of a whole fleet share `senders` connections, so pod work never takes every
  connection of the pool (the heartbeats have their own, orchestrator/nodeagent/heartbeat.py).

A send that fails with NotFound is dropped (the pod is gone; the informer tells its worker). Any
other error keeps the status pending (unless a newer one came meanwhile) and retries it after
`retry_seconds`. Invariant: for every pod, the last status handed in is eventually sent, or the
pod is gone.

Kubernetes equivalent: pkg/kubelet/status/status_manager.go (podStatusChannel, syncBatch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import ApiError, Conflict, NotFound
from orchestrator.client.rest import ApiClient
from orchestrator.nodeagent.metrics import AgentMetrics

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    pod: Mapping[str, Any]
    status: dict[str, Any]
    not_before: float = 0.0


class StatusManager:
    """A `PodStatusSink` (orchestrator/nodeagent/podworker.py) that coalesces; run `run()` in a task."""

    def __init__(self, client: ApiClient, metrics: AgentMetrics, *, senders: int = 4,
                 retry_seconds: float = 1.0) -> None:
        if senders < 1:
            raise ValueError(f"senders must be >= 1, got {senders}")
        self._client = client
        self._metrics = metrics
        self._senders = senders
        self._retry_seconds = retry_seconds
        self._pending: dict[str, _Pending] = {}  # pod uid -> newest unsent status; insertion order = age
        self._in_flight: set[str] = set()
        self._wake = asyncio.Event()
        self.coalesced = 0  # statuses replaced before they were sent

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self._pending:
            self.coalesced += 1
            self._pending[uid].pod, self._pending[uid].status = pod, status
        else:
            self._pending[uid] = _Pending(pod, status)
        self._wake.set()

    async def confirm_deletion(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        self._pending.pop(meta["uid"], None)  # a status for a pod being deleted for good is moot
        with contextlib.suppress(NotFound, Conflict):  # gone already, or a new pod of that name
            await self._client.delete("pods", meta["name"], namespace=meta.get("namespace"), grace_period_seconds=0,
                                      preconditions={"uid": meta["uid"]})

    async def run(self) -> None:
        """Send pending statuses with `senders` tasks until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for i in range(self._senders):
                tg.create_task(self._sender(), name=f"pod-status-sender-{i}")

    def _next(self, now: float) -> tuple[str, _Pending] | None:
        for uid, pending in self._pending.items():
            if uid not in self._in_flight and pending.not_before <= now:
                return uid, pending
        return None

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = self._next(loop.time())
            if item is None:
                self._wake.clear()
                retry = min((p.not_before for u, p in self._pending.items() if u not in self._in_flight), default=None)
                timeout = None if retry is None else max(0.01, retry - loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            uid, pending = item
            del self._pending[uid]
            self._in_flight.add(uid)
            try:
                await self._send(uid, pending, now=loop.time())
            finally:
                self._in_flight.discard(uid)
                if uid in self._pending:
                    self._wake.set()  # a newer status came while this one was in flight

    async def _send(self, uid: str, pending: _Pending, *, now: float) -> None:
        meta = pending.pod["metadata"]
        try:
            await self._client.patch("pods", meta["name"], {"status": pending.status},
                                     namespace=meta.get("namespace"), subresource="status")
        except NotFound:
            return
        except ApiError as err:
            log.warning("pod %s/%s: status update failed, retrying in %.0fs: %s", meta.get("namespace"),
                        meta["name"], self._retry_seconds, err)
            if uid not in self._pending:  # nothing newer arrived: this one is still the latest
                pending.not_before = now + self._retry_seconds
                self._pending[uid] = pending
            return
        self._metrics.status_updates.inc()
