"""The garbage collector: delete dependents whose owners are gone, in the three propagation modes.

The graph is the informer caches of the kinds that own or are owned here (Deployments, CronJobs, Jobs,
ReplicaSets, ReplicationControllers, Pods) with an index of objects by owner uid. Keys are
``<group_resource>/<namespace>/<name>`` (namespace empty for cluster-scoped objects).

Each key is processed in one of three ways:

- **Owner deleted with Orphan** (it carries the ``orphan`` finalizer and a deletionTimestamp):
  remove its ownerReferences from every dependent, then the finalizer — the update that
  removes the last finalizer completes the owner's deletion.
- **Owner deleted with Foreground** (the ``foregroundDeletion`` finalizer): delete every
  dependent (a dependent with dependents of its own is deleted Foreground too, so the
  deletion goes down the tree), and once no dependent with ``blockOwnerDeletion`` is left,
  remove the finalizer.
- **A dependent** (any object with ownerReferences): look at each owner. Owners that exist
  (same uid, looked up in the cache and confirmed with a GET when absent) are *solid*; absent
  ones are *dangling*; owners being deleted Foreground are *waiting*. All solid: nothing to
  do. Some solid: remove the references to dangling and waiting owners. None solid: delete the
  dependent — Background is the default, so this is how `kubectl delete deploy X` removes
  its ReplicaSets, and their pods one level later.

An owner's DELETED event queues its dependents; a dependent's events queue itself and, when
it goes away, its waiting owners.

Kubernetes equivalent: pkg/controller/garbagecollector/ (garbagecollector.go attemptToDeleteItem,
processDeletingDependentsItem, orphanDependents; graph_builder.go).
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.api.errors import Conflict, NotFound
from orchestrator.api.resources import by_kind
from orchestrator.client.informer import DeletedFinalStateUnknown, Informer, deleted_object
from orchestrator.controllers.controller import Controller, ControllerContext, Object, ensure_indexer
from orchestrator.controllers.ownerrefs import meta

__all__ = ["GC_RESOURCES", "GarbageCollector"]

log = logging.getLogger(__name__)

GC_RESOURCES = ("deployments.apps", "replicasets.apps", "daemonsets.apps", "replicationcontrollers", "cronjobs.batch",
                "jobs.batch",
                "pods",
                "statefulsets.apps", "controllerrevisions.apps")
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


def _owner_uids(obj: Object) -> list[str]:
    return [r.get("uid") for r in meta(obj).get("ownerReferences") or [] if r.get("uid")]


class GarbageCollector(Controller):
    name = "garbagecollector"
    default_workers = 5  # --concurrent-gc-syncs is 20 upstream; a lab has fewer objects

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.informers: dict[str, Informer] = {}
        for resource in GC_RESOURCES:
            informer = ctx.factory.informer(resource, namespace=ctx.namespace)
            ensure_indexer(informer, "owner-uid", _owner_uids)
            ensure_indexer(informer, "uid", lambda o: meta(o).get("uid"))
            informer.add_handler(
                on_add=lambda obj, r=resource: self._changed(r, obj),
                on_update=lambda old, cur, r=resource: self._changed(r, cur, old),
                on_delete=lambda obj, r=resource: self._deleted(r, obj),
            )
            self.informers[resource] = informer

    # --- keys ---------------------------------------------------------------------------------

    @staticmethod
    def key_of(resource: str, obj: Object) -> str:
        m = meta(obj)
        return f"{resource}/{m.get('namespace') or ''}/{m.get('name')}"

    def key_for(self, namespace: str, name: str) -> str:
        """For the Reconcile RPC: name is ``<resource>/<name>``, e.g. ``replicasets.apps/web-5d9f``."""
        resource, _, obj_name = name.partition("/")
        return f"{resource}/{namespace}/{obj_name}"

    def resync_all(self) -> None:
        for resource, informer in self.informers.items():
            for obj in informer.list():
                if meta(obj).get("ownerReferences") or self._deleting_with_gc_finalizer(obj):
                    self.queue.add(self.key_of(resource, obj))

    # --- handlers -----------------------------------------------------------------------------

    @staticmethod
    def _deleting_with_gc_finalizer(obj: Object) -> bool:
        m = meta(obj)
        return bool(m.get("deletionTimestamp")) and bool({ORPHAN, FOREGROUND} & set(m.get("finalizers") or []))

    def _changed(self, resource: str, obj: Object, old: Object | None = None) -> None:
        if old is not None and meta(old).get("resourceVersion") == meta(obj).get("resourceVersion"):
            return
        if meta(obj).get("ownerReferences") or self._deleting_with_gc_finalizer(obj):
            self.queue.add(self.key_of(resource, obj))
        if old is not None and meta(obj).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            # Being deleted: owners waiting in Foreground may proceed once it is gone; dependents
            # of a Foreground-deleted owner look again.
            self._queue_dependents(obj)
        if old is not None and set(_owner_uids(old)) - set(_owner_uids(obj)):
            self._queue_owners(old)  # a released dependent may unblock a Foreground owner

    def _deleted(self, resource: str, obj: Object | DeletedFinalStateUnknown) -> None:
        gone = deleted_object(obj)
        self._queue_dependents(gone)  # they may be dangling now
        self._queue_owners(gone)  # owners in Foreground deletion may be waiting for it

    def _queue_dependents(self, owner: Object) -> None:
        uid = meta(owner).get("uid")
        if not uid:
            return
        for resource, informer in self.informers.items():
            for dep in informer.by_index("owner-uid", uid):
                self.queue.add(self.key_of(resource, dep))

    def _queue_owners(self, dependent: Object) -> None:
        for ref in meta(dependent).get("ownerReferences") or []:
            found = self._lookup_cached(ref.get("uid"))
            if found is not None:
                self.queue.add(self.key_of(*found))

    def _lookup_cached(self, uid: str | None) -> tuple[str, Object] | None:
        if not uid:
            return None
        for resource, informer in self.informers.items():
            hits = informer.by_index("uid", uid)
            if hits:
                return resource, hits[0]
        return None

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        resource, namespace, name = key.split("/", 2)
        informer = self.informers.get(resource)
        if informer is None:
            return
        obj = informer.get(f"{namespace}/{name}" if namespace else name)
        if obj is None:
            return
        m = meta(obj)
        finalizers = m.get("finalizers") or []
        if m.get("deletionTimestamp") and ORPHAN in finalizers:
            await self._orphan_dependents(resource, obj)
            return
        if m.get("deletionTimestamp") and FOREGROUND in finalizers:
            await self._delete_dependents_first(resource, obj)
            return
        if m.get("ownerReferences"):
            await self._attempt_to_delete(resource, obj)

    def _dependents(self, owner: Object) -> list[tuple[str, Object]]:
        uid = meta(owner).get("uid")
        return [(r, dep) for r, informer in self.informers.items() for dep in informer.by_index("owner-uid", uid)]

    async def _orphan_dependents(self, resource: str, owner: Object) -> None:
        uid = meta(owner).get("uid")
        for dep_resource, dep in self._dependents(owner):
            dm = meta(dep)
            refs = [r for r in dm.get("ownerReferences") or [] if r.get("uid") != uid]
            patch = {"metadata": {"ownerReferences": refs or None, "uid": dm.get("uid")}}
            try:
                await self.client.patch(dep_resource, dm["name"], patch, namespace=dm.get("namespace"))
            except NotFound:
                continue
        await self._remove_finalizer(resource, owner, ORPHAN)

    async def _delete_dependents_first(self, resource: str, owner: Object) -> None:
        uid = meta(owner).get("uid")
        blocking = 0
        for dep_resource, dep in self._dependents(owner):
            ref = next((r for r in meta(dep).get("ownerReferences") or [] if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not meta(dep).get("deletionTimestamp"):
                # Its other owners decide (attemptToDelete): a dependent with another solid owner
                # only loses its reference to us.
                await self._attempt_to_delete(dep_resource, dep)
        if blocking == 0:
            await self._remove_finalizer(resource, owner, FOREGROUND)

    async def _owner_state(self, dependent: Object, ref: dict[str, Any]) -> str:
        """``solid``, ``dangling`` or ``waiting`` (see the module docstring)."""
        found = self._lookup_cached(ref.get("uid"))
        if found is not None:
            owner = found[1]
        else:
            info = by_kind(ref.get("apiVersion") or "", ref.get("kind") or "")
            if info is None:
                return "solid"  # a kind we do not serve: never delete on a guess
            namespace = meta(dependent).get("namespace") if info.namespaced else None
            try:
                owner = await self.client.get(info, ref.get("name") or "", namespace=namespace)
            except NotFound:
                return "dangling"
            if meta(owner).get("uid") != ref.get("uid"):
                return "dangling"  # the name is now someone else's
        om = meta(owner)
        if om.get("deletionTimestamp") and FOREGROUND in (om.get("finalizers") or []):
            return "waiting"
        return "solid"

    async def _attempt_to_delete(self, resource: str, obj: Object) -> None:
        m = meta(obj)
        refs = m.get("ownerReferences") or []
        states = {ref.get("uid"): await self._owner_state(obj, ref) for ref in refs}
        solid = [u for u, s in states.items() if s == "solid"]
        dangling_or_waiting = [u for u, s in states.items() if s != "solid"]
        if not dangling_or_waiting:
            return
        if solid:
            keep = [r for r in refs if r.get("uid") in solid]
            patch = {"metadata": {"ownerReferences": keep, "uid": m.get("uid")}}
            try:
                await self.client.patch(resource, m["name"], patch, namespace=m.get("namespace"))
            except NotFound:
                pass
            return
        if m.get("deletionTimestamp"):
            return  # already going
        waiting = any(s == "waiting" for s in states.values())
        finalizers = m.get("finalizers") or []
        if waiting and self._dependents(obj):
            policy = "Foreground"  # the owner waits for our dependents too: delete down the tree
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        log.info("%s: deleting %s %s/%s (owners gone or being deleted; propagation %s)", self.name, resource,
                 m.get("namespace"), m["name"], policy)
        try:
            await self.client.delete(resource, m["name"], namespace=m.get("namespace"),
                                     propagation_policy=policy, preconditions={"uid": m["uid"]})  # type: ignore[arg-type]
        except NotFound:
            pass
        except Conflict:
            pass  # a new object with this name: not ours to delete

    async def _remove_finalizer(self, resource: str, obj: Object, finalizer: str) -> None:
        m = meta(obj)
        remaining = [f for f in m.get("finalizers") or [] if f != finalizer]
        body = {**obj, "metadata": {**m, "finalizers": remaining or None}}
        if not remaining:
            body["metadata"].pop("finalizers")
        try:
            await self.client.update(resource, body)
        except NotFound:
            return
        log.info("%s: removed finalizer %s from %s %s/%s", self.name, finalizer, resource, m.get("namespace"), m["name"])
