"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector alive.

`sync(key)` in four named steps, as upstream:

1. **claim pods** — adopt matching orphans, release pods relabelled out of the selector
   (`ownerrefs.claim`); only active pods (not finished, not being deleted) count;
2. **manage replicas** — only when the key's expectations are satisfied (`expectations`):
   too few pods: create the difference from ``spec.template``, named by ``generateName``
   ``<rs>-`` (the API server appends 5 random characters), in *slow-start batches* of 1, 2, 4, ...
   so a template the server rejects fails once, not 500 times; too many: delete the least
   valuable (`pods_to_delete`);
3. **compute status** — replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
   (ready for ``minReadySeconds``), observedGeneration, and the ReplicaFailure condition;
4. **update status** — only if it changed.

At most `BURST_REPLICAS` (500) pods are created or deleted per sync, as upstream's burstReplicas.

Kubernetes equivalent: pkg/controller/replicaset/replica_set.go, pkg/controller/controller_utils.go
(ActivePodsWithRanks, slowStartBatch).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from orchestrator.api.errors import ApiError, Conflict, Forbidden, Invalid, NotFound
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import rfc3339
from orchestrator.client.informer import (
    DeletedFinalStateUnknown,
    deleted_object,
    meta_namespace_key,
    split_key,
)
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
    write_status,
)
from orchestrator.controllers.expectations import Expectations
from orchestrator.controllers.ownerrefs import (
    claim,
    controller_ref,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    meta,
    new_controller_ref,
    parse_time,
    pod_ready_since,
)

__all__ = ["BURST_REPLICAS", "ReplicaSetController", "ReplicationControllerController", "pod_from_template",
           "pods_to_delete", "slow_start_batch"]

log = logging.getLogger(__name__)

BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def selector_of(obj: Object) -> LabelSelector:
    return LabelSelector.from_structured((obj.get("spec") or {}).get("selector"))


