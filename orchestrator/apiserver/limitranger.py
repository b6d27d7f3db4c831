"""The LimitRanger admission plugin: a namespace's LimitRanges default and bound pod resources.

Mutating (pod CREATE): a container without a request or limit for a resource gets the
LimitRange's ``defaultRequest`` / ``default`` (a container stating only a limit keeps it as its
request, as pod defaulting does first upstream); the pod is annotated
``kubernetes.io/limit-ranger`` with what was set. Validating (pod CREATE): every ``Container``
item's min/max/maxLimitRequestRatio for each container, every ``Pod`` item's for the sums over
containers; a breach is 403 Forbidden with Kubernetes' message, e.g.
``pods "x" is forbidden: maximum cpu usage per Container is 500m, but limit is 1``.

Kubernetes equivalent: plugin/pkg/admission/limitranger/admission.go
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orchestrator.api.errors import Forbidden
from orchestrator.api.quantity import canonical, format_quantity, parse_quantity, quantity_format
from orchestrator.apiserver.admission import Attributes
from orchestrator.apiserver.lister import NamespacedLister
from orchestrator.storage.store import Store

ANNOTATION = "kubernetes.io/limit-ranger"


def _q(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return None


def _containers(spec: Any) -> list[dict[str, Any]]:
    if not isinstance(spec, dict):
        return []
    return [c for key in ("initContainers", "containers") for c in (spec.get(key) or []) if isinstance(c, dict)]


def apply_defaults(pod: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    """Set the Container items' defaults on ``pod``'s containers; what was set, for the annotation."""
    notes: list[str] = []
    for item in items:
        if item.get("type") != "Container":
            continue
        for container in _containers(pod.get("spec")):
            resources = container.get("resources")
            if not isinstance(resources, dict):
                resources = container["resources"] = {}
            limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
            requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
            set_requests = [r for r in (item.get("defaultRequest") or {}) if r not in requests]
            set_limits = [r for r in (item.get("default") or {}) if r not in limits]
            for name in set_requests:
                requests[name] = limits.get(name, item["defaultRequest"][name])
            for name in set_limits:
                limits[name] = item["default"][name]
            if requests:
                resources["requests"] = requests
            if limits:
                resources["limits"] = limits
            who = container.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for container {who}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for container {who}")
    return notes


def _check(kind: str, item: dict[str, Any], requests: dict[str, Any],
           limits: dict[str, Any]) -> list[str]:
    """minConstraint, maxConstraint, limitRequestRatioConstraint of upstream, in that order: each
    reports the first way a resource breaks it."""
    errors: list[str] = []
    for resource, raw in sorted((item.get("min") or {}).items()):
        bound, req, lim = _q(raw), requests.get(resource), limits.get(resource)
        if req is None:
            errors.append(f"minimum {resource} usage per {kind} is {canonical(raw)}.  No request is specified")
        elif bound is not None and _q(req) is not None and _q(req) < bound:  # type: ignore[operator]
            errors.append(f"minimum {resource} usage per {kind} is {canonical(raw)}, but request is {canonical(req)}")
        elif lim is not None and bound is not None and _q(lim) is not None and _q(lim) < bound:  # type: ignore[operator]
            errors.append(f"minimum {resource} usage per {kind} is {canonical(raw)}, but limit is {canonical(lim)}")
    for resource, raw in sorted((item.get("max") or {}).items()):
        bound, req, lim = _q(raw), requests.get(resource), limits.get(resource)
        if lim is None:
            errors.append(f"maximum {resource} usage per {kind} is {canonical(raw)}.  No limit is specified")
        elif bound is not None and _q(lim) is not None and _q(lim) > bound:  # type: ignore[operator]
            errors.append(f"maximum {resource} usage per {kind} is {canonical(raw)}, but limit is {canonical(lim)}")
        elif req is not None and bound is not None and _q(req) is not None and _q(req) > bound:  # type: ignore[operator]
            errors.append(f"maximum {resource} usage per {kind} is {canonical(raw)}, but request is {canonical(req)}")
    for resource, raw in sorted((item.get("maxLimitRequestRatio") or {}).items()):
        req, lim = _q(requests.get(resource)), _q(limits.get(resource))
        ratio = _q(raw)
        if not req:
            errors.append(f"{resource} max limit to request ratio per {kind} is {canonical(raw)}, "
                          "but no request is specified or request is 0.")
        elif lim is None:
            errors.append(f"{resource} max limit to request ratio per {kind} is {canonical(raw)}, "
                          "but no limit is specified.")
        elif ratio is not None and lim / req > ratio:
            errors.append(f"{resource} max limit to request ratio per {kind} is {canonical(raw)}, "
                          f"but provided ratio is {float(lim / req):f}.")
    return errors


def violations(pod: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    """Every min/max/ratio breach of ``pod`` against the LimitRange items (upstream's messages)."""
    errors: list[str] = []
    containers = _containers(pod.get("spec"))
    for item in items:
        if item.get("type") == "Container":
            for container in containers:
                resources = container.get("resources") or {}
                errors += _check("Container", item, resources.get("requests") or {},
                                 resources.get("limits") or {})
        elif item.get("type") == "Pod":
            totals: dict[str, dict[str, Any]] = {"requests": {}, "limits": {}}
            for key, total in totals.items():
                for resource in {r for c in containers for r in ((c.get("resources") or {}).get(key) or {})}:
                    raws = [((c.get("resources") or {}).get(key) or {}).get(resource) for c in containers]
                    values = [_q(raw) for raw in raws]
                    if all(v is not None for v in values):  # upstream: a container without it leaves it unset
                        # a sum keeps the format of its first term, as resource.Quantity.Add does
                        total[resource] = format_quantity(sum(v for v in values if v is not None),
                                                          quantity_format(raws[0]))
            errors += _check("Pod", item, totals["requests"], totals["limits"])
    return errors


class LimitRanger:
    """Reads the namespace's LimitRanges on every pod create: from `lister` (apiserver/lister.py)
    once it has listed, from the store before."""

    def __init__(self, store: Store, lister: NamespacedLister | None = None) -> None:
        self._store = store
        self._lister = lister

    async def _items(self, namespace: str) -> list[dict[str, Any]]:
        ranges = self._lister.items(namespace) if self._lister is not None else None
        if ranges is None:
            ranges = (await self._store.list("limitranges", namespace=namespace)).items
        return [item for lr in ranges for item in ((lr.get("spec") or {}).get("limits") or [])
                if isinstance(item, dict)]

    async def admit(self, attrs: Attributes) -> None:
        if attrs.operation != "CREATE" or attrs.info.group_resource != "pods" or attrs.subresource:
            return
        meta = attrs.obj.get("metadata") or {}
        items = await self._items(meta.get("namespace") or "")
        if not items:
            return
        notes = apply_defaults(attrs.obj, items)
        if notes:
            annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
            annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
            meta["annotations"] = annotations
            attrs.obj["metadata"] = meta


class LimitRangerValidation(LimitRanger):
    async def admit(self, attrs: Attributes) -> None:
        if attrs.operation != "CREATE" or attrs.info.group_resource != "pods" or attrs.subresource:
            return
        meta = attrs.obj.get("metadata") or {}
        items = await self._items(meta.get("namespace") or "")
        errors = violations(attrs.obj, items) if items else []
        if errors:
            detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
            name = meta.get("name") or meta.get("generateName") or ""
            raise Forbidden(f'pods "{name}" is forbidden: {detail}', kind="pods", name=name)
