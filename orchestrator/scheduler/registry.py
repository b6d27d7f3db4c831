"""The one table of in-tree plugins: name -> constructor.

Every plugin class is its own constructor, `Class(args, handle)`. Plugins outside this table
(a student's) are named in the configuration as "package.module:ClassName" and loaded by
config.py with the same signature.

Kubernetes equivalent: pkg/scheduler/framework/plugins/registry.go
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from orchestrator.scheduler.framework.interfaces import PluginFactory
from orchestrator.scheduler.plugins.defaultbinder import DefaultBinder
from orchestrator.scheduler.plugins.nodeaffinity import NodeAffinity
from orchestrator.scheduler.plugins.nodename import NodeName
from orchestrator.scheduler.plugins.nodeports import NodePorts
from orchestrator.scheduler.plugins.nodeready import NodeReady
from orchestrator.scheduler.plugins.noderesources import BalancedAllocation, Fit
from orchestrator.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from orchestrator.scheduler.plugins.selectorspread import SelectorSpread
from orchestrator.scheduler.plugins.tainttoleration import TaintToleration

IN_TREE_REGISTRY: Mapping[str, PluginFactory] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            NodeUnschedulable,
            NodeName,
            NodeReady,
            TaintToleration,
            NodeAffinity,
            NodePorts,
            Fit,
            BalancedAllocation,
            SelectorSpread,
            DefaultBinder,
        )
    }
)
