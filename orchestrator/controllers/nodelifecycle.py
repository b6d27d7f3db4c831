"""The node lifecycle controller: notice nodes that stopped reporting, taint them, evict their pods.

Every node's key is synced every `monitor_period` seconds (upstream --node-monitor-period, 5 s):

1. **Health.** A node agent renews its Lease ``kube-node-lease/<node>`` every few seconds.
   We remember *when we saw the lease (or the Ready condition's heartbeat) change*, by our own
   clock — remote timestamps are never compared with our clock, as in leader election. If
   nothing changed for `grace_period` (--node-monitor-grace-period, 50 s) the node's Ready,
   MemoryPressure, DiskPressure and PIDPressure conditions become ``Unknown`` with reason
   ``NodeStatusUnknown``, "Kubelet stopped posting node status.", and its pods' Ready
   conditions become False (so ReplicaSets and Services stop counting them).
2. **Taints.** Ready Unknown -> ``node.kubernetes.io/unreachable`` with effects NoSchedule (the
   scheduler stops placing pods there) and NoExecute (pods are evicted); Ready False ->
   ``node.kubernetes.io/not-ready`` likewise; Ready True -> both removed.
3. **Eviction** (upstream's taint-eviction controller). For each pod on a node with NoExecute
   taints: a pod that does not tolerate a taint is deleted at once; one that tolerates it for
   ``tolerationSeconds`` is deleted that long after the taint's ``timeAdded``; one that tolerates
   it forever stays. Pods with no toleration for not-ready/unreachable get the one the
   DefaultTolerationSeconds admission plugin would add: `default_toleration_seconds` (300 s,
   --pod-eviction-timeout here). Eviction is a normal (graceful) delete with the event
   ``TaintManagerEviction``; the ReplicaSet sees the pod terminating and makes a new one.
4. A node that reports again (lease renewed): the agent posts Ready True, and step 2 removes
   the taints.

Not modelled: zones and eviction rate limits (--node-eviction-rate), the full-disruption mode.

Kubernetes equivalent: pkg/controller/nodelifecycle/node_lifecycle_controller.go and
pkg/controller/tainteviction/taint_eviction.go.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import NotFound
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    ensure_indexer,
    write_status,
)
from orchestrator.controllers.ownerrefs import meta, parse_time

__all__ = ["NodeLifecycleController", "UNREACHABLE", "NOT_READY", "eviction_delay"]

log = logging.getLogger(__name__)

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def _now_text(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """upstream Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: Object, taints: list[dict[str, Any]], *, default_toleration_seconds: int) -> float | None:
    """Seconds after the taints were added that `pod` must go; 0 at once, None never.

    Worked example: taint unreachable:NoExecute; a pod with no tolerations -> 300 (the default
    toleration); with ``{key: unreachable, operator: Exists, effect: NoExecute,
    tolerationSeconds: 30}`` -> 30; with the same toleration without tolerationSeconds -> None.
    """
    tolerations = list((pod.get("spec") or {}).get("tolerations") or [])
    for key in (NOT_READY, UNREACHABLE):
        if not any(t.get("key") == key and t.get("effect") in (None, "", "NoExecute") for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": default_toleration_seconds})
    delay: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if _tolerates(t, taint)]
        if not matching:
            return 0.0
        seconds = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if not seconds:
            continue  # tolerated forever
        this = max(min(seconds), 0)
        delay = this if delay is None else min(delay, this)
    return delay


