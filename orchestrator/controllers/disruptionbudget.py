"""The disruption controller: keep each PodDisruptionBudget's status, which the eviction subresource obeys.

`sync(key)` for one budget:

1. **pods** -- the namespace's pods its selector matches (a missing selector matches none, an empty
   one all);
2. **expected and desired** -- ``minAvailable: 3``: desiredHealthy 3, expectedPods = the pods found;
   a percentage or ``maxUnavailable`` needs the *scale* the pods should have: the ``replicas`` of
   their controllers (a ReplicaSet's, or its Deployment's, or a ReplicationController's), summed once per controller. Then
   desiredHealthy = ceil(percent x expected) for minAvailable, expected - ceil(maxUnavailable) for
   maxUnavailable. A pod without a controller (or one whose scale is unknown) makes that
   impossible: the budget then allows nothing (condition reason SyncFailed), as upstream does;
3. **healthy** -- Ready pods not being deleted, minus those in ``status.disruptedPods``: pods an
   eviction has spent a disruption on and whose deletion this controller has not yet seen. An entry
   leaves the map when the pod is seen going, or after 2 minutes (the eviction never deleted it);
4. **status** -- disruptionsAllowed = healthy - desired (0 at least, and 0 with no expected pods),
   the DisruptionAllowed condition (True: SufficientPods, False: InsufficientPods), and
   observedGeneration -- the eviction subresource refuses to trust a budget whose status is older
   than its spec.

Worked example: a Deployment of 3 replicas, ``maxUnavailable: 1``: expected 3, desired 2; all three
Ready -> 1 disruption allowed. ``kubectl drain`` evicts one pod: the eviction spends it (allowed 0,
the pod in disruptedPods); a second eviction gets 429 until the replacement pod is Ready.

Kubernetes equivalent: pkg/controller/disruption/disruption.go
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from orchestrator.api.errors import Invalid
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import rfc3339, utc_now
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
)
from orchestrator.controllers.ownerrefs import controller_ref, is_pod_ready, meta, parse_time

__all__ = ["DELETION_TIMEOUT", "DisruptionController", "scaled_value"]

DELETION_TIMEOUT = 120.0  # upstream DeletionTimeout: how long an eviction's pod may take to start going






def scaled_value(value: int | str, total: int) -> int:
    """An int, or a percentage of `total` rounded up (intstr.GetScaledValueFromIntOrPercent, roundUp)."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


class _NoScale(Exception):
    """The scale of a pod's controller cannot be found (upstream: "found no controllers for pod")."""


