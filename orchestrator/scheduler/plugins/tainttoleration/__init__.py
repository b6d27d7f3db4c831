"""TaintToleration: a node's taints repel pods that do not tolerate them.

Filter: the first NoSchedule or NoExecute taint the pod does not tolerate rejects the node,
"node(s) had untolerated taint {key: value}" (unresolvable: preemption cannot remove a taint).
Score: counts the node's PreferNoSchedule taints the pod does not tolerate; fewer is better,
so the counts are normalized in reverse. Worked example: counts [0, 1, 2] -> [100, 50, 0].

Kubernetes equivalent: pkg/scheduler/framework/plugins/tainttoleration,
k8s.io/api/core/v1/toleration.go (ToleratesTaint)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.scheduler.framework.interfaces import (
    SUCCESS,
    CycleState,
    Handle,
    PluginArgs,
    Pod,
    Status,
    default_normalize_score,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo

NAME = "TaintToleration"
_PRE_SCORE_KEY = "PreScore" + NAME
_DO_NOT_SCHEDULE = frozenset({"NoSchedule", "NoExecute"})


def tolerates_taint(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration tolerates one taint: an empty effect or key matches any; operator
    Exists matches any value, Equal (the default) needs the same value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def _tolerated(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(tolerates_taint(t, taint) for t in tolerations)


class TaintToleration:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if not node_info.taints:
            return SUCCESS
        tolerations = (pod.get("spec") or {}).get("tolerations") or ()
        for taint in node_info.taints:
            if taint.get("effect") in _DO_NOT_SCHEDULE and not _tolerated(tolerations, taint):
                return Status.unresolvable(
                    f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"
                )
        return SUCCESS

    def filter_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status]:
        return [self.filter(state, pod, ni) if ni.taints else SUCCESS for ni in nodes]

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> Status:
        # Only tolerations that can apply to PreferNoSchedule (an empty effect means all effects).
        tolerations = [
            t
            for t in (pod.get("spec") or {}).get("tolerations") or ()
            if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"
        ]
        state.write(_PRE_SCORE_KEY, tolerations)
        return SUCCESS

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        if not node_info.taints:
            return 0
        tolerations = state.read(_PRE_SCORE_KEY)
        return sum(
            1
            for taint in node_info.taints
            if taint.get("effect") == "PreferNoSchedule" and not _tolerated(tolerations, taint)
        )

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        return [self.score(state, pod, ni) if ni.taints else 0 for ni in nodes]

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> list[int]:
        return default_normalize_score(scores, reverse=True)
