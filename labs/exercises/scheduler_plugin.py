"""Exercise "scheduler-plugin" (notebook 03): write a Score plugin that prefers the fast zone.

Some of the lab's nodes carry the label ``zone=fast`` (newer machines). Pods may run anywhere,
but should *prefer* those nodes. "Prefer, not require" is the job of a **Score** plugin: a Filter
would forbid the other nodes, and a pod would stay Pending when the fast nodes are full.

Your plugin gets, for every node that passed the filters, a `NodeInfo` (see
orchestrator/scheduler/framework/nodeinfo.py): ``node_info.name``, ``node_info.labels`` (a dict),
``node_info.requested_milli_cpu``, ``node_info.pod_count``, ... It returns an int from
MIN_NODE_SCORE (0) to MAX_NODE_SCORE (100). The framework multiplies it by the plugin's weight
and adds it to the other plugins' scores; the highest total wins.

The two TODOs:

1. ``score``: return MAX_NODE_SCORE for a node whose label ``zone`` equals ``self.zone``, and
   MIN_NODE_SCORE for every other node (also for a node with no ``zone`` label at all).
2. ``__init__``: read the zone from the plugin's arguments, ``args.get("zone", "fast")``, so a
   scheduler profile can choose another zone with ``pluginConfig: [{name: PreferFastZone,
   args: {zone: blue}}]``.

Check your work (it re-reads this file each time):

    labs.check("scheduler-plugin")            # in notebook 03
    labs.check("scheduler-plugin", lab=lab)   # ... and on the live scheduler too

The scheduler loads the plugin by name, "labs.exercises.scheduler_plugin:PreferFastZone", as
upstream loads out-of-tree plugins. A reference solution is in labs/solutions/ — try first.
"""

from __future__ import annotations

from orchestrator.scheduler.framework import (  # noqa: F401  (MAX/MIN_NODE_SCORE: for your score)
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
        args = args or {}
        # TODO 2: take the zone from args (key "zone"), with "fast" as the default.
        self.zone = "fast"

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        # TODO 1: MAX_NODE_SCORE if node_info.labels has ZONE_LABEL == self.zone, else MIN_NODE_SCORE.
        raise NotImplementedError("TODO 1: write PreferFastZone.score")


# ---------------------------------------------------------------------------------------------
# The automatic check. Nothing to edit below this line.
# ---------------------------------------------------------------------------------------------

from labs.exercises.scheduler_plugin_check import check  # noqa: E402,F401  (registers the check)
