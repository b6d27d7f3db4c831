"""ResourceQuotas and LimitRanges: quantities that parse, LimitRange types and their order.

What differs from the generic steps:

- a ResourceQuota's ``spec.hard`` values are quantities, never negative; its status is the
  resourcequota controller's and admission's (``/status``), empty on create;
- a LimitRange item's ``type`` is ``Container``, ``Pod`` or ``PersistentVolumeClaim``; its maps
  hold quantities with ``min <= defaultRequest <= default <= max`` (422 naming the field); a
  ``Pod`` item has no defaults; on create and update a Container item's ``default`` is filled
  from ``max`` and its ``defaultRequest`` from ``default``, else ``min`` (SetDefaults_LimitRangeItem);
- ``kubectl get quota`` prints NAME AGE REQUEST LIMIT (``pods: 1/2, requests.cpu: 100m/2``).

Kubernetes equivalent: pkg/registry/core/resourcequota/strategy.go, pkg/registry/core/limitrange,
pkg/apis/core/validation/validation.go (ValidateResourceQuota, ValidateLimitRange),
pkg/apis/core/v1/defaults.go (SetDefaults_LimitRangeItem), pkg/printers/internalversion/printers.go
(printResourceQuota)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.printing import _AGE, _NAME, _column, _since
from orchestrator.api.quantity import canonical, parse_quantity
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors

LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")


def _quantities(errs: FieldErrors, values: Any, path: str) -> dict[str, Decimal]:
    """The parsed quantities of a resource map; bad ones reported at ``path[name]``."""
    out: dict[str, Decimal] = {}
    if not isinstance(values, Mapping):
        return out
    for name, value in values.items():
        try:
            number = parse_quantity(value)
        except (ValueError, TypeError):
            errs.invalid(f"{path}[{name}]", value, "must be a valid resource quantity (e.g. 500m, 1, 64Mi)")
            continue
        if number < 0:
            errs.invalid(f"{path}[{name}]", value, "must be greater than or equal to 0")
            continue
        out[name] = number
    return out


def _canonical_map(values: Any) -> None:
    if isinstance(values, dict):
        for name, value in values.items():
            try:
                values[name] = canonical(value)
            except (ValueError, TypeError):
                pass  # validation reports it


# --- ResourceQuota --------------------------------------------------------------------------------


def quota_columns() -> list[dict[str, Any]]:
    return [_NAME, _AGE,
            _column("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
            _column("Limit", "Limits control the maximum amount of cpu/memory that a container may use "
                             "independent of contention on the node.")]


def quota_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for name in sorted(hard):
        column = limits if name.split(".")[0] == "limits" and "." in name else requests
        column.append(f"{name}: {used.get(name, '0')}/{hard[name]}")
    return [meta.get("name", ""), _since(meta.get("creationTimestamp"), now), ", ".join(requests),
            ", ".join(limits)], None


class ResourceQuotaStrategy(BaseStrategy):
    printer = tables.TablePrinter(quota_columns(), quota_row)

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        obj["status"] = {}

    def canonicalize(self, obj: Obj) -> None:
        _canonical_map((obj.get("spec") or {}).get("hard"))
        status = obj.get("status") or {}
        _canonical_map(status.get("hard"))
        _canonical_map(status.get("used"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec") or {}
        _quantities(errs, spec.get("hard"), "spec.hard")
        status = obj.get("status") or {}
        _quantities(errs, status.get("hard"), "status.hard")
        _quantities(errs, status.get("used"), "status.used")


# --- LimitRange -----------------------------------------------------------------------------------


def default_limit_range(obj: Obj) -> None:
    """SetDefaults_LimitRangeItem: a Container item's default limit is its max, its default
    request its default limit, else its min."""
    for item in (obj.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        for name, value in (item.get("max") or {}).items():
            item.setdefault("default", {}).setdefault(name, value)
        for name, value in (item.get("default") or {}).items():
            item.setdefault("defaultRequest", {}).setdefault(name, value)
        for name, value in (item.get("min") or {}).items():
            item.setdefault("defaultRequest", {}).setdefault(name, value)


def validate_limit_range(obj: Mapping[str, Any]) -> FieldErrors:
    errs = FieldErrors()
    limits = (obj.get("spec") or {}).get("limits")
    if not limits:
        errs.required("spec.limits", "at least one limit is required")
        return errs
    for i, item in enumerate(limits):
        path = f"spec.limits[{i}]"
        kind = item.get("type")
        if kind not in LIMIT_TYPES:
            errs.not_supported(f"{path}.type", kind, LIMIT_TYPES)
        mins = _quantities(errs, item.get("min"), f"{path}.min")
        maxes = _quantities(errs, item.get("max"), f"{path}.max")
        defaults = _quantities(errs, item.get("default"), f"{path}.default")
        requests = _quantities(errs, item.get("defaultRequest"), f"{path}.defaultRequest")
        _quantities(errs, item.get("maxLimitRequestRatio"), f"{path}.maxLimitRequestRatio")
        if kind == "Pod":
            if item.get("default"):
                errs.forbidden(f"{path}.default", "may not be specified when `type` is 'Pod'")
            if item.get("defaultRequest"):
                errs.forbidden(f"{path}.defaultRequest", "may not be specified when `type` is 'Pod'")
        raw = {key: item.get(key) or {} for key in ("min", "max", "default", "defaultRequest")}
        for name in sorted(set(mins) | set(maxes) | set(defaults) | set(requests)):
            lo, hi, dflt, req = mins.get(name), maxes.get(name), defaults.get(name), requests.get(name)
            if lo is not None and hi is not None and lo > hi:
                errs.invalid(f"{path}.min[{name}]", raw["min"][name],
                             f"min value {raw['min'][name]} is greater than max value {raw['max'][name]}")
            if dflt is not None:
                if lo is not None and lo > dflt:
                    errs.invalid(f"{path}.default[{name}]", raw["default"][name],
                                 f"min value {raw['min'][name]} is greater than default value "
                                 f"{raw['default'][name]}")
                if hi is not None and dflt > hi:
                    errs.invalid(f"{path}.default[{name}]", raw["default"][name],
                                 f"default value {raw['default'][name]} is greater than max value "
                                 f"{raw['max'][name]}")
            if req is not None:
                if lo is not None and lo > req:
                    errs.invalid(f"{path}.defaultRequest[{name}]", raw["defaultRequest"][name],
                                 f"min value {raw['min'][name]} is greater than default request value "
                                 f"{raw['defaultRequest'][name]}")
                if hi is not None and req > hi:
                    errs.invalid(f"{path}.defaultRequest[{name}]", raw["defaultRequest"][name],
                                 f"default request value {raw['defaultRequest'][name]} is greater than max "
                                 f"value {raw['max'][name]}")
                if dflt is not None and req > dflt:
                    errs.invalid(f"{path}.defaultRequest[{name}]", raw["defaultRequest"][name],
                                 f"default request value {raw['defaultRequest'][name]} is greater than "
                                 f"default limit value {raw['default'][name]}")
    return errs


class LimitRangeStrategy(BaseStrategy):
    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_limit_range(obj)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_limit_range(new)
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        for item in (obj.get("spec") or {}).get("limits") or []:
            if isinstance(item, dict):
                for key in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"):
                    _canonical_map(item.get(key))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        errs.extend(validate_limit_range(obj).causes)


STRATEGIES = (ResourceQuotaStrategy(by_group_resource("resourcequotas")),
              LimitRangeStrategy(by_group_resource("limitranges")))
