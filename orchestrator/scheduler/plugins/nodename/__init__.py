"""NodeName: a pod that names its node in spec.nodeName fits only that node.

Kubernetes equivalent: pkg/scheduler/framework/plugins/nodename
"""

from __future__ import annotations

from orchestrator.scheduler.framework.interfaces import (
    SKIP,
    SUCCESS,
    CycleState,
    Handle,
    PluginArgs,
    Pod,
    PreFilterResult,
    Status,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"
_REJECTED = Status.unresolvable(ERR_REASON)


class NodeName:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def pre_filter(self, state: CycleState, pod: Pod) -> tuple[PreFilterResult | None, Status]:
        # Not upstream (which filters every node); the usual pod names no node, so skip cheaply.
        return None, SUCCESS if (pod.get("spec") or {}).get("nodeName") else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        wanted = (pod.get("spec") or {}).get("nodeName")
        if not wanted or wanted == node_info.name:
            return SUCCESS
        return _REJECTED
