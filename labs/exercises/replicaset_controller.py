"""Exercise "replicaset-controller" (notebook 12): write a ReplicaSet-like controller that survives failures.

A **PodSet** (labs/podset.py) asks for ``spec.replicas`` pods made from ``spec.template``. Your
controller keeps exactly that many *active* pods (not finished, not being deleted) for each
PodSet, the way the ReplicaSet controller does (orchestrator/controllers/replicaset.py is the
full version; read it after you tried).

It is built like every controller of the lab's controller manager (orchestrator/controllers/controller.py):
informers fill a cache and call handlers; handlers only put a *key* (``namespace/name`` of the
PodSet) in the work queue; workers call `sync(key)`, which reads the cache and acts. The wiring
is done below. Your four TODOs:

1. ``pod_added``: a new pod of a PodSet was seen — tell the expectations
   (``self.expectations.creation_observed(key)``) and queue its PodSet (``self.queue.add(key)``).
   ``owner_key(pod)`` gives the PodSet's key, or None for a pod that is not a PodSet's.
2. ``pod_deleted``: a pod went. After a watch was lost the informer lists again and reports a pod
   that vanished meanwhile as a ``DeletedFinalStateUnknown`` *tombstone*, not a dict:
   ``deleted_object(obj)`` gives the pod either way. Tell the expectations
   (``deletion_observed(key, meta_namespace_key(obj))``) and queue the PodSet.
3. ``sync``: count the PodSet's active pods in the cache (``self.pods.list()``, ``owner_key``,
   ``is_pod_active``); create the missing ones (``await self.client.create("pods", new_pod(podset),
   namespace=...)``) or delete the surplus (``await self.client.delete("pods", name, namespace=...)``).
4. **Expectations** (orchestrator/controllers/expectations.py): right after you create a pod your
   cache does not hold it yet — the creation travels API server → PostgreSQL → Redis → watch →
   informer. A sync in that window counts too few and creates again. So: before creating,
   ``self.expectations.expect_creations(key, n)``; before deleting,
   ``expect_deletions(key, pod_keys)``; and at the top of sync,
   ``if not self.expectations.satisfied(key): return``.

Grade it (on a lab started in the notebook; it re-reads this file each time):

    labs.check("replicaset-controller", lab=lab)

The grader runs your class, then lags its pod watch, cuts it after compacting the history (410
Gone) and kills the API server, and says which invariant broke. Hints, from a nudge to the answer:
``labs.hint("replicaset-controller")``, then ``labs.hint("replicaset-controller", answer=True)``. A reference solution is in labs/solutions/ — try first.
"""

from __future__ import annotations

from labs.podset import PODSETS, is_pod_active, new_pod, owner_key  # noqa: F401  (for your sync)
from orchestrator.api.errors import NotFound  # noqa: F401  (for your sync: a pod already gone)
from orchestrator.client.informer import (  # noqa: F401  (for your handlers)
    DeletedFinalStateUnknown,
    deleted_object,
    meta_namespace_key,
)
from orchestrator.controllers.controller import Controller, ControllerContext, Object
from orchestrator.controllers.expectations import Expectations


class PodSetController(Controller):
    """Keeps ``spec.replicas`` active pods of every PodSet."""

    name = "podset"
    default_workers = 2

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.expectations = Expectations(clock=ctx.clock)
        self.podsets = ctx.factory.informer(PODSETS, namespace=ctx.namespace)
        self.pods = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.podsets.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                 on_delete=self.podset_deleted)
        self.pods.add_handler(on_add=self.pod_added, on_update=self.pod_updated, on_delete=self.pod_deleted)

    def resync_all(self) -> None:
        for podset in self.podsets.list():
            self.enqueue(podset)

    def podset_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def pod_updated(self, old: Object, new: Object) -> None:
        key = owner_key(new)
        if key is None:
            return
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self.expectations.deletion_observed(key, meta_namespace_key(new))
        self.queue.add(key)

    def pod_added(self, pod: Object) -> None:
        # TODO 1: key = owner_key(pod); if it is a PodSet's: creation_observed(key), then queue key.
        pass

    def pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        # TODO 2: obj may be a tombstone: pod = deleted_object(obj); then as in pod_updated.
        pass

    async def sync(self, key: str) -> None:
        podset = self.podsets.get(key)
        if podset is None:  # the PodSet was deleted: its pods go with it (garbage collector)
            self.expectations.delete(key)
            return
        # TODO 4: return here while the expectations of `key` are not satisfied.
        # TODO 3: count the active pods of `key`, create or delete the difference
        #         (TODO 4: expect_creations / expect_deletions before you write).
        raise NotImplementedError("TODO 3: write PodSetController.sync")


# ---------------------------------------------------------------------------------------------
# The automatic check. Nothing to edit below this line.
# ---------------------------------------------------------------------------------------------

from labs.exercises.replicaset_controller_check import check  # noqa: E402,F401  (registers the check)
