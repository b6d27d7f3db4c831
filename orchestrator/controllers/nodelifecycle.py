"""The node lifecycle controller: notice nodes that stopped reporting, taint them, evict their pods.

A **monitor pass** runs every `monitor_period` seconds (upstream --node-monitor-period, 5 s):

1. **Health.** A node agent renews its Lease ``kube-node-lease/<node>`` every 10 s. We remember
   *when we saw the lease (or the Ready condition's heartbeat) change*, by our own clock --
   remote timestamps are never compared with our clock, as in leader election. If nothing
   changed for `grace_period` (--node-monitor-grace-period, 50 s) the node's Ready,
   MemoryPressure, DiskPressure and PIDPressure conditions become ``Unknown`` with reason
   ``NodeStatusUnknown``, "Kubelet stopped posting node status.", and its pods' Ready
   conditions become False (so ReplicaSets and Services stop counting them). A Node status
   posted only every 5 minutes is fine: the Lease alone proves the node alive. Before a node is
   marked, the Lease cache is brought up to the server's current revision (`_leases_current`),
   so a lagging watch cannot make live nodes look silent.
2. **Zones** (orchestrator/controllers/disruption.py). Nodes are grouped by
   ``topology.kubernetes.io/zone``; each zone is Normal, PartialDisruption or FullDisruption
   from its fraction of nodes that are not Ready, and that state sets how many nodes per second
   may get the NoExecute taint (--node-eviction-rate 0.1, --secondary-node-eviction-rate 0.01,
   --unhealthy-zone-threshold 0.55, --large-cluster-size-threshold 50). When **every** zone is
   in FullDisruption nothing is tainted NoExecute and the NoExecute taints already added are
   removed: so many nodes failing at once points at the network or the control plane, and
   evicting would only move pods that still run. Leaving that mode, every node's health clock
   restarts, so nodes get a whole grace period to report again. Each change of a zone's state
   is logged and recorded as an Event (reason ``ZoneStateChanged``, on the controller
   manager's Lease ``kube-system/kube-controller-manager``), and ``node_collector_zone_state``
   on /metrics says each zone's state.
3. **Taints** (a node's sync). Ready Unknown -> ``node.kubernetes.io/unreachable``; Ready False
   -> ``node.kubernetes.io/not-ready``. The NoSchedule one at once (the scheduler stops placing
   pods there); the NoExecute one only once the zone's rate limiter admitted the node (step 2).
   Ready True -> both removed.
4. **Eviction** (upstream's taint-eviction controller). For each pod on a node with NoExecute
   taints: a pod that does not tolerate a taint is deleted at once; one that tolerates it for
   ``tolerationSeconds`` is deleted that long after the taint's ``timeAdded``; one that tolerates
   it forever stays. Pods with no toleration for not-ready/unreachable get the one the
   DefaultTolerationSeconds admission plugin would add: `default_toleration_seconds` (300 s,
   --pod-eviction-timeout here). Eviction is a normal (graceful) delete with the event
   ``TaintManagerEviction``; the ReplicaSet sees the pod terminating and makes a new one.

Healthy nodes cost the monitor pass a dictionary look-up each and no sync at all, so 1,000 idle
nodes keep the controller idle.

Kubernetes equivalent: pkg/controller/nodelifecycle/node_lifecycle_controller.go and
pkg/controller/tainteviction/taint_eviction.go.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.api.errors import ApiError, NotFound
from orchestrator.api.timestamps import rfc3339
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    ensure_indexer,
    write_status,
)
from orchestrator.controllers.disruption import (
    ZONE_STATES,
    EvictionRates,
    RateLimitedQueue,
    TokenBucket,
    ZoneState,
    compute_zone_state,
    zone_of,
)
from orchestrator.controllers.ownerrefs import meta, parse_time

__all__ = ["NodeLifecycleController", "UNREACHABLE", "NOT_READY", "eviction_delay"]

log = logging.getLogger(__name__)

LEASES = "leases.coordination.k8s.io"
NODE_LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")




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


@dataclass
class _Zone:
    """What the controller knows of one zone after a monitor pass."""

    state: ZoneState
    size: int
    not_ready: int
    queue: RateLimitedQueue  # nodes waiting for their NoExecute taint


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    # Upstream taints with 8 workers (nodeUpdateWorkerSize): when a whole fleet goes Unknown,
    # 1,000 taint updates one after another would take most of a minute.
    default_workers = 8

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None, grace_period: float = 50.0,
                 monitor_period: float = 5.0, default_toleration_seconds: int = 300,
                 rates: EvictionRates | None = None, eviction_tick: float = 0.1) -> None:
        super().__init__(ctx, workers=workers)
        self.grace_period = grace_period
        self.monitor_period = monitor_period
        self.default_toleration_seconds = default_toleration_seconds
        self.rates = rates or EvictionRates()
        self.eviction_tick = eviction_tick  # upstream nodeEvictionPeriod: how often the zone queues are served
        self.node_informer = ctx.factory.informer("nodes")
        self.lease_informer = ctx.factory.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        ensure_indexer(self.pod_informer, "node", lambda p: (p.get("spec") or {}).get("nodeName"))
        self.node_informer.add_handler(on_add=self.enqueue, on_update=self._node_updated, on_delete=self._node_deleted)
        self.lease_informer.add_handler(on_add=self._lease_changed, on_update=lambda o, c: self._lease_changed(c))
        self._health: dict[str, _Health] = {}
        self.zones: dict[str, _Zone] = {}
        self.all_fully_disrupted = False
        self._admitted: set[str] = set()  # nodes the zone limiter let have their NoExecute taint
        self._ready: dict[str, bool] = {}  # node -> Ready is True, as of the last monitor pass
        # Nodes past their grace period, to be marked Unknown by a worker: when the pass decided so.
        self._to_mark: dict[str, float] = {}
        self._leases_current_at = float("-inf")  # our clock when the Lease cache last proved current
        self._leases_checking = asyncio.Lock()
        self.evictions: dict[str, int] = {}  # zone -> pods deleted by taint eviction
        self.tainted: list[tuple[float, str]] = []  # (our clock, node) of recent NoExecute admissions, for tests
        self.monitor_passes = 0

    def resync_all(self) -> None:
        for node in self.node_informer.list():
            self.enqueue(node)

    def _node_updated(self, old: Object, cur: Object) -> None:
        if (old.get("spec") or {}).get("taints") != (cur.get("spec") or {}).get("taints"):
            self.enqueue(cur)  # new taints may evict now
        elif _ready(old) != _ready(cur):
            self.enqueue(cur)

    def _node_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        name = meta(deleted_object(obj)).get("name") or ""
        self._forget(name)

    def _forget(self, name: str) -> None:
        self._health.pop(name, None)
        self._to_mark.pop(name, None)
        self._admitted.discard(name)
        self._ready.pop(name, None)
        for zone in self.zones.values():
            zone.queue.remove(name)

    def _lease_changed(self, lease: Object) -> None:
        name = meta(lease).get("name") or ""
        health = self._health.get(name)
        if health is not None and health.lease_renew != (lease.get("spec") or {}).get("renewTime"):
            if _ready(self.node_informer.get(name) or {}) != "True":
                self.queue.add(name)  # it reports again: its agent will post Ready, we lift taints

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """The workers (node syncs), the monitor pass and the zone queues, until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(super().run(), name=f"{self.name}-workers")
            tg.create_task(self._monitor_loop(), name=f"{self.name}-monitor")
            tg.create_task(self._eviction_loop(), name=f"{self.name}-zone-queues")

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor_once()
            except ApiError as err:
                log.warning("%s: monitor pass failed: %s", self.name, err)
            await self.clock.sleep(self.monitor_period)

    async def _eviction_loop(self) -> None:
        while True:
            self.admit_evictions()
            await self.clock.sleep(self.eviction_tick)

    # --- the monitor pass ---------------------------------------------------------------------

    async def monitor_once(self) -> None:
        """Steps 1 and 2 of the module docstring for every node; queue the nodes whose state changes.

        The pass itself does no I/O: it decides, from the caches, which nodes are past their
        grace period and what each zone's state is, and leaves the writes (Ready=Unknown, taints)
        to the workers. So the zone's state follows an outage within one monitor period however
        slowly the API server takes 1,000 status writes -- a pass that waited for them once let a
        zone look Normal, and evict at the Normal rate, for more than a minute of a full outage.
        """
        nodes = self.node_informer.list()
        local_now = self.clock.now()
        ready: dict[str, bool] = {}
        for node in nodes:
            name = meta(node)["name"]
            stale = self._past_grace(node, local_now)
            status = _ready(node)
            ready[name] = status == "True" and not stale
            if stale and status != "Unknown":
                if name not in self._to_mark:
                    self._to_mark[name] = local_now
                    self.queue.add(name)
            else:
                self._to_mark.pop(name, None)
        self._ready = ready
        self._handle_disruption(nodes)
        for node in nodes:
            name = meta(node)["name"]
            zone = self.zones[zone_of(node)]
            ours = _our_taints(node)
            if ready[name]:
                zone.queue.remove(name)
                self._admitted.discard(name)
                if ours:
                    self.queue.add(name)  # lift the taints
                continue
            if name not in self._admitted and not any(t.get("effect") == "NoExecute" for t in ours):
                zone.queue.add(name, now=local_now)
            wanted = _wanted_key(node)
            if wanted is not None and wanted not in {t.get("key") for t in ours if t.get("effect") == "NoSchedule"}:
                self.queue.add(name)  # the NoSchedule taint is never rate limited
        self.monitor_passes += 1

    def _handle_disruption(self, nodes: list[Object]) -> None:
        """Zone states, their limiters, and the all-zones-down mode (upstream handleDisruption)."""
        members: dict[str, list[bool]] = {}
        for node in nodes:
            members.setdefault(zone_of(node), []).append(self._ready[meta(node)["name"]])
        states: dict[str, tuple[int, ZoneState]] = {
            zone: compute_zone_state(ready, unhealthy_zone_threshold=self.rates.unhealthy_zone_threshold)
            for zone, ready in members.items()
        }
        all_down = bool(states) and all(state == "FullDisruption" for _, state in states.values())
        if all_down and not self.all_fully_disrupted:
            log.warning("%s: every zone is in FullDisruption (no node Ready): evictions stop, NoExecute taints "
                        "are lifted", self.name)
            for zone in self.zones.values():
                zone.queue.clear()
            lifted, self._admitted = self._admitted, set()
            for node in nodes:
                if lifted or any(t.get("effect") == "NoExecute" for t in _our_taints(node)):
                    self.queue.add(meta(node)["name"])
        elif not all_down and self.all_fully_disrupted:
            log.warning("%s: some node is Ready again: leaving the all-zones-down mode; every node gets a full "
                        "grace period", self.name)
            local_now = self.clock.now()
            for health in self._health.values():
                health.probe = local_now
        self.all_fully_disrupted = all_down
        for zone_name, (not_ready, state) in states.items():
            size = len(members[zone_name])
            rate = self.rates.rate(state, zone_size=size, all_fully_disrupted=all_down)
            zone = self.zones.get(zone_name)
            if zone is None:
                zone = _Zone(state="Normal", size=size, not_ready=0,
                             queue=RateLimitedQueue(TokenBucket(rate, clock=self.clock)))
                self.zones[zone_name] = zone
            if state != zone.state:
                self._zone_changed(zone_name, zone.state, state, size=size, not_ready=not_ready, rate=rate)
            zone.state, zone.size, zone.not_ready = state, size, not_ready
            if zone.queue.limiter.qps != rate:
                zone.queue.limiter.swap(rate)
        for gone in set(self.zones) - set(states):
            del self.zones[gone]

    def _zone_changed(self, zone: str, old: ZoneState, new: ZoneState, *, size: int, not_ready: int,
                      rate: float) -> None:
        label = zone or "(no zone label)"
        message = (f"zone {label}: {not_ready} of {size} node(s) not Ready: {old} -> {new}; "
                   f"NoExecute taints at {rate:g} node(s)/s")
        log.warning("%s: %s", self.name, message)
        self.recorder.event(_CONTROLLER_LEASE, "Warning" if new != "Normal" else "Normal", "ZoneStateChanged", message)

    def admit_evictions(self) -> list[str]:
        """Let each zone's limiter admit waiting nodes to their NoExecute taint; return the admitted."""
        admitted: list[str] = []
        for zone in self.zones.values():
            for name in zone.queue.admit(lambda n: not self._ready.get(n, True)):
                self._admitted.add(name)
                self.tainted.append((self.clock.now(), name))
                del self.tainted[:-1000]
                self.queue.add(name)
                admitted.append(name)
        return admitted

    # --- a node's sync: taints and evictions ------------------------------------------------

    async def sync(self, key: str) -> None:
        node = self.node_informer.get(key)
        if node is None:
            self._forget(key)
            return
        decided = self._to_mark.get(key)
        if decided is not None:
            # Decided by the monitor pass; looked at again in case the Lease was renewed since,
            # with a Lease cache that holds every renewal committed before the decision.
            if self._past_grace(node, self.clock.now()) and _ready(node) != "Unknown":
                await self._leases_current(decided)
                node = self.node_informer.get(key)  # the wait may have brought a newer one, or none
                if node is None:
                    self._forget(key)
                    return
                if self._past_grace(node, self.clock.now()) and _ready(node) != "Unknown":
                    node = await self._mark_unknown(node, dt.datetime.now(dt.UTC))
            if self._to_mark.get(key) == decided:  # not a newer pass's decision, made meanwhile
                self._to_mark.pop(key, None)
        now = dt.datetime.now(dt.UTC)
        node = await self._reconcile_taints(node, now)
        next_eviction = await self._evict(node, now)
        if next_eviction is not None:
            self.queue.add_after(key, max(next_eviction, 0.05))

    async def _leases_current(self, decided: float) -> None:
        """Make the Lease cache hold every renewal committed before `decided` (our clock), once
        for all the nodes one pass found stale.

        Upstream trusts its Lease informer here. Ours lagged behind a busy API server in a
        1,000-node run (docs/benchmarks.md): renewals that had been committed were still on
        their way, every node looked silent, and each was marked Unknown. So the cache first
        catches up to the revision the server is at now (`Informer.catch_up`: its watch
        brings it, or a fresh list of the Leases). A server that cannot say or a cache that
        cannot get there within a monitor period (the API server is down or swamped) leaves
        the decision to the cache as it is, as upstream would."""
        if self._leases_current_at >= decided:
            return
        async with self._leases_checking:
            if self._leases_current_at >= decided:
                return
            asked = self.clock.now()
            revision = 0
            try:
                async with asyncio.timeout(self.monitor_period):
                    listed = await self.client.list(LEASES, namespace=NODE_LEASE_NAMESPACE, limit=1)
                    revision = int((listed.get("metadata") or {}).get("resourceVersion") or 0)
                    await self.lease_informer.catch_up(revision, patience=self.monitor_period / 2)
            except (TimeoutError, ApiError) as err:
                log.info("%s: the node Lease cache could not be brought to the server's revision %s within %gs "
                         "(%s); deciding on it as it is", self.name, revision or "(unknown)", self.monitor_period,
                         str(err) or "timed out")
            self._leases_current_at = asked

    def _past_grace(self, node: Object, local_now: float) -> bool:
        """True if neither the node's Lease nor its Ready heartbeat changed for `grace_period`."""
        name = meta(node)["name"]
        lease = self.lease_informer.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renew = (lease.get("spec") or {}).get("renewTime") if lease is not None else None
        heartbeat = (_condition(node, "Ready") or {}).get("lastHeartbeatTime")
        health = self._health.get(name)
        if health is None or health.lease_renew != renew or health.heartbeat != heartbeat:
            self._health[name] = health = _Health(renew, heartbeat, local_now)
        return local_now - health.probe > self.grace_period

    async def _mark_unknown(self, node: Object, now: dt.datetime) -> Object:
        name = meta(node)["name"]
        ready = _condition(node, "Ready")
        health = self._health[name]
        local_now = self.clock.now()
        status = copy.deepcopy(node.get("status") or {})
        stamp = rfc3339(now)
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
        name = meta(node)["name"]
        wanted_key = _wanted_key(node)
        taints = list((node.get("spec") or {}).get("taints") or [])
        ours = [t for t in taints if t.get("key") in (UNREACHABLE, NOT_READY)]
        keep = [t for t in taints if t.get("key") not in (UNREACHABLE, NOT_READY)]
        had_no_execute = any(t.get("effect") == "NoExecute" for t in ours)
        # NoExecute only once the zone's limiter admitted the node; one it has keeps it (also
        # across a controller restart, and switching unreachable <-> not-ready, as upstream's
        # SwapNodeControllerTaint), except in the all-zones-down mode, which lifts it.
        no_execute = not self.all_fully_disrupted and (name in self._admitted or had_no_execute)
        wanted: list[dict[str, Any]] = []
        if wanted_key is not None:
            for effect in ("NoSchedule", "NoExecute") if no_execute else ("NoSchedule",):
                existing = next((t for t in ours if t.get("key") == wanted_key and t.get("effect") == effect), None)
                if existing is not None:
                    wanted.append(existing)
                else:
                    taint: dict[str, Any] = {"key": wanted_key, "effect": effect}
                    if effect == "NoExecute":
                        taint["timeAdded"] = rfc3339(now)  # eviction counts from here
                    wanted.append(taint)
        if sorted(map(repr, ours)) == sorted(map(repr, wanted)):
            return node
        body = copy.deepcopy(node)
        body.setdefault("spec", {})["taints"] = keep + wanted or None
        if body["spec"]["taints"] is None:
            del body["spec"]["taints"]
        log.info("%s: node %s taints now %s", self.name, name,
                 [f"{t['key']}:{t['effect']}" for t in wanted] or "none of ours")
        return await self.client.update("nodes", body)

    async def _evict(self, node: Object, now: dt.datetime) -> float | None:
        """Delete pods whose toleration ran out; return seconds until the next one does."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if not taints:
            return None
        added = min((parse_time(t.get("timeAdded")) or now for t in taints), default=now)
        next_due: float | None = None
        zone = zone_of(node)
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
            self.evictions[zone] = self.evictions.get(zone, 0) + 1
        return next_due

    # --- metrics ------------------------------------------------------------------------------

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """Add the zone gauges and the eviction counter to the controller manager's /metrics."""
        registry.register(_ZoneCollector(self))


