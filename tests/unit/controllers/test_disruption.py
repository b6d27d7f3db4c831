"""Zone states and eviction rate limits of the node lifecycle controller, on a fake clock.

The pure pieces (zone state, token bucket, rates) and the controller's monitor pass over Nodes
held in its informer caches, with a fake client that returns what it is sent.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.client.clock import FakeClock
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import SharedInformerFactory
from orchestrator.controllers.controller import ControllerContext
from orchestrator.controllers.disruption import (
    EvictionRates,
    RateLimitedQueue,
    TokenBucket,
    compute_zone_state,
    zone_of,
)
from orchestrator.controllers.nodelifecycle import UNREACHABLE, NodeLifecycleController

# --- pure pieces ---------------------------------------------------------------------------


def test_zone_state_follows_the_fraction_of_not_ready_nodes() -> None:
    assert compute_zone_state([True] * 90 + [False] * 10, unhealthy_zone_threshold=0.55) == (10, "Normal")
    assert compute_zone_state([True] * 45 + [False] * 55, unhealthy_zone_threshold=0.55) == (55, "PartialDisruption")
    assert compute_zone_state([False] * 1000, unhealthy_zone_threshold=0.55) == (1000, "FullDisruption")
    # Two of three down is 67%, but a zone needs more than two unhealthy nodes to be disrupted.
    assert compute_zone_state([True, False, False], unhealthy_zone_threshold=0.55) == (2, "Normal")
    assert compute_zone_state([], unhealthy_zone_threshold=0.55) == (0, "Normal")


def test_rates_per_state_and_size_with_kubernetes_defaults() -> None:
    rates = EvictionRates()
    assert rates.rate("Normal", zone_size=1000, all_fully_disrupted=False) == 0.1
    assert rates.rate("PartialDisruption", zone_size=1000, all_fully_disrupted=False) == 0.01
    assert rates.rate("PartialDisruption", zone_size=50, all_fully_disrupted=False) == 0.0  # a small zone waits
    assert rates.rate("FullDisruption", zone_size=10, all_fully_disrupted=False) == 0.1  # another zone is fine
    assert rates.rate("FullDisruption", zone_size=10, all_fully_disrupted=True) == 0.0


def test_bad_rates_are_refused_naming_the_flag() -> None:
    with pytest.raises(ValueError, match="--unhealthy-zone-threshold"):
        EvictionRates(unhealthy_zone_threshold=1.5)
    with pytest.raises(ValueError, match="--node-eviction-rate"):
        EvictionRates(node_eviction_rate=-1)


def test_token_bucket_of_burst_one_accepts_one_per_period() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, clock=clock)
    accepted = []
    for _ in range(7):
        accepted.append(bucket.try_accept())
        clock.advance(1)
    assert accepted == [True, False, True, False, True, False, True]
    bucket.swap(0)
    clock.advance(100)
    assert not bucket.try_accept()


def test_queue_admits_oldest_first_at_the_rate_and_drops_names_no_longer_wanted() -> None:
    clock = FakeClock()
    queue = RateLimitedQueue(TokenBucket(1.0, clock=clock))
    for name in ("a", "b", "c", "d"):
        queue.add(name, now=clock.now())
    assert not queue.add("a", now=clock.now())
    assert queue.admit(lambda n: True) == ["a"]
    assert queue.admit(lambda n: True) == []
    clock.advance(1)
    assert queue.admit(lambda n: n != "b") == ["c"]  # b became Ready: dropped without a token
    assert len(queue) == 1 and "d" in queue


def test_zone_comes_from_the_topology_labels() -> None:
    assert zone_of({"metadata": {"labels": {"topology.kubernetes.io/zone": "a"}}}) == "a"
    assert zone_of({"metadata": {"labels": {"topology.kubernetes.io/zone": "a",
                                            "topology.kubernetes.io/region": "r"}}}) == "r/a"
    assert zone_of({"metadata": {}}) == ""


# --- the controller's monitor pass ------------------------------------------------------------


class FakeClient:
    """Answers writes with what it was sent (as the API server would, minus resourceVersion)."""

    def __init__(self) -> None:
        self.status_writes = 0
        self.updates: list[dict[str, Any]] = []
        self.nodes: Any = None  # the node informer: a write comes back through the watch
        self.leases: Any = None  # the Lease informer
        self.revision: int | None = None  # the server's revision; None: what the Lease cache holds
        self.lists = 0

    def _written(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        if resource == "nodes" and self.nodes is not None:
            self.nodes._apply("MODIFIED", copy.deepcopy(body))
        return copy.deepcopy(body)

    async def list(self, resource: str, **_: Any) -> dict[str, Any]:
        self.lists += 1
        revision = self.revision if self.revision is not None else self.leases.last_sync_resource_version
        return {"metadata": {"resourceVersion": str(revision)}, "items": []}

    async def update_status(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        self.status_writes += 1
        return self._written(resource, body)

    async def update(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        self.updates.append(body)
        return self._written(resource, body)


def node(name: str, zone: str | None = None) -> dict[str, Any]:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "resourceVersion": "1"}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t0"}]}}


def lease(name: str, renew: str, revision: int = 1) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease", "resourceVersion": str(revision)},
            "spec": {"renewTime": renew}}


class Cluster:
    """A controller over informer caches the test fills; leases are renewed by `renew`."""

    def __init__(self, nodes: list[dict[str, Any]], **rates: Any) -> None:
        self.clock = FakeClock()
        self.client = FakeClient()
        factory = SharedInformerFactory(self.client)  # type: ignore[arg-type]
        recorder = EventRecorder(self.client, component="nodelifecycle-controller", clock=self.clock)  # type: ignore[arg-type]
        self.controller = NodeLifecycleController(
            ControllerContext(client=self.client, factory=factory, recorder=recorder, clock=self.clock),  # type: ignore[arg-type]
            grace_period=50, rates=EvictionRates(**rates))
        self.client.nodes = self.controller.node_informer
        self.client.leases = self.controller.lease_informer
        self.names = [n["metadata"]["name"] for n in nodes]
        for n in nodes:
            self.controller.node_informer._apply("ADDED", n)
        self.beat = 0
        self.renew(self.names)

    def renew(self, names: list[str]) -> None:
        self.beat += 1
        for name in names:
            self.controller.lease_informer._apply("MODIFIED", lease(name, f"beat-{self.beat}"))

    async def monitor(self) -> None:
        """One monitor pass, then the workers' share: mark nodes Unknown, reconcile taints."""
        await self.controller.monitor_once()
        queue = self.controller.queue
        while queue.len():
            key = await queue.get()
            try:
                await self.controller.sync(key)
            finally:
                queue.done(key)

    def zone(self, name: str = "") -> str:
        return self.controller.zones[name].state


