"""NodeResourcesFit: the pod's requests must fit in what the node has left; score by strategy.

Filter, in upstream's order, collecting every failing reason (each one is counted in the
FailedScheduling message): "Too many pods" when the node already runs status.allocatable.pods
pods; "Insufficient cpu" / "Insufficient memory" when the request exceeds allocatable minus
the requests of the pods already there. Unschedulable (not unresolvable): preempting pods
could free the room.

Score, per resource (cpu and memory, weight 1 each by default), then the weighted mean:
  LeastAllocated  (allocatable - requested) * 100 / allocatable    -> spreads pods out
  MostAllocated   requested * 100 / allocatable                      -> bin-packs
where "requested" includes this pod and counts containers without requests as 100m / 200MiB.
Worked example, LeastAllocated: node 4000m / 8 GiB with 1000m / 2 GiB requested, pod 1000m /
2 GiB: cpu (4000-2000)*100/4000 = 50, memory (8-4)*100/8 = 50 -> score 50.

Kubernetes equivalent: pkg/scheduler/framework/plugins/noderesources/fit.go,
least_allocated.go, most_allocated.go
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator.api.errors import Cause, Invalid
from orchestrator.scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    SUCCESS,
    CycleState,
    Handle,
    PluginArgs,
    Pod,
    PreFilterResult,
    Status,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo, PodRequests, pod_requests

NAME = "NodeResourcesFit"
STATE_KEY = "PreFilter" + NAME
SCORING_STRATEGIES = ("LeastAllocated", "MostAllocated")
SCORABLE_RESOURCES = ("cpu", "memory")
DEFAULT_RESOURCES: tuple[Mapping[str, Any], ...] = ({"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1})


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    # Pods without requests count as 100m/200MiB, which can exceed capacity on tiny nodes.
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


def parse_resources(args: PluginArgs, *, plugin: str) -> list[tuple[str, int]]:
    """`resources: [{name, weight}]` from plugin args, validated; only cpu and memory are known."""
    resources = args.get("resources") or DEFAULT_RESOURCES
    parsed: list[tuple[str, int]] = []
    for i, resource in enumerate(resources):
        name = resource.get("name")
        weight = int(resource.get("weight", 1))
        if name not in SCORABLE_RESOURCES or weight <= 0:
            raise Invalid(
                f"{plugin}: resources[{i}]: unsupported resource {name!r} or weight {weight}; "
                f"allowed resources: {', '.join(SCORABLE_RESOURCES)} with weight > 0",
                causes=[Cause(field=f"pluginConfig[{plugin}].args.resources[{i}]", message="unsupported")],
            )
        parsed.append((name, weight))
    return parsed


def requests_for(state: CycleState, pod: Pod) -> PodRequests:
    """The pod's requests computed by PreFilter, or now if this plugin runs on its own."""
    req = state.get(STATE_KEY)
    if req is None:
        req = pod_requests(pod)
        state.write(STATE_KEY, req)
    return req


class Fit:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        strategy: Mapping[str, Any] = (args or {}).get("scoringStrategy") or {}
        strategy_type = strategy.get("type", "LeastAllocated")
        if strategy_type not in SCORING_STRATEGIES:
            raise Invalid(
                f"{NAME}: unknown scoringStrategy.type {strategy_type!r}; allowed: {', '.join(SCORING_STRATEGIES)}",
                causes=[Cause(field=f"pluginConfig[{NAME}].args.scoringStrategy.type", message="unsupported")],
            )
        self.strategy: str = strategy_type
        self._scorer: Callable[[int, int], int] = (
            least_requested_score if strategy_type == "LeastAllocated" else most_requested_score
        )
        self.resources = parse_resources(strategy, plugin=NAME)
        self._weight_sum = sum(weight for _, weight in self.resources)

    def pre_filter(self, state: CycleState, pod: Pod) -> tuple[PreFilterResult | None, Status]:
        state.write(STATE_KEY, pod_requests(pod))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        req = requests_for(state, pod)
        reasons: Sequence[str] = ()
        if len(node_info.pods) + 1 > node_info.allowed_pod_number:
            reasons = ["Too many pods"]
        if req.milli_cpu > 0 and req.milli_cpu > node_info.allocatable_milli_cpu - node_info.requested_milli_cpu:
            reasons = [*reasons, "Insufficient cpu"]
        if req.memory > 0 and req.memory > node_info.allocatable_memory - node_info.requested_memory:
            reasons = [*reasons, "Insufficient memory"]
        if reasons:
            return Status.unschedulable(*reasons)
        return SUCCESS

    def filter_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status]:
        req = requests_for(state, pod)
        cpu, memory = req.milli_cpu, req.memory
        results: list[Status] = []
        for ni in nodes:
            # The common case in one comparison chain; anything else takes the exact path.
            if (
                len(ni.pods) < ni.allowed_pod_number
                and cpu <= ni.allocatable_milli_cpu - ni.requested_milli_cpu
                and memory <= ni.allocatable_memory - ni.requested_memory
            ):
                results.append(SUCCESS)
            else:
                results.append(self.filter(state, pod, ni))
        return results

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        req = requests_for(state, pod)
        scorer = self._scorer
        pod_cpu, pod_memory = req.non_zero_milli_cpu, req.non_zero_memory
        if self.resources != [("cpu", 1), ("memory", 1)]:
            return [self.score(state, pod, ni) for ni in nodes]
        scores: list[int] = []
        for ni in nodes:
            cpu_capacity, memory_capacity = ni.allocatable_milli_cpu, ni.allocatable_memory
            if not cpu_capacity or not memory_capacity:
                scores.append(self.score(state, pod, ni))
                continue
            cpu = ni.non_zero_milli_cpu + pod_cpu
            memory = ni.non_zero_memory + pod_memory
            # least_requested_score / most_requested_score inlined: this runs per node per pod.
            if scorer is least_requested_score:
                cpu_score = (cpu_capacity - cpu) * MAX_NODE_SCORE // cpu_capacity if cpu <= cpu_capacity else 0
                memory_score = (
                    (memory_capacity - memory) * MAX_NODE_SCORE // memory_capacity if memory <= memory_capacity else 0
                )
            else:
                cpu_score = (cpu if cpu < cpu_capacity else cpu_capacity) * MAX_NODE_SCORE // cpu_capacity
                memory_score = (memory if memory < memory_capacity else memory_capacity) * MAX_NODE_SCORE // memory_capacity
            scores.append((cpu_score + memory_score) // 2)
        return scores

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        req = requests_for(state, pod)
        scorer = self._scorer
        total = 0
        for resource, weight in self.resources:
            if resource == "cpu":
                value = scorer(node_info.non_zero_milli_cpu + req.non_zero_milli_cpu, node_info.allocatable_milli_cpu)
            else:
                value = scorer(node_info.non_zero_memory + req.non_zero_memory, node_info.allocatable_memory)
            total += value * weight
        return total // self._weight_sum
