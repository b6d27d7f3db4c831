"""Zones and eviction rate limits of the node lifecycle controller: pure values on an injected clock.

Why they exist: when many nodes stop reporting at once, the likelier fault is the network or
the control plane, not every node. Evicting all their pods would move thousands of pods for
nothing (they still run) and, on a small cluster, pile them on the few nodes left. So the
controller groups nodes by zone (label ``topology.kubernetes.io/zone``; nodes without it form one
zone) and decides, per zone, how fast nodes may be given the NoExecute taint that evicts pods:

==================  =====================================================  ==================================
zone state          when (``not_ready`` = nodes whose Ready is not True)    NoExecute taints per second
==================  =====================================================  ==================================
Normal              otherwise                                              primary rate (0.1)
PartialDisruption   ``not_ready > 2`` and ``not_ready / total >= 0.55``    secondary rate (0.01) if the zone
                                                                           has more than 50 nodes, else 0
FullDisruption      no node of the zone is Ready                           primary rate -- but 0 for every
                                                                           zone when *all* zones are in
                                                                           FullDisruption
==================  =====================================================  ==================================

Worked example (defaults): one zone of 1,000 nodes. 100 nodes stop: 10% < 55%, Normal, one node
tainted every 10 s. 600 stop: 60% >= 55%, PartialDisruption, one every 100 s. All 1,000 stop
(the fleet's process is frozen, or the API server cannot be reached): FullDisruption of the only
zone, so of all zones -- no node is tainted, the NoExecute taints already added are removed, and
nothing is evicted; the NoSchedule taint still keeps new pods off those nodes.

A rate is a token bucket of burst 1 (`TokenBucket`); nodes wait in a `RateLimitedQueue` per zone,
oldest first, each node at most once.

Kubernetes equivalent: pkg/controller/nodelifecycle/node_lifecycle_controller.go (ComputeZoneState,
handleDisruption, setLimiterInZone, ReducedQPSFunc, HealthyQPSFunc) and
pkg/controller/nodelifecycle/scheduler/rate_limited_queue.go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.client.clock import Clock

__all__ = [
    "ZONE_LABEL",
    "EvictionRates",
    "RateLimitedQueue",
    "TokenBucket",
    "ZoneState",
    "compute_zone_state",
    "zone_of",
]

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
ZoneState = Literal["Normal", "PartialDisruption", "FullDisruption"]
ZONE_STATES: tuple[ZoneState, ...] = ("Normal", "PartialDisruption", "FullDisruption")


def zone_of(node: Mapping[str, Any]) -> str:
    """The node's zone: ``<region>/<zone>`` from the topology labels; "" for a node without them."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone, region = labels.get(ZONE_LABEL, ""), labels.get(REGION_LABEL, "")
    return f"{region}/{zone}" if region else zone


@dataclass(frozen=True)
class EvictionRates:
    """The controller's flags (kube-controller-manager's names and defaults)."""

    node_eviction_rate: float = 0.1  # --node-eviction-rate: nodes per second, healthy zone
    secondary_node_eviction_rate: float = 0.01  # --secondary-node-eviction-rate
    unhealthy_zone_threshold: float = 0.55  # --unhealthy-zone-threshold
    large_cluster_size_threshold: int = 50  # --large-cluster-size-threshold

    def __post_init__(self) -> None:
        if self.node_eviction_rate < 0 or self.secondary_node_eviction_rate < 0:
            raise ValueError("--node-eviction-rate and --secondary-node-eviction-rate must be >= 0")
        if not 0 < self.unhealthy_zone_threshold <= 1:
            raise ValueError(f"--unhealthy-zone-threshold must be in (0, 1], got {self.unhealthy_zone_threshold}")
        if self.large_cluster_size_threshold < 0:
            raise ValueError("--large-cluster-size-threshold must be >= 0")

    def rate(self, state: ZoneState, *, zone_size: int, all_fully_disrupted: bool) -> float:
        """NoExecute taints per second in a zone of `zone_size` nodes (see the module's table)."""
        if all_fully_disrupted:
            return 0.0
        if state == "PartialDisruption":
            return self.secondary_node_eviction_rate if zone_size > self.large_cluster_size_threshold else 0.0
        return self.node_eviction_rate


def compute_zone_state(ready: Iterable[bool], *, unhealthy_zone_threshold: float) -> tuple[int, ZoneState]:
    """(not-ready count, state) of a zone from its nodes' readiness (True: Ready is True)."""
    ready_count = not_ready = 0
    for r in ready:
        if r:
            ready_count += 1
        else:
            not_ready += 1
    if ready_count == 0 and not_ready > 0:
        return not_ready, "FullDisruption"
    if not_ready > 2 and not_ready / (not_ready + ready_count) >= unhealthy_zone_threshold:
        return not_ready, "PartialDisruption"
    return not_ready, "Normal"


class TokenBucket:
    """`qps` tokens a second, at most `burst` saved up; qps 0 never accepts.

    Worked example, qps 0.5, burst 1, starting full at t=0: accept at t=0, refuse at t=1, accept at
    t=2 (one token refilled), refuse at t=3.
    """

    def __init__(self, qps: float, *, clock: Clock, burst: int = 1) -> None:
        if qps < 0 or burst < 1:
            raise ValueError(f"qps must be >= 0 and burst >= 1, got {qps}, {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def swap(self, qps: float) -> None:
        """Change the rate, keeping the tokens saved so far (upstream SwapLimiter starts a new bucket;
        keeping them means a zone flapping between states cannot mint a fresh burst each time)."""
        if qps < 0:
            raise ValueError(f"qps must be >= 0, got {qps}")
        self._refill()
        self.qps = qps


class RateLimitedQueue:
    """Node names waiting for a rate-limited action, oldest first, each at most once."""

    def __init__(self, limiter: TokenBucket) -> None:
        self.limiter = limiter
        self._items: dict[str, float] = {}  # name -> when added; insertion order = age

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def add(self, name: str, *, now: float) -> bool:
        """Queue `name` unless it waits already; True if added."""
        if name in self._items:
            return False
        self._items[name] = now
        return True

    def remove(self, name: str) -> bool:
        return self._items.pop(name, None) is not None

    def clear(self) -> None:
        self._items.clear()

    def admit(self, still_wanted: Callable[[str], bool]) -> list[str]:
        """Take queued names, oldest first, while the limiter accepts; return the names taken.

        A name for which `still_wanted` is False (the node became Ready meanwhile) is dropped
        without spending a token.
        """
        taken = []
        for name in list(self._items):
            if not still_wanted(name):
                del self._items[name]
                continue
            if not self.limiter.try_accept():
                break
            del self._items[name]
            taken.append(name)
        return taken
