"""A node agent's Summary → the ``metrics.k8s.io/v1beta1`` NodeMetrics and PodMetrics it holds.

The rules metrics-server follows, kept here:

- usage is what the summary reports over its last window: CPU ``usageNanoCores`` (a rate) as a
  quantity in nanocores (``"250000000n"``, which ``kubectl top`` shows as ``250m``), memory
  ``workingSetBytes`` in bytes (``"65536Ki"``);
- a node or pod whose CPU rate is not known yet (the node agent has one sample so far) is left
  out rather than shown as 0 — ``kubectl top`` then says "metrics not available yet";
- a pod is all or nothing: if one of its containers has no rate, the pod is left out, so an HPA
  never averages a half-measured pod;
- ``timestamp`` is when the sample was taken and ``window`` how long the rate is over.

The node agent's ``labkit.source`` (``simulated`` or ``docker``) becomes the
``metrics.labkit.io/source`` annotation, so simulated usage is never mistaken for a real reading.

Kubernetes equivalent: sigs.k8s.io/metrics-server/pkg/scraper/client/summary (decode),
pkg/storage (nodeStorage, podStorage), pkg/api (the NodeMetrics/PodMetrics objects)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.api.quantity import format_quantity

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
SOURCE_ANNOTATION = "metrics.labkit.io/source"


@dataclass(frozen=True)
class Usage:
    """One measured usage: CPU in nanocores, memory working set in bytes, over `window` seconds
    ending at `timestamp` (RFC 3339)."""

    cpu_nano_cores: int
    memory_bytes: int
    timestamp: str
    window_seconds: float

    def quantities(self) -> dict[str, str]:
        return {"cpu": cpu_quantity(self.cpu_nano_cores), "memory": memory_quantity(self.memory_bytes)}


@dataclass(frozen=True)
class PodUsage:
    namespace: str
    name: str
    containers: tuple[tuple[str, Usage], ...]
    source: str

    @property
    def timestamp(self) -> str:
        return max(u.timestamp for _, u in self.containers)

    @property
    def window_seconds(self) -> float:
        return max(u.window_seconds for _, u in self.containers)


@dataclass(frozen=True)
class NodeUsage:
    name: str
    usage: Usage
    source: str


def cpu_quantity(nano_cores: int) -> str:
    """``250000000`` → ``"250000000n"``: metrics-server's scaled quantity (exponent -9), unreduced."""
    return f"{nano_cores}n" if nano_cores else "0"


def memory_quantity(num_bytes: int) -> str:
    """``67108864`` → ``"64Mi"``; bytes that are no whole KiB stay plain (``"1000"``, as a BinarySI
    quantity prints: never ``"1k"``)."""
    if num_bytes < 1024 or num_bytes % 1024:
        return str(num_bytes)
    return format_quantity(num_bytes, "BinarySI")


def go_duration(seconds: float) -> str:
    """Go's time.Duration text, as metav1.Duration serializes a window: ``15s``, ``1.5s``, ``1m0s``."""
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    text = f"{millis / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


def _usage(cpu: Mapping[str, Any] | None, memory: Mapping[str, Any] | None) -> Usage | None:
    if not cpu or not memory or cpu.get("usageNanoCores") is None or memory.get("workingSetBytes") is None:
        return None
    return Usage(cpu_nano_cores=int(cpu["usageNanoCores"]), memory_bytes=int(memory["workingSetBytes"]),
                 timestamp=str(cpu.get("time") or memory.get("time")),
                 window_seconds=float(cpu.get("windowSeconds") or 0.0))


def from_summary(summary: Mapping[str, Any]) -> tuple[NodeUsage | None, list[PodUsage]]:
    """What one Summary says of its node and its pods (the incomplete ones left out)."""
    node = summary.get("node") or {}
    source = str((node.get("labkit") or {}).get("source") or "unknown")
    usage = _usage(node.get("cpu"), node.get("memory"))
    node_usage = NodeUsage(str(node.get("nodeName")), usage, source) if usage is not None and node.get("nodeName") \
        else None
    pods: list[PodUsage] = []
    for pod in summary.get("pods") or []:
        ref = pod.get("podRef") or {}
        containers = [(str(c.get("name")), _usage(c.get("cpu"), c.get("memory"))) for c in pod.get("containers") or []]
        if not containers or any(u is None for _, u in containers) or not ref.get("name"):
            continue
        pods.append(PodUsage(namespace=str(ref.get("namespace")), name=str(ref["name"]),
                             containers=tuple((n, u) for n, u in containers if u is not None), source=source))
    return node_usage, pods


def _metadata(name: str, *, namespace: str | None, labels: Mapping[str, str] | None, source: str,
              now: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["creationTimestamp"] = now
    if labels:
        meta["labels"] = dict(labels)
    meta["annotations"] = {SOURCE_ANNOTATION: source}
    return meta


def node_metrics(node: NodeUsage, *, labels: Mapping[str, str] | None, now: str) -> dict[str, Any]:
    """The NodeMetrics object of one node."""
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": _metadata(node.name, namespace=None, labels=labels, source=node.source, now=now),
            "timestamp": node.usage.timestamp, "window": go_duration(node.usage.window_seconds),
            "usage": node.usage.quantities()}


def pod_metrics(pod: PodUsage, *, labels: Mapping[str, str] | None, now: str) -> dict[str, Any]:
    """The PodMetrics object of one pod."""
    return {"kind": "PodMetrics", "apiVersion": API_VERSION,
            "metadata": _metadata(pod.name, namespace=pod.namespace, labels=labels, source=pod.source, now=now),
            "timestamp": pod.timestamp, "window": go_duration(pod.window_seconds),
            "containers": [{"name": name, "usage": usage.quantities()} for name, usage in pod.containers]}


def metrics_list(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}


__all__ = ["API_VERSION", "GROUP", "SOURCE_ANNOTATION", "VERSION", "NodeUsage", "PodUsage", "Usage", "cpu_quantity",
           "from_summary", "go_duration", "memory_quantity", "metrics_list", "node_metrics", "pod_metrics"]
