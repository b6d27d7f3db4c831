"""The HPA controller's reading of metrics.k8s.io PodMetrics (controllers/horizontal.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from orchestrator.controllers.horizontal import pod_metrics_from


def item(name: str, **containers: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "timestamp": "2026-12-06T12:00:00Z", "window": "15s",
            "containers": [{"name": c, "usage": usage} for c, usage in containers.items()]}


def test_a_pods_usage_is_the_sum_of_its_containers_in_milli_units() -> None:
    found = pod_metrics_from([item("a", app={"cpu": "250m", "memory": "64Mi"}, side={"cpu": "50m", "memory": "1Mi"})],
                             "cpu")
    assert found["a"].value == 300
    assert found["a"].window == 15.0
    assert found["a"].timestamp == dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def test_a_pod_with_a_container_lacking_the_resource_or_no_containers_has_no_metric() -> None:
    found = pod_metrics_from([item("a", app={"cpu": "1"}, side={}), item("b")], "cpu")
    assert found == {}


def test_a_container_metric_reads_that_container_only() -> None:
    found = pod_metrics_from([item("a", app={"cpu": "250m"}, side={"cpu": "50m"})], "cpu", container="side")
    assert found["a"].value == 50


def test_pods_selected_by_two_hpas_targets_are_ambiguous() -> None:
    from orchestrator.api.selectors import LabelSelector
    from orchestrator.controllers.horizontal import controlling_hpas

    pods = [{"metadata": {"name": "web-1", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}}}]
    selectors = {"ns/web": ("ns", LabelSelector.parse("app=web")), "ns/fe": ("ns", LabelSelector.parse("tier=fe")),
                 "other/web": ("other", LabelSelector.parse("app=web")), "ns/db": ("ns", LabelSelector.parse("app=db"))}
    assert controlling_hpas(pods, selectors) == ["ns/fe", "ns/web"]
    del selectors["ns/fe"]
    assert controlling_hpas(pods, selectors) == ["ns/web"]