@dataclass
class _Health:
    lease_renew: str | None
    heartbeat: str | None
    probe: float  # our clock when one of them last changed


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    default_workers = 1

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None, grace_period: float = 50.0,
                 monitor_period: float = 5.0, default_toleration_seconds: int = 300) -> None:
        super().__init__(ctx, workers=workers)
        self.grace_period = grace_period
        self.monitor_period = monitor_period
        self.default_toleration_seconds = default_toleration_seconds
        self.node_informer = ctx.factory.informer("nodes")
        self.lease_informer = ctx.factory.informer("leases.coordination.k8s.io", namespace="kube-node-lease")
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        ensure_indexer(self.pod_informer, "node", lambda p: (p.get("spec") or {}).get("nodeName"))
        self.node_informer.add_handler(on_add=self.enqueue, on_update=self._node_updated, on_delete=self._node_deleted)
        self.lease_informer.add_handler(on_add=self._lease_changed, on_update=lambda o, c: self._lease_changed(c))
        self._health: dict[str, _Health] = {}

    def resync_all(self) -> None:
        for node in self.node_informer.list():
            self.enqueue(node)

    def _node_updated(self, old: Object, cur: Object) -> None:
        if (old.get("spec") or {}).get("taints") != (cur.get("spec") or {}).get("taints"):
            self.enqueue(cur)  # new taints may evict now
        elif _ready(old) != _ready(cur):
            self.enqueue(cur)

    def _node_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        self._health.pop(meta(deleted_object(obj)).get("name") or "", None)

    def _lease_changed(self, lease: Object) -> None:
        name = meta(lease).get("name") or ""
        health = self._health.get(name)
        if health is not None and health.lease_renew != (lease.get("spec") or {}).get("renewTime"):
            self.queue.add(name)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        node = self.node_informer.get(key)
        if node is None:
            self._health.pop(key, None)
            return
        now = dt.datetime.now(dt.UTC)
        node = await self._monitor_health(node, now)
        node = await self._reconcile_taints(node, now)
        next_eviction = await self._evict(node, now)
        delay = self.monitor_period if next_eviction is None else min(self.monitor_period, next_eviction)
        self.queue.add_after(key, max(delay, 0.05))

    async def _monitor_health(self, node: Object, now: dt.datetime) -> Object:
        name = meta(node)["name"]
        lease = self.lease_informer.get(f"kube-node-lease/{name}")
        renew = (lease.get("spec") or {}).get("renewTime") if lease is not None else None
        ready = _condition(node, "Ready")
        heartbeat = (ready or {}).get("lastHeartbeatTime")
        local_now = self.clock.now()
        health = self._health.get(name)
        if health is None or health.lease_renew != renew or health.heartbeat != heartbeat:
            self._health[name] = health = _Health(renew, heartbeat, local_now)
        if local_now - health.probe <= self.grace_period:
            return node
        if ready is not None and ready.get("status") == "Unknown":
            return node  # already marked
        status = copy.deepcopy(node.get("status") or {})
        stamp = _now_text(now)
        conditions = status.get("conditions") or []
        if ready is None:
            conditions.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.", "lastHeartbeatTime": None,
                               "lastTransitionTime": stamp})
        for cond in conditions:
            if cond.get("type") in _CONDITIONS and cond.get("status") != "Unknown":
                cond.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                            lastTransitionTime=stamp)
        status["conditions"] = conditions
        log.warning("%s: node %s stopped posting status for %.0fs (grace %.0fs): Ready=Unknown", self.name, name,
                    local_now - health.probe, self.grace_period)
        self.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        updated = await write_status(self.client, "nodes", node, status)
        await self._mark_pods_not_ready(name, stamp)
        return updated

    async def _mark_pods_not_ready(self, node_name: str, stamp: str) -> None:
        for pod in self.pod_informer.by_index("node", node_name):
            status = copy.deepcopy(pod.get("status") or {})
            changed = False
            for cond in status.get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") != "False":
                    cond.update(status="False", lastTransitionTime=stamp)
                    changed = True
            if changed:
                try:
                    await write_status(self.client, "pods", pod, status)
                except NotFound:
                    continue

    async def _reconcile_taints(self, node: Object, now: dt.datetime) -> Object:
        ready = (_condition(node, "Ready") or {}).get("status")
        wanted_key = UNREACHABLE if ready == "Unknown" else NOT_READY if ready == "False" else None
        taints = list((node.get("spec") or {}).get("taints") or [])
        ours = [t for t in taints if t.get("key") in (UNREACHABLE, NOT_READY)]
        keep = [t for t in taints if t.get("key") not in (UNREACHABLE, NOT_READY)]
        wanted: list[dict[str, Any]] = []
        if wanted_key is not None:
            for effect in ("NoSchedule", "NoExecute"):
                existing = next((t for t in ours if t.get("key") == wanted_key and t.get("effect") == effect), None)
                if existing is not None:
                    wanted.append(existing)
                else:
                    taint: dict[str, Any] = {"key": wanted_key, "effect": effect}
                    if effect == "NoExecute":
                        taint["timeAdded"] = _now_text(now)  # eviction counts from here
                    wanted.append(taint)
        if sorted(map(repr, ours)) == sorted(map(repr, wanted)):
            return node
        body = copy.deepcopy(node)
        body.setdefault("spec", {})["taints"] = keep + wanted or None
        if body["spec"]["taints"] is None:
            del body["spec"]["taints"]
        log.info("%s: node %s taints now %s", self.name, meta(node)["name"],
                 [f"{t['key']}:{t['effect']}" for t in wanted] or "none of ours")
        return await self.client.update("nodes", body)

    async def _evict(self, node: Object, now: dt.datetime) -> float | None:
        """Delete pods whose toleration ran out; return seconds until the next one does."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if not taints:
            return None
        added = min((parse_time(t.get("timeAdded")) or now for t in taints), default=now)
        next_due: float | None = None
        for pod in self.pod_informer.by_index("node", meta(node)["name"]):
            pm = meta(pod)
            if pm.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            delay = eviction_delay(pod, taints, default_toleration_seconds=self.default_toleration_seconds)
            if delay is None:
                continue
            remaining = (added + dt.timedelta(seconds=delay) - now).total_seconds()
            if remaining > 0:
                next_due = remaining if next_due is None else min(next_due, remaining)
                continue
            self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {pm.get('namespace')}/"
                                f"{pm['name']}")
            log.info("%s: evicting pod %s/%s from node %s", self.name, pm.get("namespace"), pm["name"],
                     meta(node)["name"])
            try:
                await self.client.delete("pods", pm["name"], namespace=pm.get("namespace"),
                                         preconditions={"uid": pm["uid"]})
            except NotFound:
                continue
        return next_due


def _condition(node: Object, type_: str) -> dict[str, Any] | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _ready(node: Object) -> str | None:
    return (_condition(node, "Ready") or {}).get("status")