def pod_from_template(rs: Object, *, api_version: str = "apps/v1", kind: str = "ReplicaSet") -> Object:
    """The pod the ReplicaSet creates: its template, a generated name, a controller reference."""
    template = (rs.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    m = meta(rs)
    pod_meta: dict[str, Any] = {
        "generateName": f"{m['name']}-",
        "namespace": m.get("namespace"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [new_controller_ref(rs, api_version=api_version, kind=kind)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": copy.deepcopy(template.get("spec") or {})}


def _epoch(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _deletion_key(pod: Object, rank: int) -> tuple[Any, ...]:
    """Smaller sorts first = deleted first (upstream ActivePodsWithRanks.Less, in its order)."""
    status = pod.get("status") or {}
    m = meta(pod)
    try:
        cost = int((m.get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        cost = 0
    ready = is_pod_ready(pod)
    created = parse_time(m.get("creationTimestamp"))
    restarts = max((c.get("restartCount") or 0 for c in status.get("containerStatuses") or []), default=0)
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,  # 1. unassigned first
        _PHASE_ORDER.get(status.get("phase") or "", 0),  # 2. Pending < Unknown < Running
        1 if ready else 0,  # 3. not ready first
        cost,  # 4. lower pod-deletion-cost first
        -rank,  # 5. doubled up (more related pods on its node) first
        -_epoch(pod_ready_since(pod)) if ready else 0.0,  # 6. ready for less time first
        -restarts,  # 7. more restarts first
        (1 if created else 0, -_epoch(created)),  # 8. no creation time, then newest first
    )


def pods_to_delete(pods: list[Object], related: list[Object], count: int) -> list[Object]:
    """The `count` least valuable of `pods`.

    Worked example (all Running unless said): a Pending pod, a Running-not-ready pod, and two
    ready pods on one node ``n1`` where a sibling ReplicaSet also has a pod (rank 3), versus a ready
    pod alone on ``n2`` (rank 1): delete order is Pending, not-ready, then the ``n1`` pods
    (newest-ready first), then the ``n2`` pod. `related` are the active pods of this ReplicaSet
    and of its siblings (same owning Deployment): they define the ranks.
    """
    if count >= len(pods):
        return list(pods)
    on_node = Counter((p.get("spec") or {}).get("nodeName") for p in related)
    ranked = sorted(pods, key=lambda p: _deletion_key(p, on_node[(p.get("spec") or {}).get("nodeName")]
                                                      if (p.get("spec") or {}).get("nodeName") else 0))
    return ranked[:count]


async def slow_start_batch(count: int, fn: Callable[[], Awaitable[Any]], *,
                           initial_batch_size: int = SLOW_START_INITIAL_BATCH) -> tuple[int, BaseException | None]:
    """Call `fn` `count` times in batches of 1, 2, 4, ...; stop after the first batch with an error.

    Returns (successes, first error). 10 creations against a server that refuses them cost one
    request, not 10; 10 that succeed cost 4 round trips (1 + 2 + 4 + 3).
    """
    successes = 0
    remaining = count
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def _terminating_namespace(err: ApiError) -> bool:
    return isinstance(err, Forbidden) and "being terminated" in str(err)


def _set_condition(conditions: list[dict[str, Any]], cond: dict[str, Any] | None, type_: str) -> list[dict[str, Any]]:
    others = [c for c in conditions if c.get("type") != type_]
    return others + [cond] if cond is not None else others


class ReplicaSetController(Controller):
    name = "replicaset"
    default_workers = 5  # kube-controller-manager's --concurrent-replicaset-syncs
    # What it controls; ReplicationControllerController changes these (and the selector's form).
    resource: ClassVar[str] = "replicasets.apps"
    owner_kind: ClassVar[str] = "ReplicaSet"
    owner_api_version: ClassVar[str] = "apps/v1"

    @staticmethod
    def selector_of(rs: Object) -> LabelSelector:
        return selector_of(rs)

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(ctx, workers=workers)
        self.burst_replicas = burst_replicas
        self.expectations: Expectations = Expectations(clock=ctx.clock)
        self.rs_informer = ctx.factory.informer(self.resource, namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        ensure_indexer(self.rs_informer, "namespace", by_namespace)
        ensure_indexer(self.pod_informer, "namespace", by_namespace)
        self.rs_informer.add_handler(on_add=self.enqueue, on_update=self._update_rs, on_delete=self._delete_rs)
        self.pod_informer.add_handler(on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod)

    def resync_all(self) -> None:
        for rs in self.rs_informer.list():
            self.enqueue(rs)

    # --- handlers: compute keys, never reconcile ---------------------------------------------

    def _update_rs(self, old: Object, cur: Object) -> None:
        self.enqueue(cur)

    def _delete_rs(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def _resolve(self, namespace: str | None, ref: dict[str, Any] | None) -> Object | None:
        if ref is None or ref.get("kind") != self.owner_kind:
            return None
        rs = self.rs_informer.get(f"{namespace}/{ref.get('name')}")
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return None
        return rs

    def _matching_replica_sets(self, pod: Object) -> list[Object]:
        labels = meta(pod).get("labels") or {}
        found = []
        for rs in self.rs_informer.by_index("namespace", meta(pod).get("namespace") or ""):
            try:
                selector = self.selector_of(rs)
            except Invalid:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(rs)
        return found

    def _add_pod(self, pod: Object) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._delete_pod(pod)  # e.g. seen first by a relist while already terminating
            return
        rs = self._resolve(meta(pod).get("namespace"), controller_ref(pod))
        if rs is not None:
            key = meta_namespace_key(rs)
            self.expectations.creation_observed(key)
            self.queue.add(key)
            return
        if controller_ref(pod) is None:
            for rs in self._matching_replica_sets(pod):
                self.enqueue(rs)

    def _update_pod(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return  # a resync: nothing changed
        labels_changed = meta(old).get("labels") != meta(cur).get("labels")
        if meta(cur).get("deletionTimestamp"):
            # Deletion requested: the ReplicaSet may replace it now, without waiting for the kubelet.
            self._delete_pod(cur)
            if labels_changed:
                self._delete_pod(old)
            return
        namespace = meta(cur).get("namespace")
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            old_rs = self._resolve(namespace, old_ref)
            if old_rs is not None:
                self.enqueue(old_rs)
        if cur_ref is not None:
            rs = self._resolve(namespace, cur_ref)
            if rs is not None:
                self.enqueue(rs)
                min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
                if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(cur):
                    # It becomes *available* minReadySeconds from now: look again then.
                    self.enqueue_after(rs, min_ready + 1)
            return
        if labels_changed or ref_changed:
            for rs in self._matching_replica_sets(cur):
                self.enqueue(rs)

    def _delete_pod(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = deleted_object(obj)
        rs = self._resolve(meta(pod).get("namespace"), controller_ref(pod))
        if rs is None:
            return
        key = meta_namespace_key(rs)
        self.expectations.deletion_observed(key, meta_namespace_key(pod))
        self.queue.add(key)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        rs = self.rs_informer.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        selector = self.selector_of(rs)
        namespace_pods = self.pod_informer.by_index("namespace", namespace or "")
        active = [p for p in namespace_pods if is_pod_active(p)]
        pods = await self._claim_pods(rs, selector, active)

        manage_error: BaseException | None = None
        if needs_sync and not meta(rs).get("deletionTimestamp"):
            try:
                await self._manage_replicas(pods, rs, namespace_pods)
            except ApiError as err:
                manage_error = err
        status = self._calculate_status(rs, pods, manage_error)
        updated = await self._update_status(rs, status)
        min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
        if (manage_error is None and min_ready > 0 and updated["readyReplicas"] == updated["replicas"]
                and updated["availableReplicas"] != updated["replicas"]):
            self.queue.add_after(key, min_ready)
        if manage_error is not None:
            raise manage_error

    async def _claim_pods(self, rs: Object, selector: LabelSelector, pods: list[Object]) -> list[Object]:
        async def can_adopt() -> None:
            # Uncached read: adopting into a ReplicaSet that was deleted (or replaced under the
            # same name) would hand the pod to the garbage collector.
            m = meta(rs)
            fresh = await self.client.get(self.resource, m["name"], namespace=m.get("namespace"))
            if meta(fresh).get("uid") != m.get("uid"):
                raise Conflict(f"original ReplicaSet {m.get('namespace')}/{m['name']} is gone: got uid "
                               f"{meta(fresh).get('uid')}, wanted {m.get('uid')}")
            if meta(fresh).get("deletionTimestamp"):
                raise Conflict(f"{m.get('namespace')}/{m['name']} has just been deleted at "
                               f"{meta(fresh)['deletionTimestamp']}")

        return await claim(client=self.client, resource="pods", owner=rs, owner_api_version=self.owner_api_version,
                           owner_kind=self.owner_kind, selector=selector, candidates=pods, can_adopt=can_adopt)

    async def _manage_replicas(self, pods: list[Object], rs: Object, namespace_pods: list[Object]) -> None:
        key = meta_namespace_key(rs)
        diff = len(pods) - ((rs.get("spec") or {}).get("replicas") or 0)
        if diff < 0:
            want = min(-diff, self.burst_replicas)
            # Expect before creating: the ADDED events may arrive before create() returns.
            self.expectations.expect_creations(key, want)
            log.info("%s: too few replicas for %s, need %d, creating %d", self.name, key,
                     (rs.get("spec") or {}).get("replicas"), want)
            template_pod = pod_from_template(rs, api_version=self.owner_api_version, kind=self.owner_kind)
            attempted = 0

            async def create_one() -> None:
                nonlocal attempted
                attempted += 1
                try:
                    created = await self.client.create("pods", template_pod)
                except ApiError as err:
                    self.expectations.creation_observed(key)  # it will never arrive
                    if _terminating_namespace(err):
                        return  # the namespace controller is emptying it: not a failure
                    self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {err}")
                    raise
                self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {meta(created)['name']}")

            _, error = await slow_start_batch(want, create_one)
            # Batches never sent will never be observed either: stop expecting them.
            self.expectations.lower_expectations(key, add=want - attempted)
            if error is not None:
                raise error
            return
        if diff > 0:
            count = min(diff, self.burst_replicas)
            related = self._related_pods(rs, namespace_pods)
            victims = pods_to_delete(pods, related, count)
            victim_keys = [meta_namespace_key(p) for p in victims]
            self.expectations.expect_deletions(key, victim_keys)
            log.info("%s: too many replicas for %s, need %d, deleting %d", self.name, key,
                     (rs.get("spec") or {}).get("replicas"), count)

            async def delete_one(pod: Object) -> None:
                m = meta(pod)
                try:
                    await self.client.delete("pods", m["name"], namespace=m.get("namespace"),
                                             preconditions={"uid": m["uid"]})
                except NotFound:
                    self.expectations.deletion_observed(key, meta_namespace_key(pod))
                    return  # already gone: what we wanted
                except ApiError as err:
                    self.expectations.deletion_observed(key, meta_namespace_key(pod))
                    self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {err}")
                    raise
                self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {m['name']}")

            results = await asyncio.gather(*(delete_one(p) for p in victims), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    def _related_pods(self, rs: Object, namespace_pods: list[Object]) -> list[Object]:
        """Active pods of this ReplicaSet and its siblings (same controller): they rank deletion."""
        owner = controller_ref(rs)
        family = {meta(rs).get("uid")}
        if owner is not None:
            for other in self.rs_informer.by_index("namespace", meta(rs).get("namespace") or ""):
                other_owner = controller_ref(other)
                if other_owner is not None and other_owner.get("uid") == owner.get("uid"):
                    family.add(meta(other).get("uid"))
        return [p for p in namespace_pods
                if is_pod_active(p) and (controller_ref(p) or {}).get("uid") in family]

    def _calculate_status(self, rs: Object, pods: list[Object], manage_error: BaseException | None) -> dict[str, Any]:
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = spec.get("minReadySeconds") or 0
        now = dt.datetime.now(dt.UTC)
        fully_labeled = ready = available = 0
        for pod in pods:
            labels = meta(pod).get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
        old = rs.get("status") or {}
        conditions = list(old.get("conditions") or [])
        existing = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        if manage_error is not None and len(pods) < (spec.get("replicas") or 0):
            reason = "FailedCreate"
            cond = {"type": "ReplicaFailure", "status": "True", "reason": reason, "message": str(manage_error),
                    "lastTransitionTime": (existing or {}).get("lastTransitionTime")
                    or rfc3339(now)}
            conditions = _set_condition(conditions, cond, "ReplicaFailure")
        elif manage_error is None and existing is not None:
            conditions = _set_condition(conditions, None, "ReplicaFailure")
        status: dict[str, Any] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": meta(rs).get("generation") or 0,
        }
        if conditions:
            status["conditions"] = conditions
        return status

    async def _update_status(self, rs: Object, status: dict[str, Any]) -> dict[str, Any]:
        old = rs.get("status") or {}
        fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")
        if all((old.get(f) or 0) == status[f] for f in fields) and (old.get("conditions") or []) == (
                status.get("conditions") or []):
            return status
        await write_status(self.client, self.resource, rs, status)
        return status


class ReplicationControllerController(ReplicaSetController):
    """The v1 ReplicationController: a ReplicaSet whose selector is an equality map (``app: web``),
    as upstream runs it -- the ReplicaSet controller with the types converted.

    Kubernetes equivalent: pkg/controller/replication/replication_controller.go
    """

    name = "replicationcontroller"
    default_workers = 5  # --concurrent-rc-syncs
    resource: ClassVar[str] = "replicationcontrollers"
    owner_kind: ClassVar[str] = "ReplicationController"
    owner_api_version: ClassVar[str] = "v1"

    @staticmethod
    def selector_of(rs: Object) -> LabelSelector:
        labels = (rs.get("spec") or {}).get("selector") or {}
        return LabelSelector.from_structured({"matchLabels": labels}) if labels else LabelSelector.nothing()
