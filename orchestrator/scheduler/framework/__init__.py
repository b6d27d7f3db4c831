"""The scheduling framework: the extension-point Protocols, NodeInfo, and the Framework runner.

`interfaces` is the vocabulary plugins import; `nodeinfo` holds a node's precomputed totals;
`runtime` runs a profile's plugins over a snapshot (import it as
`orchestrator.scheduler.framework.runtime`; it is not re-exported here so that plugins can import
this package without pulling in the runner).

Kubernetes equivalent: pkg/scheduler/framework
"""

from orchestrator.scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    SKIP,
    SUCCESS,
    BatchFilterExtension,
    BatchScoreExtension,
    BindPlugin,
    Code,
    CycleState,
    FilterPlugin,
    Handle,
    Plugin,
    PluginArgs,
    Pod,
    PostFilterPlugin,
    PostFilterResult,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ReservePlugin,
    ScoreExtensions,
    ScorePlugin,
    Status,
    default_normalize_score,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo, PodRequests, Snapshot, pod_key, pod_requests

__all__ = [
    "MAX_NODE_SCORE", "MIN_NODE_SCORE", "SKIP", "SUCCESS", "BatchFilterExtension", "BatchScoreExtension", "BindPlugin", "Code", "CycleState",
    "FilterPlugin", "Handle", "NodeInfo", "Plugin", "PluginArgs", "Pod", "PodRequests",
    "PostFilterPlugin", "PostFilterResult", "PreFilterPlugin", "PreFilterResult", "PreScorePlugin",
    "ReservePlugin", "ScoreExtensions", "ScorePlugin", "Snapshot", "Status", "default_normalize_score",
    "pod_key", "pod_requests",
]