class DisruptionController(Controller):
    name = "disruption"
    default_workers = 1

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 wall_clock: Callable[[], dt.datetime] = utc_now) -> None:
        super().__init__(ctx, workers=workers)
        self.wall_clock = wall_clock
        self.pdb_informer = ctx.factory.informer("poddisruptionbudgets.policy", namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.rs_informer = ctx.factory.informer("replicasets.apps", namespace=ctx.namespace)
        self.deploy_informer = ctx.factory.informer("deployments.apps", namespace=ctx.namespace)
        self.rc_informer = ctx.factory.informer("replicationcontrollers", namespace=ctx.namespace)
        for informer in (self.pdb_informer, self.pod_informer):
            ensure_indexer(informer, "namespace", by_namespace)
        self.pdb_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur),
                                      on_delete=self.enqueue)
        self.pod_informer.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                      on_delete=self._pod_changed)
        # A controller's replicas decide expectedPods for percentages and maxUnavailable.
        for informer in (self.rs_informer, self.deploy_informer, self.rc_informer):
            informer.add_handler(on_add=self._scale_changed, on_update=lambda old, cur: self._scale_changed(cur),
                                 on_delete=self._scale_changed)

    def resync_all(self) -> None:
        for pdb in self.pdb_informer.list():
            self.enqueue(pdb)

    # --- handlers ------------------------------------------------------------------------------

    def _budgets_of(self, pod: Object) -> list[Object]:
        labels = meta(pod).get("labels") or {}
        found = []
        for pdb in self.pdb_informer.by_index("namespace", meta(pod).get("namespace") or ""):
            selector = self._selector(pdb)
            if selector is not None and selector.matches(labels):
                found.append(pdb)
        return found

    def _pod_changed(self, obj: Object | DeletedFinalStateUnknown) -> None:
        for pdb in self._budgets_of(deleted_object(obj)):
            self.enqueue(pdb)

    def _pod_updated(self, old: Object, cur: Object) -> None:
        for pdb in {meta(p).get("uid"): p for p in self._budgets_of(old) + self._budgets_of(cur)}.values():
            self.enqueue(pdb)

    def _scale_changed(self, obj: Object | DeletedFinalStateUnknown) -> None:
        for pdb in self.pdb_informer.by_index("namespace", meta(deleted_object(obj)).get("namespace") or ""):
            self.enqueue(pdb)

    @staticmethod
    def _selector(pdb: Object) -> LabelSelector | None:
        raw = (pdb.get("spec") or {}).get("selector")
        if raw is None:
            return None  # a null selector matches no pods
        try:
            return LabelSelector.from_structured(raw)
        except Invalid:
            return None

    # --- sync ----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        pdb = self.pdb_informer.get(key)
        if pdb is None:
            return
        now = self.wall_clock()
        selector = self._selector(pdb)
        pods = [] if selector is None else [
            p for p in self.pod_informer.by_index("namespace", meta(pdb).get("namespace") or "")
            if selector.matches(meta(p).get("labels") or {})]
        status = copy.deepcopy(pdb.get("status") or {})
        generation = meta(pdb).get("generation") or 1
        try:
            expected, desired = self._expected_and_desired(pdb, pods)
        except _NoScale as err:
            self.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {err}")
            status.update({"disruptionsAllowed": 0, "observedGeneration": generation})
            status["conditions"] = self._condition(status, False, "SyncFailed", str(err), now, generation)
            await self._write(pdb, status)
            return
        disrupted, recheck = self._disrupted_pods(pdb, pods, now)
        healthy = sum(1 for p in pods if is_pod_ready(p) and not meta(p).get("deletionTimestamp")
                      and meta(p).get("name") not in disrupted)
        allowed = healthy - desired if expected > 0 else 0
        allowed = max(allowed, 0)
        status.update({"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                       "disruptionsAllowed": allowed, "observedGeneration": generation})
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        status["conditions"] = self._condition(status, allowed > 0, "SufficientPods" if allowed > 0
                                               else "InsufficientPods", "", now, generation)
        await self._write(pdb, status)
        if recheck is not None:
            self.queue.add_after(key, recheck)

    def _expected_and_desired(self, pdb: Object, pods: list[Object]) -> tuple[int, int]:
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected = self._expected_scale(pods)
            return expected, max(0, expected - scaled_value(spec["maxUnavailable"], expected))
        minimum = spec.get("minAvailable")
        if isinstance(minimum, int):
            return len(pods), minimum
        if isinstance(minimum, str):
            expected = self._expected_scale(pods)
            return expected, scaled_value(minimum, expected)
        return 0, 0

    def _expected_scale(self, pods: list[Object]) -> int:
        """The replicas the pods' controllers want, each controller counted once (getExpectedScale)."""
        scales: dict[str, int] = {}
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                raise _NoScale(f'found no controller ref for pod "{meta(pod).get("name")}"')
            if ref.get("uid") in scales:
                continue
            uid, replicas = self._scale_of(meta(pod).get("namespace") or "", ref)
            scales[uid] = replicas
        return sum(scales.values())

    def _scale_of(self, namespace: str, ref: dict[str, Any]) -> tuple[str, int]:
        if ref.get("kind") == "ReplicaSet":
            rs = self.rs_informer.get(f"{namespace}/{ref.get('name')}")
            if rs is not None and meta(rs).get("uid") == ref.get("uid"):
                owner = controller_ref(rs)
                if owner is not None and owner.get("kind") == "Deployment":
                    deploy = self.deploy_informer.get(f"{namespace}/{owner.get('name')}")
                    if deploy is not None and meta(deploy).get("uid") == owner.get("uid"):
                        return owner["uid"], (deploy.get("spec") or {}).get("replicas", 1)
                return ref["uid"], (rs.get("spec") or {}).get("replicas", 1)
        if ref.get("kind") == "ReplicationController":
            rc = self.rc_informer.get(f"{namespace}/{ref.get('name')}")
            if rc is not None and meta(rc).get("uid") == ref.get("uid"):
                return ref["uid"], (rc.get("spec") or {}).get("replicas", 1)
        raise _NoScale(f"found no controllers for pod's owner {ref.get('kind')}/{ref.get('name')}")

    def _disrupted_pods(self, pdb: Object, pods: list[Object],
                        now: dt.datetime) -> tuple[dict[str, str], float | None]:
        """The disruptedPods still pending, and in how many seconds the oldest expires."""
        by_name = {meta(p).get("name"): p for p in pods}
        kept: dict[str, str] = {}
        recheck: float | None = None
        for name, stamp in ((pdb.get("status") or {}).get("disruptedPods") or {}).items():
            pod = by_name.get(name)
            if pod is None or meta(pod).get("deletionTimestamp"):
                continue  # its deletion has been seen
            at = parse_time(stamp) or now
            expires = (at - now).total_seconds() + DELETION_TIMEOUT
            if expires <= 0:
                self.recorder.event(pdb, "Warning", "NotDeleted",
                                    f"Pod was expected by PDB {meta(pdb).get('name')} to be deleted but it wasn't")
                continue
            kept[name] = stamp
            recheck = expires if recheck is None else min(recheck, expires)
        return kept, recheck

    @staticmethod
    def _condition(status: dict[str, Any], allowed: bool, reason: str, message: str, now: dt.datetime,
                   generation: int) -> list[dict[str, Any]]:
        conditions = list(status.get("conditions") or [])
        old = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
        value = "True" if allowed else "False"
        cond = {"type": "DisruptionAllowed", "status": value, "observedGeneration": generation,
                "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == value
                and old.get("lastTransitionTime") else rfc3339(now),
                "reason": reason, "message": message}
        return [c for c in conditions if c.get("type") != "DisruptionAllowed"] + [cond]

    async def _write(self, pdb: Object, status: dict[str, Any]) -> None:
        # No blind retry over a newer resourceVersion (controller.write_status): the newer one may be
        # an eviction's spend, which a status computed before it must not undo. A 409 fails the
        # sync; the retry computes again from caches that have seen the eviction.
        if status != (pdb.get("status") or {}):
            await self.client.update_status("poddisruptionbudgets.policy", {**pdb, "status": status})
