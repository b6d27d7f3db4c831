"""SelectorSpread: spread the pods of one controller (ReplicaSet, ...) across nodes and zones.

A node's raw score is how many pods of the same controller (the same controller
ownerReference uid) already run there; fewer is better. Normalization, as upstream:
node part = 100 * (max - count) / max; when nodes carry zone labels
(topology.kubernetes.io/region + zone), the zone part is computed the same way over per-zone
totals and weighs 2/3: score = node part * 1/3 + zone part * 2/3.

Worked example, no zones: counts [0, 1, 2] -> [100, 50, 0]. With zones a = {n1: 0, n2: 2} and
b = {n3: 1}: zone totals a=2, b=1; n3: node 100*(2-1)/2 = 50, zone 100*(2-1)/2 = 50 -> 50;
n1: node 100, zone 0 -> 33.

Pods without a controller skip this plugin. (Upstream matched Service/ReplicaSet selectors and
has been replaced by PodTopologySpread; the owner reference is the simpler, teachable rule.)

Kubernetes equivalent: pkg/scheduler/framework/plugins/selectorspread (removed in v1.26)
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    SKIP,
    SUCCESS,
    CycleState,
    Handle,
    PluginArgs,
    Pod,
    Status,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo, controller_uid

NAME = "SelectorSpread"
ZONE_WEIGHTING = 2.0 / 3.0
_STATE_KEY = "PreScore" + NAME


class SelectorSpread:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> Status:
        uid = controller_uid(pod)
        if uid is None:
            return SKIP
        state.write(_STATE_KEY, (uid, [ni.zone for ni in nodes]))
        return SUCCESS

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        uid, _ = state.read(_STATE_KEY)
        return node_info.owner_counts.get(uid, 0)

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        uid, _ = state.read(_STATE_KEY)
        return [ni.owner_counts.get(uid, 0) for ni in nodes]

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> list[int]:
        _, zones = state.read(_STATE_KEY)
        max_by_node = max(scores, default=0)
        by_zone: dict[str, int] = {}
        for zone, count in zip(zones, scores, strict=True):
            if zone:
                by_zone[zone] = by_zone.get(zone, 0) + count
        max_by_zone = max(by_zone.values(), default=0)
        if not by_zone:
            if max_by_node == 0:
                return [MAX_NODE_SCORE] * len(scores)
            return [MAX_NODE_SCORE * (max_by_node - count) // max_by_node for count in scores]
        zone_scores = {
            zone: MAX_NODE_SCORE * (max_by_zone - total) / max_by_zone if max_by_zone else float(MAX_NODE_SCORE)
            for zone, total in by_zone.items()
        }
        # The score depends only on (count, zone), and few such pairs exist: compute each once.
        memo: dict[tuple[int, str], int] = {}
        for pair in set(zip(scores, zones, strict=True)):
            count, zone = pair
            score = MAX_NODE_SCORE * (max_by_node - count) / max_by_node if max_by_node else float(MAX_NODE_SCORE)
            if zone:
                score = score * (1.0 - ZONE_WEIGHTING) + ZONE_WEIGHTING * zone_scores[zone]
            memo[pair] = int(score)
        return [memo[pair] for pair in zip(scores, zones, strict=True)]
