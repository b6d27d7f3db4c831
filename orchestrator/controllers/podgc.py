"""Pod garbage collection: remove pods nobody else will.

Every `period` seconds (upstream --pod-gc period, 20 s), one pass:

- **orphaned pods**: bound to a node that no longer exists. A node missing from the cache is
  confirmed with a GET first (the cache may lag a node that was just created), then its pods
  are deleted with grace period 0 — there is no node agent left to stop them gracefully;
- **unscheduled terminating pods**: being deleted but never bound, so no node agent will ever
  finish their deletion: deleted with grace period 0;
- **terminated pods** (Succeeded/Failed) beyond `terminated_threshold` (--terminated-pod-gc-threshold,
  12500): the oldest are deleted.

Kubernetes equivalent: pkg/controller/podgc/gc_controller.go.
"""

from __future__ import annotations

import logging

from orchestrator.api.errors import NotFound
from orchestrator.controllers.controller import Controller, ControllerContext, Object
from orchestrator.controllers.ownerrefs import meta

__all__ = ["PodGCController"]

log = logging.getLogger(__name__)

PASS_KEY = "gc-pass"  # the controller's one key: each sync is one pass over all pods


class PodGCController(Controller):
    name = "podgc"
    default_workers = 1

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None, period: float = 20.0,
                 terminated_threshold: int = 12500) -> None:
        super().__init__(ctx, workers=workers)
        self.period = period
        self.terminated_threshold = terminated_threshold
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.node_informer = ctx.factory.informer("nodes")
        self.deleted = 0

    def key_for(self, namespace: str, name: str) -> str:
        return PASS_KEY

    def resync_all(self) -> None:
        self.queue.add(PASS_KEY)

    async def sync(self, key: str) -> None:
        try:
            await self._gc_terminated()
            await self._gc_orphaned()
            await self._gc_unscheduled_terminating()
        finally:
            self.queue.add_after(PASS_KEY, self.period)

    async def _delete(self, pod: Object, why: str) -> None:
        m = meta(pod)
        log.info("%s: deleting pod %s/%s: %s", self.name, m.get("namespace"), m["name"], why)
        try:
            await self.client.delete("pods", m["name"], namespace=m.get("namespace"), grace_period_seconds=0,
                                     preconditions={"uid": m["uid"]})
            self.deleted += 1
        except NotFound:
            pass

    async def _gc_terminated(self) -> None:
        terminated = [p for p in self.pod_informer.list()
                      if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
        excess = len(terminated) - self.terminated_threshold
        if excess <= 0:
            return
        terminated.sort(key=lambda p: meta(p).get("creationTimestamp") or "")
        for pod in terminated[:excess]:
            await self._delete(pod, f"more than {self.terminated_threshold} terminated pods")

    async def _gc_orphaned(self) -> None:
        known = {meta(n).get("name") for n in self.node_informer.list()}
        confirmed_missing: dict[str, bool] = {}
        for pod in self.pod_informer.list():
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or node in known:
                continue
            if node not in confirmed_missing:
                try:
                    await self.client.get("nodes", node)
                    confirmed_missing[node] = False
                except NotFound:
                    confirmed_missing[node] = True
            if confirmed_missing[node]:
                await self._delete(pod, f"its node {node} does not exist")

    async def _gc_unscheduled_terminating(self) -> None:
        for pod in self.pod_informer.list():
            if meta(pod).get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                await self._delete(pod, "terminating and never scheduled")