async def outage(cluster: Cluster, down: list[str]) -> None:
    """Everyone renews, then `down` stop renewing for longer than the grace period."""
    await cluster.monitor()
    up = [n for n in cluster.names if n not in down]
    for _ in range(6):
        cluster.clock.advance(10)
        cluster.renew(up)
        await cluster.monitor()


async def test_a_partial_outage_is_tainted_at_the_primary_rate_not_faster() -> None:
    cluster = Cluster([node(f"n{i}") for i in range(100)], node_eviction_rate=0.5)
    down = [f"n{i}" for i in range(90, 100)]
    await outage(cluster, down)
    assert cluster.zone() == "Normal"
    admitted = [cluster.controller.admit_evictions()]
    for _ in range(10):
        cluster.clock.advance(1)
        admitted.append(cluster.controller.admit_evictions())
    # burst 1 at t=0, then one every 2 s: t=0, 2, 4, 6, 8, 10
    assert [len(a) for a in admitted] == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    assert {n for a in admitted for n in a} <= set(down)


async def test_all_nodes_down_is_full_disruption_no_node_is_admitted_and_no_execute_taints_are_lifted() -> None:
    cluster = Cluster([node(f"n{i}") for i in range(60)], node_eviction_rate=100)
    await outage(cluster, cluster.names)
    assert cluster.zone() == "FullDisruption"
    assert cluster.controller.all_fully_disrupted
    cluster.clock.advance(600)
    assert cluster.controller.admit_evictions() == []
    tainted = cluster.controller.node_informer.get("n0")
    assert tainted is not None
    tainted = copy.deepcopy(tainted)
    tainted["spec"]["taints"] = [{"key": UNREACHABLE, "effect": "NoSchedule"},
                                 {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}]
    cluster.controller.node_informer._apply("MODIFIED", tainted)
    import datetime as dt

    after = await cluster.controller._reconcile_taints(tainted, dt.datetime.now(dt.UTC))
    assert [(t["key"], t["effect"]) for t in after["spec"]["taints"]] == [(UNREACHABLE, "NoSchedule")]


