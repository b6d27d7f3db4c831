"""flowcontrol.apiserver.k8s.io FlowSchemas and PriorityLevelConfigurations: read-only objects the
API server writes at start-up from its fixed configuration (orchestrator/apiserver/flowcontrol.py),
so that `kubectl get flowschemas` shows how it classifies requests. No user writes them: the
resources serve only get, list and watch (docs/flowcontrol.md).

Kubernetes equivalent: pkg/registry/flowcontrol/flowschema/strategy.go,
pkg/registry/flowcontrol/prioritylevelconfiguration/strategy.go
"""

from __future__ import annotations

from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy


class FlowSchemaStrategy(BaseStrategy):
    printer = tables.FLOW_SCHEMA


class PriorityLevelConfigurationStrategy(BaseStrategy):
    printer = tables.PRIORITY_LEVEL


STRATEGIES = (
    FlowSchemaStrategy(by_group_resource("flowschemas.flowcontrol.apiserver.k8s.io")),
    PriorityLevelConfigurationStrategy(by_group_resource("prioritylevelconfigurations.flowcontrol.apiserver.k8s.io")),
)
