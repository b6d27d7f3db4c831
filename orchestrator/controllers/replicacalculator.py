"""How many replicas a resource metric asks for: the HPA's arithmetic, with no I/O.

Given the pods a target selects, their metrics (from metrics.k8s.io PodMetrics) and their requests:

1. **group the pods** -- pods being deleted or Failed are *ignored*; Pending pods are *unready*;
   pods without a metric are *missing*; for CPU, a pod that is not Ready, or is within its CPU
   initialization period (5 min after start) and whose sample may predate readiness, is *unready*
   (its CPU while starting says nothing about load). The rest are *ready*.
2. **utilization** of the ready pods: ``sum(usage) * 100 / sum(requests)`` (integer, as upstream),
   and ``ratio = utilization / target``.
3. **no doubt** (no missing pods, and no unready pods that a scale-up would ignore): within the
   tolerance (|1 - ratio| <= 0.1) keep the current count, else ``ceil(ratio * ready pods)``.
4. **doubt** -- be conservative: on a scale-down, missing pods count as using 100% of their request
   (or the target, if above 100%); on a scale-up, missing and unready pods count as using 0. The
   ratio is computed again; if it is within the tolerance or flips the direction, nothing changes;
   else ``ceil(new ratio * pods counted)``, never moving against the first ratio's direction.

Worked example: 3 ready pods requesting 200m CPU each, using 300m, 300m, 240m; target 50%.
Utilization = 840 * 100 / 600 = 140%; ratio 2.8; desired = ceil(2.8 * 3) = 9.

Values are in milli-units (``250m`` CPU is 250; 64 MiB memory is 67108864000), as upstream's
MilliValue.

Kubernetes equivalent: pkg/controller/podautoscaler/replica_calculator.go,
pkg/controller/podautoscaler/metrics/utilization.go
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.quantity import parse_quantity
from orchestrator.api.timestamps import parse_rfc3339_or_none

__all__ = [
    "DEFAULT_CPU_INITIALIZATION_PERIOD",
    "DEFAULT_INITIAL_READINESS_DELAY",
    "DEFAULT_TOLERANCE",
    "MetricsError",
    "PodMetric",
    "ReplicaProposal",
    "milli_value",
    "plain_metric_replicas",
    "pod_requests",
    "resource_replicas",
]

DEFAULT_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
DEFAULT_CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
DEFAULT_INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay


class MetricsError(Exception):
    """The metrics do not allow a recommendation (no metrics, no pods, a missing request)."""


@dataclass(frozen=True)
class PodMetric:
    """One pod's usage of one resource (summed over its containers), as the metrics client reports it."""

    value: int  # milli-units
    timestamp: dt.datetime
    window: float = 30.0  # seconds the sample covers


@dataclass(frozen=True)
class ReplicaProposal:
    replicas: int
    utilization: int | None  # percent of requests (None for a raw average value target)
    raw_average: int  # milli-units per pod
    timestamp: dt.datetime | None = None
    counted: dict[str, int] = field(default_factory=dict)  # pod -> usage used in the final ratio


def milli_value(quantity: str | int | float) -> int:
    """Quantity.MilliValue(): thousandths, rounded up."""
    return math.ceil(parse_quantity(quantity) * 1000)


def pod_requests(pods: Sequence[Mapping[str, Any]], resource: str, container: str = "") -> dict[str, int]:
    """calculatePodRequests: each pod's request of `resource` (of one container if named), milli-units.

    A container without the request makes utilization meaningless: MetricsError, as upstream."""
    requests: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container and c.get("name") != container:
                continue
            amount = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if amount is None:
                raise MetricsError(f"missing request for {resource} in container {c.get('name')} of Pod "
                                   f"{_name(pod)}")
            total += milli_value(amount)
        requests[_name(pod)] = total
    return requests


def _name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def _parse(text: Any) -> dt.datetime | None:
    return parse_rfc3339_or_none(str(text)) if text else None


