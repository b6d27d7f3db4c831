"""Reading ``metrics.k8s.io`` through the API server: what the HorizontalPodAutoscaler and ``labctl`` use.

    items = await list_pod_metrics(client, "default", label_selector="app=web")   # PodMetrics dicts
    usage = await resource_metric(client, "cpu", "default", "app=web")
    usage["web-7d9f"].value_milli     # 250 (millicores: the sum of the pod's containers)
    usage["web-7d9f"].window_seconds  # 15.0

The metrics come from the metrics server (orchestrator/metrics) behind the APIService
``v1beta1.metrics.k8s.io``; when it is not registered or not available the API server answers
404 or 503, raised here as the client's `NotFound` / `Unavailable`. A pod whose usage is not
measured yet (its first scrape) is absent, not zero.

Kubernetes equivalent: k8s.io/metrics/pkg/client/clientset/versioned (the typed client),
pkg/controller/podautoscaler/metrics/client.go (resourceMetricsClient.GetResourceMetric)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.api.quantity import parse_quantity
from orchestrator.client.rest import ApiClient

METRICS_API = "/apis/metrics.k8s.io/v1beta1"
ResourceName = Literal["cpu", "memory"]
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class PodMetric:
    """One pod's usage of one resource, summed over its containers (or one container's)."""

    timestamp: str  # RFC 3339: when the sample was taken
    window_seconds: float  # the span the usage is averaged over
    value_milli: int  # thousandths of the unit: millicores for cpu, millibytes for memory (as upstream MilliValue)


def parse_go_duration(text: str) -> float:
    """``15s``, ``1.02s``, ``1m0s``, ``500ms`` → seconds (metav1.Duration's text)."""
    parts = _DURATION_PART.findall(text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


async def list_pod_metrics(client: ApiClient, namespace: str | None, *,
                           label_selector: str | None = None) -> list[dict[str, Any]]:
    """The PodMetrics of `namespace` (None: all namespaces) whose pods match `label_selector`."""
    path = f"{METRICS_API}/namespaces/{namespace}/pods" if namespace else f"{METRICS_API}/pods"
    params = {"labelSelector": label_selector} if label_selector else None
    body = await client.request_json("GET", path, params=params)
    return list(body.get("items") or [])


async def list_node_metrics(client: ApiClient, *, label_selector: str | None = None) -> list[dict[str, Any]]:
    params = {"labelSelector": label_selector} if label_selector else None
    body = await client.request_json("GET", f"{METRICS_API}/nodes", params=params)
    return list(body.get("items") or [])


def pod_metric(item: dict[str, Any], resource: ResourceName, *, container: str | None = None) -> PodMetric | None:
    """One PodMetrics object → its usage of `resource`; None if a container lacks it (upstream skips
    such a pod) or `container` is not in it."""
    total = 0
    found = False
    for c in item.get("containers") or []:
        if container is not None and c.get("name") != container:
            continue
        value = (c.get("usage") or {}).get(resource)
        if value is None:
            return None
        total += int(parse_quantity(value) * 1000)
        found = True
    if not found:
        return None
    return PodMetric(timestamp=str(item.get("timestamp")), window_seconds=parse_go_duration(str(item.get("window"))),
                     value_milli=total)


async def resource_metric(client: ApiClient, resource: ResourceName, namespace: str, label_selector: str, *,
                          container: str | None = None) -> dict[str, PodMetric]:
    """Pod name → its usage of `resource`, for the pods `label_selector` selects in `namespace`."""
    out: dict[str, PodMetric] = {}
    for item in await list_pod_metrics(client, namespace, label_selector=label_selector):
        metric = pod_metric(item, resource, container=container)
        if metric is not None:
            out[str((item.get("metadata") or {}).get("name"))] = metric
    return out


__all__ = ["METRICS_API", "PodMetric", "list_node_metrics", "list_pod_metrics", "parse_go_duration", "pod_metric",
           "resource_metric"]
