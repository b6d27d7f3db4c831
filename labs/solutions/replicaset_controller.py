"""Reference solution of exercise "replicaset-controller" (labs/exercises/replicaset_controller.py): try first.

Grade it with ``labs.check("replicaset-controller", lab=lab,
controller="labs.solutions.replicaset_controller:PodSetController")``.
"""

from __future__ import annotations

from typing import Any

from labs.podset import PODSETS, is_pod_active, new_pod, owner_key
from orchestrator.api.errors import NotFound
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object, meta_namespace_key
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

    # --- handlers: compute the owner's key, never reconcile -----------------------------------

    def podset_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def pod_added(self, pod: Object) -> None:
        key = owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def pod_updated(self, old: Object, new: Object) -> None:
        key = owner_key(new)
        if key is None:
            return
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self.expectations.deletion_observed(key, meta_namespace_key(new))
        self.queue.add(key)

    def pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        # After a relist a deletion arrives as a tombstone: the last state we saw, wrapped.
        pod = deleted_object(obj)
        key = owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, meta_namespace_key(obj))
            self.queue.add(key)

    # --- the reconcile ----------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        podset = self.podsets.get(key)
        if podset is None:
            self.expectations.delete(key)
            return
        if not self.expectations.satisfied(key):
            return  # our own creations/deletions are not in the cache yet: counting now would lie
        namespace = podset["metadata"]["namespace"]
        pods = [p for p in self.pods.list() if owner_key(p) == key and is_pod_active(p)]
        diff = int(podset["spec"].get("replicas", 1)) - len(pods)
        if diff > 0:
            self.expectations.expect_creations(key, diff)
            for done in range(diff):
                try:
                    await self.client.create("pods", new_pod(podset), namespace=namespace)
                except Exception:
                    self.expectations.lower_expectations(key, add=diff - done)  # they will never arrive
                    raise
        elif diff < 0:
            victims = sorted(pods, key=_newest_first)[:-diff]
            self.expectations.expect_deletions(key, [meta_namespace_key(p) for p in victims])
            for pod in victims:
                try:
                    await self.client.delete("pods", pod["metadata"]["name"], namespace=namespace)
                except NotFound:
                    self.expectations.deletion_observed(key, meta_namespace_key(pod))
                except Exception:
                    self.expectations.lower_expectations(key, delete_keys=[meta_namespace_key(p) for p in victims])
                    raise


def _newest_first(pod: Object) -> Any:
    # Unscheduled pods first, then the newest: what upstream deletes first, short of its full ranking.
    return (bool(pod["spec"].get("nodeName")), _negated(pod["metadata"].get("creationTimestamp") or ""))


def _negated(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)
