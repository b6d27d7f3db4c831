"""The controller manager's Prometheus metrics, and the small HTTP endpoint serving them with /healthz.

Names follow client-go's work queue metrics, one label ``name`` per controller, so the
questions a lab asks about kube-controller-manager carry over:

    workqueue_depth{name}                      keys ready and waiting
    workqueue_adds_total{name}                 keys newly queued
    workqueue_retries_total{name}              rate-limited requeues
    workqueue_unfinished_work{name}            keys being reconciled now
    workqueue_work_duration_seconds{name}      one sync (histogram): the reconcile latency
    controller_reconciles_total{name, result}  result: success | error
    leader_election_master_status{name}        1 while this process leads

Every process has its own CollectorRegistry, so two managers in one test process do not collide.

Kubernetes equivalent: k8s.io/component-base/metrics/prometheus/workqueue,
client-go/tools/leaderelection/metrics.go.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from orchestrator.controllers.controller import Controller

__all__ = ["ControllerMetrics"]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class ControllerMetrics:
    def __init__(self, controllers: Sequence[Controller], *, is_leader: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry()
        depth = Gauge("workqueue_depth", "Keys ready and waiting for a worker.", ["name"], registry=self.registry)
        adds = Gauge("workqueue_adds_total", "Keys newly queued.", ["name"], registry=self.registry)
        retries = Gauge("workqueue_retries_total", "Rate-limited requeues.", ["name"], registry=self.registry)
        unfinished = Gauge("workqueue_unfinished_work", "Keys being reconciled now.", ["name"],
                           registry=self.registry)
        for c in controllers:
            # Read at scrape time: the queue is the source of truth, no double bookkeeping.
            depth.labels(name=c.name).set_function(lambda c=c: c.queue.depth)
            adds.labels(name=c.name).set_function(lambda c=c: c.queue.adds)
            retries.labels(name=c.name).set_function(lambda c=c: c.queue.retries)
            unfinished.labels(name=c.name).set_function(lambda c=c: c.queue.in_flight)
        self.duration = Histogram("workqueue_work_duration_seconds", "How long one sync takes.", ["name"],
                                  buckets=_BUCKETS, registry=self.registry)
        self.reconciles = Counter("controller_reconciles", "Syncs by result.", ["name", "result"],
                                  registry=self.registry)
        for c in controllers:
            register = getattr(c, "register_metrics", None)
            if register is not None:  # a controller's own metrics (nodelifecycle: zone states)
                register(self.registry)
        Gauge("leader_election_master_status", "1 while this process leads.", ["name"],
              registry=self.registry).labels(name="kube-controller-manager").set_function(lambda: int(is_leader()))

    def observe(self, controller: str, key: str, seconds: float, error: BaseException | None) -> None:
        """A `SyncObserver`: called by the framework after every sync."""
        self.duration.labels(name=controller).observe(seconds)
        self.reconciles.labels(name=controller, result="error" if error else "success").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
