"""The scheduler cache: every node and every assigned pod, as the scheduler believes them to be.

Informer events keep it current (add/update/remove of nodes and pods with spec.nodeName set).
The scheduler adds its own belief ahead of the API server: after choosing a node it *assumes*
the pod there, so the next cycle already counts that pod's requests, without waiting for the
Binding to round-trip through the API server and back as a watch event. Then either

    the informer reports the pod on its node   -> add_pod confirms it (no longer assumed),
    binding failed                              -> forget_pod takes it back out,
    binding succeeded but no event came in ttl  -> cleanup_expired_assumed_pods drops it.

Pod life cycle in the cache:

    assume_pod --finish_binding--> (expires ttl after) --> gone
        |  \\--forget_pod--> gone
        \\--add_pod (informer)--> added --update_pod--> added --remove_pod--> gone

Invariants: a pod key is on at most one node; every node's totals are those of its pods;
a snapshot never changes after it is handed out (changed nodes are copied, unchanged ones
shared), so taking one per cycle costs O(nodes changed since the last one) copies.

Kubernetes equivalent: pkg/scheduler/internal/cache/cache.go, snapshot.go
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import Conflict, NotFound
from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.client.clock import Clock
from orchestrator.scheduler.framework.interfaces import Pod
from orchestrator.scheduler.framework.nodeinfo import NodeInfo, Snapshot, pod_key

DEFAULT_ASSUMED_POD_TTL_SECONDS = 30.0
"""How long an assumed, bound pod may wait for its informer event. (Upstream used 30 s and since
v1.27 defaults to 0 = never expire, relying on the event always arriving; a lab that kills the
API server mid-binding shows why a bound on the wait is handy.)"""


class _MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - Clock protocol only
        raise NotImplementedError


@dataclass(slots=True)
class _PodState:
    pod: Pod
    node_name: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float | None = None


def _node_name(pod: Pod) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _terminal(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


class Cache:
    """Nodes, assigned pods and assumed pods; `snapshot()` once per scheduling cycle."""

    def __init__(
        self, *, ttl_seconds: float = DEFAULT_ASSUMED_POD_TTL_SECONDS, clock: Clock | None = None
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock: Clock = clock if clock is not None else _MonotonicClock()
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._snapshot_infos: dict[str, NodeInfo] = {}
        self._dirty: set[str] = set()
        self._generation = 0

    # -- nodes ------------------------------------------------------------------------------

    def add_node(self, node: dict[str, Any]) -> None:
        """A node appeared (or changed: add and update are the same here)."""
        name = node["metadata"]["name"]
        info = self._nodes.get(name)
        if info is None:
            self._nodes[name] = NodeInfo(node)
        else:
            info.set_node(node)
        self._touch(name)

    def update_node(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        self.add_node(new)

    def remove_node(self, node: dict[str, Any]) -> None:
        """The node is gone. Its pods stay counted until their own delete events arrive (they are
        deleted by the garbage collector), but the node is no longer offered to pods."""
        name = node["metadata"]["name"]
        info = self._nodes.get(name)
        if info is None:
            return
        if info.pods:
            info.set_node(None)
        else:
            del self._nodes[name]
        self._touch(name)

    # -- pods from the informer -------------------------------------------------------------

    def add_pod(self, pod: Pod) -> None:
        """An assigned pod was reported by the informer: confirm it if assumed, else add it."""
        if _terminal(pod):
            self.remove_pod(pod)
            return
        if not _node_name(pod):
            return  # not assigned (yet): the queue's business, and must not undo an assumption
        key = pod_key(pod)
        state = self._pods.get(key)
        if state is not None:
            self._remove_from_node(key, state.node_name)
        self._add_to_node(pod)
        self._pods[key] = _PodState(pod, _node_name(pod))

    def update_pod(self, old: Pod | None, new: Pod) -> None:
        """A pod changed: re-count it (its node may even differ from an assumed one). A pod that
        reached Succeeded/Failed frees its node's resources, as upstream's informer filter does."""
        self.add_pod(new)

    def remove_pod(self, pod: Pod) -> bool:
        """The pod was deleted (or finished); False if the cache did not have it."""
        key = pod_key(pod)
        state = self._pods.pop(key, None)
        if state is None:
            return False
        self._remove_from_node(key, state.node_name)
        return True

    # -- the scheduler's own beliefs --------------------------------------------------------

    def assume_pod(self, pod: Pod, node_name: str | None = None) -> None:
        """Count `pod` on `node_name` (default: its spec.nodeName) before the API server knows.

        Raises Conflict if the cache already has this pod (assumed or bound).
        """
        key = pod_key(pod)
        if key in self._pods:
            raise Conflict(f"pod {key} is in the cache, so can't be assumed", kind="Pod", name=key)
        if node_name is not None and _node_name(pod) != node_name:
            pod = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": node_name}}
        target = _node_name(pod)
        if not target:
            raise Conflict(f"pod {key} has no node to be assumed on", kind="Pod", name=key)
        self._add_to_node(pod)
        self._pods[key] = _PodState(pod, target, assumed=True)

    def finish_binding(self, pod: Pod) -> None:
        """The Binding was accepted: start the countdown after which an unconfirmed assumption
        expires. No-op for a pod that is not assumed (its event may already have arrived)."""
        state = self._pods.get(pod_key(pod))
        if state is not None and state.assumed:
            state.binding_finished = True
            state.deadline = self._clock.now() + self.ttl_seconds

    def forget_pod(self, pod: Pod) -> None:
        """Binding failed: take the assumed pod back out. NotFound if it is not assumed."""
        key = pod_key(pod)
        state = self._pods.get(key)
        if state is None or not state.assumed:
            raise NotFound(f"pod {key} is not assumed, so can't be forgotten", kind="Pod", name=key)
        del self._pods[key]
        self._remove_from_node(key, state.node_name)

    def is_assumed(self, pod: Pod) -> bool:
        state = self._pods.get(pod_key(pod))
        return state is not None and state.assumed

    def cleanup_expired_assumed_pods(self) -> list[str]:
        """Drop assumed pods whose binding finished more than ttl ago; returns their keys."""
        if self.ttl_seconds <= 0:
            return []
        now = self._clock.now()
        expired = [
            key
            for key, state in self._pods.items()
            if state.assumed and state.binding_finished and state.deadline is not None and now >= state.deadline
        ]
        for key in expired:
            state = self._pods.pop(key)
            self._remove_from_node(key, state.node_name)
        return expired

    # -- reading ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The nodes as of now, for one scheduling cycle; copies only nodes that changed."""
        for name in self._dirty:
            info = self._nodes.get(name)
            if info is None or info.node is None:
                self._snapshot_infos.pop(name, None)
            else:
                self._snapshot_infos[name] = info.clone()
        self._dirty.clear()
        return Snapshot(
            list(self._snapshot_infos.values()), generation=self._generation, by_name=dict(self._snapshot_infos)
        )

    def get_pod(self, key: str) -> Pod | None:
        state = self._pods.get(key)
        return state.pod if state is not None else None

    @property
    def node_count(self) -> int:
        return sum(1 for info in self._nodes.values() if info.node is not None)

    @property
    def pod_count(self) -> int:
        return len(self._pods)

    @property
    def assumed_count(self) -> int:
        return sum(1 for state in self._pods.values() if state.assumed)

    # -- internals --------------------------------------------------------------------------

    def _touch(self, node_name: str) -> None:
        self._generation += 1
        self._dirty.add(node_name)

    def _add_to_node(self, pod: Pod) -> None:
        name = _node_name(pod)
        info = self._nodes.get(name)
        if info is None:
            # The pod's node has not been seen yet; its NodeInfo waits for add_node.
            info = self._nodes[name] = NodeInfo(None, name=name)
        info.add_pod(pod)
        self._touch(name)

    def _remove_from_node(self, key: str, node_name: str) -> None:
        info = self._nodes.get(node_name)
        if info is None:
            return
        info.remove_pod(key)
        if info.node is None and not info.pods:
            del self._nodes[node_name]
        self._touch(node_name)
