"""NodeReady: only nodes whose Ready condition is "True" take new pods.

Upstream has no such plugin: the node-lifecycle controller taints a not-ready node with
`node.kubernetes.io/not-ready:NoSchedule` and TaintToleration rejects it. Here the condition is
checked directly, so a lab works without that controller; a pod that tolerates the not-ready
taint (as upstream DaemonSet pods do) is let through, keeping the upstream outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.scheduler.framework.interfaces import SUCCESS, CycleState, Handle, PluginArgs, Pod, Status
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.tainttoleration import tolerates_taint

NAME = "NodeReady"
ERR_REASON_NOT_READY = "node(s) were not ready"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
_REJECTED = Status.unresolvable(ERR_REASON_NOT_READY)


class NodeReady:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if node_info.ready:
            return SUCCESS
        tolerations = (pod.get("spec") or {}).get("tolerations") or ()
        if any(tolerates_taint(t, NOT_READY_TAINT) for t in tolerations):
            return SUCCESS
        return _REJECTED

    def filter_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status]:
        tolerations = (pod.get("spec") or {}).get("tolerations") or ()
        if any(tolerates_taint(t, NOT_READY_TAINT) for t in tolerations):
            return [SUCCESS] * len(nodes)
        return [SUCCESS if ni.ready else _REJECTED for ni in nodes]
