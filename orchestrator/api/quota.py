"""What one object takes against a ResourceQuota: the counting shared by ResourceQuota admission
(orchestrator/apiserver/resourcequota.py) and the resourcequota controller.

A pod takes ``pods`` (and ``count/pods``) unless it is Succeeded or Failed, and the sums of its
containers' requests (``requests.cpu``, also plain ``cpu``; memory alike) and limits (the max
with any init container's, which runs alone); every other object takes ``count/<resource>``,
some also their legacy names (``configmaps``, ``secrets``, ...).

Kubernetes equivalent: pkg/quota/v1/evaluator/core/pods.go, pkg/quota/v1/generic/evaluator.go
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.api.quantity import format_quantity, parse_quantity, quantity_format
from orchestrator.api.resources import ResourceInfo

LEGACY_COUNTS = ("configmaps", "secrets", "services", "replicationcontrollers", "resourcequotas",
                 "persistentvolumeclaims")
COMPUTE = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")


def quantity(value: Any) -> Decimal:
    """A quantity as a number; 0 for one that does not parse (validation has refused those)."""
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return Decimal(0)


def _count_names(info: ResourceInfo) -> tuple[str, ...]:
    names = [f"count/{info.group_resource}"]
    if info.group == "" and info.plural in LEGACY_COUNTS:
        names.append(info.plural)
    return tuple(names)


def pod_usage(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """What one pod takes: nothing once it is terminal (pods.go's PodUsageFunc)."""
    if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return {}
    usage = {"pods": Decimal(1), "count/pods": Decimal(1)}
    containers = [c for c in ((pod.get("spec") or {}).get("containers") or []) if isinstance(c, dict)]
    for key, prefix in (("requests", "requests."), ("limits", "limits.")):
        for resource in ("cpu", "memory"):
            values = [((c.get("resources") or {}).get(key) or {}).get(resource) for c in containers]
            total = sum((quantity(v) for v in values if v is not None), Decimal(0))
            # upstream also takes the max over init containers: an init container runs alone
            inits = [quantity(((c.get("resources") or {}).get(key) or {}).get(resource))
                     for c in ((pod.get("spec") or {}).get("initContainers") or []) if isinstance(c, dict)]
            total = max([total, *inits])
            if total or any(v is not None for v in values):
                usage[prefix + resource] = total
                if key == "requests":
                    usage[resource] = total
    return usage


def object_usage(info: ResourceInfo, obj: Mapping[str, Any]) -> dict[str, Decimal]:
    if info.group_resource == "pods":
        return pod_usage(obj)
    return {name: Decimal(1) for name in _count_names(info)}


def missing_requests(pod: Mapping[str, Any], hard: Mapping[str, Any]) -> str | None:
    """pods.go's Constraints: each container must state what a quota limits of cpu and memory."""
    required = sorted(set(hard) & set(COMPUTE))
    missing: dict[str, list[str]] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        have = set()
        for resource in (resources.get("requests") or {}):
            have |= {resource, f"requests.{resource}"}
        for resource in (resources.get("limits") or {}):
            have.add(f"limits.{resource}")
        for name in required:
            if name not in have:
                missing.setdefault(name, []).append(container.get("name", ""))
    if not missing:
        return None
    return "must specify " + "; ".join(f"{name} for: {','.join(sorted(who))}" for name, who in sorted(missing.items()))


def format_usage(value: Decimal, hard: Any) -> str:
    """``value`` spelled in the format of the quota's hard value (``256Mi`` against ``1Gi``, not
    ``268435456``), as upstream's sums keep the format of the quantities they add."""
    try:
        fmt = quantity_format(hard)
    except (ValueError, TypeError):
        fmt = "DecimalSI"
    return format_quantity(value, fmt)
