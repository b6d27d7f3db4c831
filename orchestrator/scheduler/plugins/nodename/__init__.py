"""NodeName: a pod that names its node in spec.nodeName fits only that node.

Kubernetes equivalent: pkg/scheduler/framework/plugins/nodename
"""

from __future__ import annotations

from orchestrator.scheduler.framework.interfaces import SUCCESS, CycleState, Handle, PluginArgs, Pod, Status
from orchestrator.scheduler.framework.nodeinfo import NodeInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        wanted = (pod.get("spec") or {}).get("nodeName")
        if not wanted or wanted == node_info.name:
            return SUCCESS
        return Status.unresolvable(ERR_REASON)
