"""NodeUnschedulable: a cordoned node (spec.unschedulable) takes no new pods, unless the pod
tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet pods do).

Kubernetes equivalent: pkg/scheduler/framework/plugins/nodeunschedulable
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.scheduler.framework.interfaces import SUCCESS, CycleState, Handle, PluginArgs, Pod, Status
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.tainttoleration import tolerates_taint

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_REJECTED = Status.unresolvable(ERR_REASON_UNSCHEDULABLE)


class NodeUnschedulable:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if not node_info.unschedulable:
            return SUCCESS
        tolerations = (pod.get("spec") or {}).get("tolerations") or ()
        if any(tolerates_taint(t, UNSCHEDULABLE_TAINT) for t in tolerations):
            return SUCCESS
        return _REJECTED

    def filter_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status]:
        tolerations = (pod.get("spec") or {}).get("tolerations") or ()
        if any(tolerates_taint(t, UNSCHEDULABLE_TAINT) for t in tolerations):
            return [SUCCESS] * len(nodes)
        return [_REJECTED if ni.unschedulable else SUCCESS for ni in nodes]
