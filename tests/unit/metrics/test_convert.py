"""A node agent's Summary → NodeMetrics and PodMetrics, with metrics-server's rules."""

from __future__ import annotations

from typing import Any

from orchestrator.metrics.convert import (
    SOURCE_ANNOTATION,
    cpu_quantity,
    from_summary,
    go_duration,
    memory_quantity,
    node_metrics,
    pod_metrics,
)

T = "2026-12-06T17:00:00Z"


def usage(nano_cores: int | None, working_set: int, window: float = 15.0) -> dict[str, Any]:
    cpu: dict[str, Any] = {"time": T, "usageCoreNanoSeconds": 123}
    if nano_cores is not None:
        cpu["usageNanoCores"] = nano_cores
        cpu["windowSeconds"] = window
    return {"cpu": cpu, "memory": {"time": T, "workingSetBytes": working_set, "usageBytes": working_set + 1}}


def summary() -> dict[str, Any]:
    return {
        "node": {"nodeName": "node-1", "labkit": {"source": "simulated"}, **usage(1_250_000_000, 3 * 2**30)},
        "pods": [
            {"podRef": {"name": "web", "namespace": "default", "uid": "u1"},
             "containers": [{"name": "app", **usage(250_000_000, 64 * 2**20)},
                            {"name": "sidecar", **usage(5_000_000, 8 * 2**20, window=14.5)}]},
            # One container measured once only: the whole pod waits for the next scrape.
            {"podRef": {"name": "new", "namespace": "default", "uid": "u2"},
             "containers": [{"name": "app", **usage(None, 1024)}, {"name": "b", **usage(1, 1024)}]},
        ],
    }


def test_a_summary_gives_its_node_and_every_fully_measured_pod() -> None:
    node, pods = from_summary(summary())
    assert node is not None and node.name == "node-1" and node.usage.cpu_nano_cores == 1_250_000_000
    assert [p.name for p in pods] == ["web"]
    assert [(n, u.cpu_nano_cores, u.memory_bytes) for n, u in pods[0].containers] == [
        ("app", 250_000_000, 64 * 2**20), ("sidecar", 5_000_000, 8 * 2**20)]


def test_a_node_without_a_rate_yet_is_left_out() -> None:
    raw = summary()
    del raw["node"]["cpu"]["usageNanoCores"]
    node, _ = from_summary(raw)
    assert node is None


def test_pod_metrics_have_metrics_server_shape_labels_and_the_source() -> None:
    _, pods = from_summary(summary())
    obj = pod_metrics(pods[0], labels={"app": "web"}, now=T)
    assert obj == {
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": T, "labels": {"app": "web"},
                     "annotations": {SOURCE_ANNOTATION: "simulated"}},
        "timestamp": T, "window": "15s",
        "containers": [{"name": "app", "usage": {"cpu": "250000000n", "memory": "64Mi"}},
                       {"name": "sidecar", "usage": {"cpu": "5000000n", "memory": "8Mi"}}],
    }
    node, _ = from_summary(summary())
    assert node is not None
    got = node_metrics(node, labels={}, now=T)
    assert got["usage"] == {"cpu": "1250000000n", "memory": "3Gi"} and "labels" not in got["metadata"]


def test_quantities_and_windows_print_as_kubernetes_does() -> None:
    assert cpu_quantity(0) == "0" and cpu_quantity(1) == "1n"
    assert memory_quantity(1000) == "1000" and memory_quantity(4096) == "4Ki" and memory_quantity(0) == "0"
    assert go_duration(15) == "15s" and go_duration(1.02) == "1.02s" and go_duration(60) == "1m0s"
    assert go_duration(90.5) == "1m30.5s" and go_duration(0) == "0s"
