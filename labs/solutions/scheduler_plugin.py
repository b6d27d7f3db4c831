"""Reference solution of exercise "scheduler-plugin" (labs/exercises/scheduler_plugin.py): try first.

Load it into a scheduler as "labs.solutions.scheduler_plugin:PreferFastZone".
"""

from __future__ import annotations

from orchestrator.scheduler.framework import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    CycleState,
    Handle,
    NodeInfo,
    PluginArgs,
    Pod,
)

ZONE_LABEL = "zone"


class PreferFastZone:
    """Score: MAX_NODE_SCORE on nodes labelled zone=<self.zone>, MIN_NODE_SCORE elsewhere."""

    name = "PreferFastZone"

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        self.zone = str((args or {}).get("zone", "fast"))

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        # .get, not [...]: most nodes have no zone label at all.
        return MAX_NODE_SCORE if node_info.labels.get(ZONE_LABEL) == self.zone else MIN_NODE_SCORE