class _ZoneCollector(Collector):
    """Read at scrape time from the controller (upstream: node_collector_* in nodelifecycle/metrics.go)."""

    def __init__(self, controller: NodeLifecycleController) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Metric]:
        c = self.controller
        state = GaugeMetricFamily("node_collector_zone_state", "1 for the state each zone is in now.",
                                  labels=["zone", "state"])
        size = GaugeMetricFamily("node_collector_zone_size", "Nodes in the zone.", labels=["zone"])
        unhealthy = GaugeMetricFamily("node_collector_unhealthy_nodes_in_zone", "Nodes of the zone not Ready.",
                                      labels=["zone"])
        for name, zone in sorted(c.zones.items()):
            for s in ZONE_STATES:
                state.add_metric([name, s], 1.0 if zone.state == s else 0.0)
            size.add_metric([name], zone.size)
            unhealthy.add_metric([name], zone.not_ready)
        evictions = CounterMetricFamily("taint_eviction_controller_pod_deletions",
                                        "Pods deleted because of NoExecute taints.", labels=["zone"])
        for name, count in sorted(c.evictions.items()):
            evictions.add_metric([name], count)
        yield from (state, size, unhealthy, evictions)


_CONTROLLER_LEASE: Object = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": "kube-controller-manager", "namespace": "kube-system"}}


def _our_taints(node: Object) -> list[dict[str, Any]]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") in (UNREACHABLE, NOT_READY)]


def _wanted_key(node: Object) -> str | None:
    ready = _ready(node)
    return UNREACHABLE if ready == "Unknown" else NOT_READY if ready == "False" else None


def _condition(node: Object, type_: str) -> dict[str, Any] | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _ready(node: Object) -> str | None:
    return (_condition(node, "Ready") or {}).get("status")
