"""NodePorts: a pod's hostPorts must be free on the node.

0.0.0.0 (the default hostIP) collides with the same protocol/port on any IP; a specific IP
collides with itself and with 0.0.0.0. Pods without host ports skip this Filter entirely.

Kubernetes equivalent: pkg/scheduler/framework/plugins/nodeports
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
from orchestrator.scheduler.framework.nodeinfo import NodeInfo, pod_host_ports

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_STATE_KEY = "PreFilter" + NAME


class NodePorts:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def pre_filter(self, state: CycleState, pod: Pod) -> tuple[PreFilterResult | None, Status]:
        ports = pod_host_ports(pod)
        if not ports:
            return None, SKIP
        state.write(_STATE_KEY, ports)
        return None, SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        ports = state.get(_STATE_KEY)
        if ports is None:  # called without PreFilter (a plugin used on its own)
            ports = pod_host_ports(pod)
        if node_info.used_ports and any(node_info.port_conflicts(p) for p in ports):
            return Status.unschedulable(ERR_REASON)
        return SUCCESS