async def test_leaving_full_disruption_gives_every_node_a_whole_grace_period() -> None:
    cluster = Cluster([node(f"n{i}") for i in range(10)])
    await outage(cluster, cluster.names)
    assert cluster.controller.all_fully_disrupted
    # One node reports again; the others get a fresh grace period instead of immediate taints.
    ready = copy.deepcopy(cluster.controller.node_informer.get("n0"))
    assert ready is not None
    ready["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}]
    cluster.controller.node_informer._apply("MODIFIED", ready)
    cluster.renew(["n0"])
    await cluster.monitor()
    assert not cluster.controller.all_fully_disrupted
    assert cluster.zone() == "PartialDisruption"
    assert all(h.probe == cluster.clock.now() for h in cluster.controller._health.values())


async def test_most_of_a_large_zone_down_uses_the_secondary_rate_and_a_small_zone_stops() -> None:
    large = Cluster([node(f"n{i}") for i in range(100)], node_eviction_rate=1, secondary_node_eviction_rate=0.25)
    await outage(large, [f"n{i}" for i in range(60)])
    assert large.zone() == "PartialDisruption"
    assert large.controller.zones[""].queue.limiter.qps == 0.25
    small = Cluster([node(f"n{i}") for i in range(20)], node_eviction_rate=1)
    await outage(small, [f"n{i}" for i in range(15)])
    assert small.zone() == "PartialDisruption"
    small.clock.advance(100)
    assert small.controller.admit_evictions() == []


async def test_one_zone_down_while_another_is_healthy_evicts_at_the_primary_rate() -> None:
    cluster = Cluster([node(f"a{i}", "a") for i in range(5)] + [node(f"b{i}", "b") for i in range(5)])
    await outage(cluster, [f"a{i}" for i in range(5)])
    assert (cluster.zone("a"), cluster.zone("b")) == ("FullDisruption", "Normal")
    assert not cluster.controller.all_fully_disrupted
    assert len(cluster.controller.admit_evictions()) == 1


async def test_zone_state_is_on_metrics_and_changes_are_events() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    cluster = Cluster([node(f"n{i}") for i in range(10)])
    registry = CollectorRegistry()
    cluster.controller.register_metrics(registry)
    await outage(cluster, cluster.names)
    text = generate_latest(registry).decode()
    assert 'node_collector_zone_state{state="FullDisruption",zone=""} 1.0' in text
    assert 'node_collector_unhealthy_nodes_in_zone{zone=""} 10.0' in text
    queued = [e.event for e in list(cluster.controller.recorder._queue._queue)]  # type: ignore[attr-defined]
    zone_events = [e for e in queued if e["reason"] == "ZoneStateChanged"]
    assert zone_events and "Normal -> FullDisruption" in zone_events[-1]["message"]
    assert zone_events[-1]["involvedObject"]["kind"] == "Lease"


async def test_a_node_whose_renewal_is_still_on_its_way_through_a_lagging_watch_is_not_marked_unknown() -> None:
    # The Lease cache says n0 has been silent past the grace period, but the server has moved on
    # (revision 7: n0's renewal, committed, not yet delivered by the watch). The worker makes the
    # cache catch up before it marks anything, and the renewal arrives: n0 stays Ready.
    import asyncio

    cluster = Cluster([node("n0"), node("n1")])
    await cluster.monitor()
    cluster.clock.advance(60)
    await cluster.controller.monitor_once()
    assert set(cluster.controller._to_mark) == {"n0", "n1"}
    cluster.client.revision = 7
    sync = asyncio.ensure_future(cluster.controller.sync("n0"))
    await asyncio.sleep(0.2)
    assert not sync.done()  # waiting for the cache, not marking
    cluster.controller.lease_informer._apply("MODIFIED", lease("n0", "beat-late", revision=7))
    await asyncio.wait_for(sync, 3)
    # n1 was decided in the same pass: the cache proved current once for both. It is really silent.
    await cluster.controller.sync("n1")
    assert cluster.client.lists == 1
    assert cluster.controller.node_informer.get("n0")["status"]["conditions"][0]["status"] == "True"
    assert cluster.controller.node_informer.get("n1")["status"]["conditions"][0]["status"] == "Unknown"
