"""The namespace controller: empty a Terminating namespace, then delete it.

Deleting a namespace that still holds objects makes it Terminating (``deletionTimestamp``,
``status.phase: Terminating``) and the API server refuses new objects in it. This controller
then deletes every namespaced object in it, kind by kind (Background propagation, as upstream's
deleter), and lists again until nothing is left — pods on nodes leave only when their node
agent has stopped them, so that may take a grace period; meanwhile the key is looked at
again every few seconds. Once the namespace is empty it DELETEs the namespace again, which the
API server now completes at once.

The kinds come from the server's discovery at every pass (as upstream's deleter does), so the
instances of custom resources go too; the built-ins are the fallback when discovery fails.

Each Terminating namespace gets the conditions upstream reports, so ``kubectl describe ns``
shows what it waits for: NamespaceContentRemaining (with the counts by resource) and
NamespaceDeletionContentFailure.

Kubernetes equivalent: pkg/controller/namespace/namespace_controller.go and
deletion/namespaced_resources_deleter.go.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from orchestrator.api.errors import ApiError, NotFound
from orchestrator.api.resources import RESOURCES, ResourceInfo
from orchestrator.api.timestamps import now_rfc3339
from orchestrator.controllers.controller import Controller, ControllerContext, Object, write_status
from orchestrator.controllers.ownerrefs import meta

__all__ = ["NamespaceController"]

log = logging.getLogger(__name__)

# Events go last: deleting pods and others records events in the namespace meanwhile.
# Reviews (create-only) hold nothing to delete.
_ORDER = sorted((r for r in RESOURCES if r.namespaced and r.stored), key=lambda r: r.group_resource == "events")


class NamespaceController(Controller):
    name = "namespace"
    default_workers = 2  # --concurrent-namespace-syncs is 10 upstream

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None, recheck_seconds: float = 2.0) -> None:
        super().__init__(ctx, workers=workers)
        self.recheck_seconds = recheck_seconds
        field = f"metadata.name={ctx.namespace}" if ctx.namespace else None
        self.ns_informer = ctx.factory.informer("namespaces", field_selector=field)
        self.ns_informer.add_handler(on_add=self._maybe_enqueue, on_update=lambda old, cur: self._maybe_enqueue(cur))

    def _maybe_enqueue(self, ns: Object) -> None:
        if meta(ns).get("deletionTimestamp"):
            self.enqueue(ns)

    def resync_all(self) -> None:
        for ns in self.ns_informer.list():
            self._maybe_enqueue(ns)

    async def _namespaced_resources(self) -> list[ResourceInfo]:
        """The built-ins, then every other namespaced resource discovery lists (custom ones)."""
        try:
            served = await self.client.server_resources()
        except ApiError as err:
            log.warning("%s: discovery failed (%s); deleting built-in kinds only", self.name, err)
            return list(_ORDER)
        known = {r.group_resource for r in _ORDER}
        extra = [r for r in served if r.namespaced and r.group_resource not in known
                 and {"list", "delete"} <= set(r.verbs)]
        return [*_ORDER[:-1], *extra, *_ORDER[-1:]]  # events still last

    async def sync(self, key: str) -> None:
        ns = self.ns_informer.get(key)
        if ns is None or not meta(ns).get("deletionTimestamp"):
            return
        remaining: Counter[str] = Counter()
        failures: list[str] = []
        for info in await self._namespaced_resources():
            try:
                listed = await self.client.list(info, namespace=key)
            except NotFound:
                return  # the namespace is gone
            for obj in listed.get("items") or []:
                m = meta(obj)
                remaining[info.group_resource] += 1
                if m.get("deletionTimestamp"):
                    continue  # already on its way (grace period or finalizers)
                try:
                    await self.client.delete(info, m["name"], namespace=key, propagation_policy="Background")
                except NotFound:
                    remaining[info.group_resource] -= 1
                except ApiError as err:
                    failures.append(f"{info.group_resource}/{m['name']}: {err}")
        remaining = +remaining  # drop zero counts
        if remaining:
            await self._report(ns, remaining, failures)
            self.queue.add_after(key, self.recheck_seconds)
            return
        # Something may have landed between our lists; the API server refuses to remove a
        # namespace that is not empty (it marks it Terminating again), so this is safe.
        try:
            await self.client.delete("namespaces", key)
        except NotFound:
            return
        self.queue.add_after(key, self.recheck_seconds)  # if it is still there, look again
        log.info("%s: namespace %s emptied and deleted", self.name, key)

    async def _report(self, ns: Object, remaining: Counter[str], failures: list[str]) -> None:
        now = now_rfc3339()
        counts = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
        wanted: list[dict[str, Any]] = [
            {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
             "message": f"Some resources are remaining: {counts}"},
            {"type": "NamespaceDeletionContentFailure", "status": "True" if failures else "False",
             "reason": "ContentDeletionFailed" if failures else "ContentDeleted",
             "message": "; ".join(failures)[:1000] if failures else "All content successfully deleted, may be "
                                                                    "waiting on finalization"},
        ]
        status = dict(ns.get("status") or {})
        old = {c.get("type"): c for c in status.get("conditions") or []}
        conditions = []
        for cond in wanted:
            before = old.get(cond["type"])
            same = before is not None and all(before.get(k) == cond[k] for k in ("status", "reason", "message"))
            conditions.append(before if same else {**cond, "lastTransitionTime": now})
        if conditions == status.get("conditions"):
            return
        status["conditions"] = conditions
        try:
            await write_status(self.client, "namespaces", ns, status)
        except NotFound:
            pass
