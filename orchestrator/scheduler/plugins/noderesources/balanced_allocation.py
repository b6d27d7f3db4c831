"""NodeResourcesBalancedAllocation: prefer nodes whose CPU and memory would be equally used.

For each resource, fraction = (requested + pod request) / allocatable, capped at 1; the score
is (1 - standard deviation of the fractions) * 100; with two resources the deviation is
|cpu - memory| / 2. Unlike Fit's score it uses the real requests (no 100m/200MiB defaults).
Worked example: node 4000m / 8 GiB, after the pod 2000m and 2 GiB requested: fractions 0.5 and
0.25 -> std 0.125 -> score 87.

Kubernetes equivalent: pkg/scheduler/framework/plugins/noderesources/balanced_allocation.go
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from orchestrator.scheduler.framework.interfaces import MAX_NODE_SCORE, CycleState, Handle, PluginArgs, Pod
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.noderesources.fit import parse_resources, requests_for

NAME = "NodeResourcesBalancedAllocation"


class BalancedAllocation:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        # Upstream ignores the weights here: balance is about the spread of fractions.
        self.resources = [name for name, _ in parse_resources(args or {}, plugin=NAME)]

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        if self.resources != ["cpu", "memory"]:
            return [self.score(state, pod, ni) for ni in nodes]
        req = requests_for(state, pod)
        pod_cpu, pod_memory = req.milli_cpu, req.memory
        scores: list[int] = []
        for ni in nodes:
            if not ni.allocatable_milli_cpu or not ni.allocatable_memory:
                scores.append(self.score(state, pod, ni))
                continue
            cpu = (ni.requested_milli_cpu + pod_cpu) / ni.allocatable_milli_cpu
            memory = (ni.requested_memory + pod_memory) / ni.allocatable_memory
            cpu = cpu if cpu < 1.0 else 1.0
            memory = memory if memory < 1.0 else 1.0
            difference = cpu - memory if cpu > memory else memory - cpu
            scores.append(int((1 - difference / 2) * MAX_NODE_SCORE))
        return scores

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        req = requests_for(state, pod)
        fractions: list[float] = []
        for resource in self.resources:
            if resource == "cpu":
                requested, allocatable = node_info.requested_milli_cpu + req.milli_cpu, node_info.allocatable_milli_cpu
            else:
                requested, allocatable = node_info.requested_memory + req.memory, node_info.allocatable_memory
            if allocatable == 0:
                continue
            fractions.append(min(requested / allocatable, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)
