"""The node agent's Prometheus metrics, one registry per process (a fleet shares it).

Names follow kubelet's where one exists (``kubelet_pod_start_sli_duration_seconds``,
``kubelet_pleg_relist_duration_seconds``, ``kubelet_running_pods``); the rest are
``labkit_nodeagent_*``. Served at ``/metrics`` by the log server and on ``--metrics-port``.

Kubernetes equivalent: pkg/kubelet/metrics/metrics.go
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.nodes = Gauge("labkit_nodeagent_nodes", "Nodes this process runs (1, or the fleet size).", registry=r)
        self.pod_workers = Gauge("kubelet_running_pods", "Pods with a worker on this process's nodes.", registry=r)
        self.pod_start = Histogram(
            "kubelet_pod_start_sli_duration_seconds",
            "Seconds from pod creation to its first container started.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.relist = Histogram(
            "kubelet_pleg_relist_duration_seconds",
            "Seconds one relist of the runtime's containers took (all nodes of the process).",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=r,
        )
        self.lease_renewals = Counter("labkit_nodeagent_lease_renewals_total", "Lease renewals that succeeded.", registry=r)
        self.lease_errors = Counter("labkit_nodeagent_lease_renewal_errors_total", "Lease renewals that failed.", registry=r)
        self.status_updates = Counter(
            "labkit_nodeagent_pod_status_updates_total", "Pod status PATCHes sent.", registry=r
        )
        self.orphans_removed = Counter(
            "labkit_nodeagent_orphan_containers_removed_total",
            "Containers removed because their pod no longer exists.",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
