"""coordination.k8s.io Leases (leader election, node heartbeats): a positive duration and a
non-negative transition count.

Kubernetes equivalent: pkg/registry/coordination/lease/strategy.go
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.validation import FieldErrors, validate_lease


class LeaseStrategy(BaseStrategy):
    printer = tables.LEASE

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_lease(errs, obj)


STRATEGIES = (LeaseStrategy(by_group_resource("leases.coordination.k8s.io")),)
