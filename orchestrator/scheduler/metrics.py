"""The scheduler's Prometheus metrics, and the small HTTP endpoint that serves them with /healthz.

Names and labels follow kube-scheduler's, so dashboards and lab questions carry over:

    scheduler_schedule_attempts_total{result, profile}         result: scheduled | unschedulable | error
    scheduler_scheduling_algorithm_duration_seconds            Filter + Score for one pod
    scheduler_scheduling_attempt_duration_seconds{result, profile}
                                                               one attempt, from pop to bound (or failed)
    scheduler_pod_scheduling_duration_seconds                  first attempt to bound (e2e, retries included)
    scheduler_pending_pods{queue}                              activeQ, backoffQ, unschedulablePods, inFlight

Every process gets its own CollectorRegistry (not the global one), so two schedulers in one
test process do not collide.

Kubernetes equivalent: pkg/scheduler/metrics/metrics.go
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

# Upstream's buckets: exponential from 1 ms (algorithm: from 0.1 ms... kept coarse here).
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
                    4.096, 8.192, 16.384)
_E2E_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84)
QUEUES = ("activeQ", "backoffQ", "unschedulablePods", "inFlight")


class SchedulerMetrics:
    """The metric objects; `queue_counts` is read at scrape time for the pending-pods gauge."""

    def __init__(self, queue_counts: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "scheduler_schedule_attempts", "Scheduling attempts by result.", ["result", "profile"],
            registry=self.registry,
        )
        self.algorithm_duration = Histogram(
            "scheduler_scheduling_algorithm_duration_seconds", "Filter and Score time for one pod.",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds",
            "One scheduling attempt, from leaving the queue to bound (or failed).",
            ["result", "profile"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.pod_scheduling_duration = Histogram(
            "scheduler_pod_scheduling_duration_seconds",
            "From a pod's first scheduling attempt to bound, retries included.",
            buckets=_E2E_BUCKETS, registry=self.registry,
        )
        pending = Gauge("scheduler_pending_pods", "Pods in each part of the scheduling queue.", ["queue"],
                        registry=self.registry)
        for name in QUEUES:
            pending.labels(queue=name).set_function(lambda name=name: queue_counts().get(name, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
