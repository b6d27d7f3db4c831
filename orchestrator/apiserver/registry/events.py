"""core/v1 Events: type Normal unless said, count 1, first/last timestamps; the involved object's
namespace must be the event's.

Kubernetes equivalent: pkg/registry/core/event/strategy.go
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors, default_event, validate_event


class EventStrategy(BaseStrategy):
    printer = tables.EVENT

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_event(obj, now)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_event(new, now)
        super().prepare_for_update(new, old, now=now)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_event(errs, obj)


STRATEGIES = (EventStrategy(by_group_resource("events")),)
