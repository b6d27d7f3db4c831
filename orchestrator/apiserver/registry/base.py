"""``BaseStrategy``: every step of the Strategy contract done the generic way.

A resource family's strategy subclasses it and overrides only what differs; a kind with nothing
special (a Lease) is ``BaseStrategy(info)`` itself. The generic behaviour:

- decode with the kind's pydantic model (``orchestrator.api.models.model_for``);
- no defaults, no canonical forms, no warnings;
- validate the ObjectMeta (names as DNS-1123 subdomains, labels, annotations, owners, finalizers);
- on update the main resource keeps the stored status when the resource has a ``status``
  subresource (only ``/status`` writes it), and nothing else is immutable;
- no generation unless ``has_generation`` (then any spec change counts), no graceful deletion;
- a Table with NAME and CREATED AT, as kube-apiserver's default table convertor prints.

Kubernetes equivalent: the defaults of k8s.io/apiserver/pkg/registry/rest and
k8s.io/apiserver/pkg/registry/rest/table.go (DefaultTableConvertor)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.errors import BadRequest, Cause
from orchestrator.api.resources import ResourceInfo
from orchestrator.apiserver.registry.strategy import Obj, Row
from orchestrator.apiserver.validation import FieldErrors, decode, set_or_pop, validate_object_meta


class BaseStrategy:
    """The generic strategy of one resource (see the module docstring for what it does)."""

    # How metadata.name is checked: most kinds are DNS-1123 subdomains, namespaces labels.
    name_rule: Callable[[str], list[str]] = staticmethod(names.dns1123_subdomain)
    # The Table kubectl prints: orchestrator/api/printing.py holds one printer per kind, as pkg/printers does.
    printer: tables.TablePrinter = tables.DEFAULT
    has_generation = False
    returns_deleted_object = False
    empties_before_delete = False

    def __init__(self, info: ResourceInfo) -> None:
        self.info = info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.group_resource})"

    # -- create -----------------------------------------------------------------------------

    def decode(self, body: Any, *, field_validation: str) -> tuple[Obj, list[str]]:
        return decode(self.info, body, field_validation=field_validation)

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        return None

    def canonicalize(self, obj: Obj) -> None:
        return None

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        validate_object_meta(errs, obj.get("metadata") or {}, namespaced=self.info.namespaced,
                             name_fn=self.name_rule)
        self.validate_fields(errs, obj)
        return errs.causes

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        """The kind's own fields (everything but metadata); for subclasses."""
        return None

    def warnings_on_create(self, obj: Mapping[str, Any]) -> list[str]:
        return []

    # -- update -----------------------------------------------------------------------------

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        if "status" in self.info.subresources:
            set_or_pop(new, "status", copy.deepcopy(old.get("status")))

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return []

    def warnings_on_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
        return []

    def spec_changed(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> bool | None:
        return old.get("spec") != new.get("spec") if self.has_generation else None

    def prepare_for_status_update(self, new: Obj, old: Mapping[str, Any]) -> Obj:
        result = copy.deepcopy(dict(old))
        result["status"] = new.get("status") or {}
        set_or_pop(result["metadata"], "resourceVersion", (new.get("metadata") or {}).get("resourceVersion"))
        return result

    # -- scale ------------------------------------------------------------------------------

    def to_scale(self, obj: Mapping[str, Any]) -> Obj:
        raise BadRequest(f"{self.info.plural} have no scale subresource")

    def with_replicas(self, obj: Obj, replicas: int) -> None:
        raise BadRequest(f"{self.info.plural} have no scale subresource")

    # -- delete -----------------------------------------------------------------------------

    def graceful_delete_seconds(self, obj: Mapping[str, Any], requested: int | None) -> int | None:
        return None

    # -- print ------------------------------------------------------------------------------

    def columns(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.printer.columns)

    def row(self, obj: Mapping[str, Any], now: datetime) -> Row:
        return self.printer.row(dict(obj), now)
