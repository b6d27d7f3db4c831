"""NodeResources: whether a pod's CPU/memory requests fit a node, and how full nodes should get.

    fit.py                  NodeResourcesFit: Filter (cpu, memory, pod count) and Score with a
                            strategy: LeastAllocated (default, spreads) or MostAllocated (packs)
    balanced_allocation.py  NodeResourcesBalancedAllocation: Score, prefers nodes whose CPU and
                            memory end up equally used

Kubernetes equivalent: pkg/scheduler/framework/plugins/noderesources
"""

from orchestrator.scheduler.plugins.noderesources.balanced_allocation import BalancedAllocation
from orchestrator.scheduler.plugins.noderesources.fit import (
    Fit,
    least_requested_score,
    most_requested_score,
)

__all__ = ["BalancedAllocation", "Fit", "least_requested_score", "most_requested_score"]