def group_pods(pods: Sequence[Mapping[str, Any]], metrics: Mapping[str, PodMetric], resource: str, *,
               now: dt.datetime, cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD,
               initial_readiness_delay: float = DEFAULT_INITIAL_READINESS_DELAY,
               ) -> tuple[int, set[str], set[str], set[str]]:
    """groupPods: (ready count, unready names, missing names, ignored names)."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = _name(pod)
        status = pod.get("status") or {}
        if (pod.get("metadata") or {}).get("deletionTimestamp") or status.get("phase") == "Failed":
            ignored.add(name)
            continue
        if status.get("phase") == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu":
            condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
            started = _parse(status.get("startTime"))
            if condition is None or started is None:
                is_unready = True
            else:
                transition = _parse(condition.get("lastTransitionTime")) or started
                if started + dt.timedelta(seconds=cpu_initialization_period) > now:
                    # still starting: a sample that may predate readiness says nothing about load
                    is_unready = (condition.get("status") == "False"
                                  or metric.timestamp < transition + dt.timedelta(seconds=metric.window))
                else:
                    # never ready since it started: ignore it
                    is_unready = (condition.get("status") == "False"
                                  and started + dt.timedelta(seconds=initial_readiness_delay) > transition)
            if is_unready:
                unready.add(name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def utilization_ratio(metrics: Mapping[str, int], requests: Mapping[str, int],
                      target_utilization: int) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (ratio, utilization %, raw average) over pods with a request."""
    used = requested = entries = 0
    for name, value in metrics.items():
        if name not in requests:
            continue
        used += value
        requested += requests[name]
        entries += 1
    if requested == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = used * 100 // requested
    return utilization / target_utilization, utilization, used // entries


def resource_replicas(*, current_replicas: int, target_utilization: int, resource: str,
                      pods: Sequence[Mapping[str, Any]], metrics: Mapping[str, PodMetric],
                      requests: Mapping[str, int] | None = None, container: str = "", now: dt.datetime,
                      tolerance: float = DEFAULT_TOLERANCE,
                      cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD,
                      initial_readiness_delay: float = DEFAULT_INITIAL_READINESS_DELAY) -> ReplicaProposal:
    """GetResourceReplicas: the replicas a Utilization target asks for (see the module docstring)."""
    if not metrics:
        raise MetricsError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                           f"metrics API")
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(
        pods, metrics, resource, now=now, cpu_initialization_period=cpu_initialization_period,
        initial_readiness_delay=initial_readiness_delay)
    values = {name: m.value for name, m in metrics.items() if name not in ignored and name not in unready}
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    if requests is None:
        requests = pod_requests(pods, resource, container)
    timestamp = next(iter(metrics.values())).timestamp
    ratio, utilization, raw = utilization_ratio(values, requests, target_utilization)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return ReplicaProposal(current_replicas, utilization, raw, timestamp, values)
        return ReplicaProposal(math.ceil(ratio * ready), utilization, raw, timestamp, values)
    if missing:
        if ratio < 1.0:
            fallback = max(100, target_utilization)  # as if using all of the request (or the target)
            for name in missing:
                values[name] = requests.get(name, 0) * fallback // 100
        elif ratio > 1.0:
            for name in missing:
                values[name] = 0
    if scale_up_with_unready:
        for name in unready:
            values[name] = 0
    new_ratio, _, _ = utilization_ratio(values, requests, target_utilization)
    if (abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio)):
        return ReplicaProposal(current_replicas, utilization, raw, timestamp, values)
    desired = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and desired > current_replicas) or (new_ratio > 1.0 and desired < current_replicas):
        return ReplicaProposal(current_replicas, utilization, raw, timestamp, values)
    return ReplicaProposal(desired, utilization, raw, timestamp, values)


def plain_metric_replicas(*, current_replicas: int, target_average: int, resource: str,
                          pods: Sequence[Mapping[str, Any]], metrics: Mapping[str, PodMetric],
                          now: dt.datetime, tolerance: float = DEFAULT_TOLERANCE,
                          cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD,
                          initial_readiness_delay: float = DEFAULT_INITIAL_READINESS_DELAY) -> ReplicaProposal:
    """GetRawResourceReplicas / calcPlainMetricReplicas: an AverageValue target (milli-units per pod)."""
    if not metrics:
        raise MetricsError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                           f"metrics API")
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(
        pods, metrics, resource, now=now, cpu_initialization_period=cpu_initialization_period,
        initial_readiness_delay=initial_readiness_delay)
    values = {name: m.value for name, m in metrics.items() if name not in ignored and name not in unready}
    if not values:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    timestamp = next(iter(metrics.values())).timestamp

    def usage_ratio(vals: Mapping[str, int]) -> tuple[float, int]:
        average = sum(vals.values()) // len(vals)
        return average / target_average, average

    ratio, average = usage_ratio(values)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return ReplicaProposal(current_replicas, None, average, timestamp, values)
        return ReplicaProposal(math.ceil(ratio * ready), None, average, timestamp, values)
    if missing:
        for name in missing:
            values[name] = target_average if ratio < 1.0 else 0
    if scale_up_with_unready:
        for name in unready:
            values[name] = 0
    new_ratio, _ = usage_ratio(values)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return ReplicaProposal(current_replicas, None, average, timestamp, values)
    desired = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and desired > current_replicas) or (new_ratio > 1.0 and desired < current_replicas):
        return ReplicaProposal(current_replicas, None, average, timestamp, values)
    return ReplicaProposal(desired, None, average, timestamp, values)
