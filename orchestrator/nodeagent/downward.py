"""The downward API: a pod's own fields and its containers' resources, as text.

Used twice, with the same rules: by ``env[].valueFrom.fieldRef/resourceFieldRef``
(orchestrator/nodeagent/envvars.py) and by ``downwardAPI`` volumes and projections
(orchestrator/nodeagent/volumes.py).

fieldRef paths: ``metadata.name``, ``metadata.namespace``, ``metadata.uid``,
``metadata.labels['k']``, ``metadata.annotations['k']``, ``metadata.labels`` and
``metadata.annotations`` (volumes only: ``k="v"`` lines, sorted), ``spec.nodeName``,
``spec.serviceAccountName``, ``status.hostIP``, ``status.hostIPs``, ``status.podIP``,
``status.podIPs``. This lab has no pod sandbox: a pod's IP is the address of its first running
container, so ``status.podIP`` is empty for a pod whose first container is starting.

resourceFieldRef: ``limits.cpu``, ``limits.memory``, ``limits.ephemeral-storage``,
``requests.cpu``, ``requests.memory``, ``requests.ephemeral-storage``, divided by ``divisor``
(default 1) and rounded up. An unset limit is the node's allocatable, as kubelet does. Worked
example: ``limits.cpu: 250m`` with divisor ``1`` gives ``1`` (250m rounded up to whole cores);
with divisor ``1m`` it gives ``250``; ``limits.memory: 64Mi`` with divisor ``1Mi`` gives ``64``.

Kubernetes equivalent: pkg/api/v1/resource/helpers.go (ExtractResourceValueByContainerName),
pkg/fieldpath/fieldpath.go (ExtractFieldPathAsString), pkg/kubelet/kubelet_pods.go (podFieldSelectorRuntimeValue)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from orchestrator.api.quantity import parse_quantity

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class DownwardError(ValueError):
    """A field path or resource the downward API does not know."""


@dataclass(frozen=True)
class PodRuntimeFields:
    """What the node knows that the pod object may not carry yet."""

    node_name: str
    host_ip: str
    pod_ip: str | None = None
    allocatable: Mapping[str, str] = field(default_factory=dict)


def field_value(pod: Mapping[str, Any], path: str, runtime: PodRuntimeFields) -> str:
    """The text of `path` of `pod` (see the module docstring)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    match = _SUBSCRIPT.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        pairs = meta.get(path.split(".", 1)[1]) or {}
        return "\n".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(pairs.items()))
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(path.split(".", 1)[1]) or "")
    if path == "spec.nodeName":
        return str(spec.get("nodeName") or runtime.node_name)
    if path == "spec.serviceAccountName":
        return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "")
    if path in ("status.hostIP", "status.hostIPs"):
        return runtime.host_ip
    if path in ("status.podIP", "status.podIPs"):
        return runtime.pod_ip or str((pod.get("status") or {}).get("podIP") or "")
    raise DownwardError(f'unsupported fieldPath "{path}"')


def resource_value(container: Mapping[str, Any], resource: str, divisor: str | None,
                   runtime: PodRuntimeFields) -> str:
    """The container's `resource` (``limits.cpu`` ...) divided by `divisor`, rounded up."""
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise DownwardError(f'unsupported container resource "{resource}"')
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)  # the API server defaults requests to limits
    if raw is None:
        raw = runtime.allocatable.get(name) if kind == "limits" else "0"
    value = parse_quantity(str(raw if raw is not None else "0"))
    by = parse_quantity(str(divisor)) if divisor not in (None, "", "0") else Decimal(1)
    if by == 0:
        by = Decimal(1)
    return str(int((value / by).to_integral_value(rounding=ROUND_CEILING)))


def _escape(value: str) -> str:
    # strconv.Quote-like escaping, as fieldpath.FormatMap writes labels and annotations.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
