"""Nodes: the node agent reports capacity (allocatable defaults to it), taints are validated,
quantities kept canonical; clients keep the status they send (a node registers with it).

Kubernetes equivalent: pkg/registry/core/node/strategy.go
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors, canonical_amounts, default_node, validate_node


class NodeStrategy(BaseStrategy):
    printer = tables.NODE

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_node(obj)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_node(new)
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        status = obj.get("status") or {}
        canonical_amounts(status.get("capacity"))
        canonical_amounts(status.get("allocatable"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_node(errs, obj)

    def prepare_for_status_update(self, new: Obj, old: Mapping[str, Any]) -> Obj:
        result = super().prepare_for_status_update(new, old)
        default_node(result)
        return result


STRATEGIES = (NodeStrategy(by_group_resource("nodes")),)
