"""Namespaces: names are DNS-1123 labels, a new namespace is Active, and deleting one that still
holds objects makes it Terminating (the namespace controller empties it, then it goes).

Upstream also adds ``spec.finalizers: ["kubernetes"]`` and clears it through ``/finalize``; this
lab's namespace controller deletes the contents without that handshake.

Kubernetes equivalent: pkg/registry/core/namespace/strategy.go, .../namespace/storage/storage.go
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj


class NamespaceStrategy(BaseStrategy):
    printer = tables.NAMESPACE
    name_rule = staticmethod(names.dns1123_label)
    empties_before_delete = True

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        obj["status"] = {"phase": "Active"}


STRATEGIES = (NamespaceStrategy(by_group_resource("namespaces")),)
