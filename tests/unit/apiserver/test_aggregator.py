"""APIService validation (each problem a cause naming its field) and aggregated groups in discovery."""

from __future__ import annotations

from typing import Any

from orchestrator.apiserver import discovery
from orchestrator.apiserver.aggregator import Aggregator, merge_aggregated, merge_group_list
from orchestrator.apiserver.registry import STRATEGIES

STRATEGY = STRATEGIES["apiservices.apiregistration.k8s.io"]
METRICS_RESOURCES = {"kind": "APIResourceList", "groupVersion": "metrics.k8s.io/v1beta1", "resources": [
    {"name": "nodes", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]}]}


def apiservice(name: str = "v1beta1.metrics.k8s.io", **spec: Any) -> dict[str, Any]:
    base = {"group": "metrics.k8s.io", "version": "v1beta1", "url": "http://127.0.0.1:4443",
            "groupPriorityMinimum": 100, "versionPriority": 100}
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name},
            "spec": {k: v for k, v in {**base, **spec}.items() if v is not None}}


def fields(obj: dict[str, Any]) -> set[str]:
    return {c.field for c in STRATEGY.validate(obj)}


def test_metrics_server_s_apiservice_is_valid_with_a_url_or_a_service() -> None:
    assert fields(apiservice()) == set()
    assert fields(apiservice(url=None, service={"namespace": "kube-system", "name": "metrics-server"})) == set()
    local = apiservice("v1.apps", group="apps", version="v1", url=None, groupPriorityMinimum=None,
                       versionPriority=None)
    assert fields(local) == set()  # no service, no url: served locally


def test_each_mistake_names_its_field() -> None:
    assert fields(apiservice("v1.metrics.k8s.io")) == {"metadata.name"}
    assert fields(apiservice(groupPriorityMinimum=None, versionPriority=0)) == {"spec.groupPriorityMinimum",
                                                                                 "spec.versionPriority"}
    assert fields(apiservice(url="ftp://x")) == {"spec.url"}
    assert fields(apiservice(service={"namespace": "kube-system", "name": "m", "port": 70000})) == {
        "spec.url", "spec.service.port"}  # both given, and a port out of range
    assert fields(apiservice(caBundle="Zm9v", insecureSkipTLSVerify=True)) == {"spec.insecureSkipTLSVerify"}
    assert fields(apiservice("v1beta1.Bad_Group", group="Bad_Group")) == {"spec.group", "metadata.name"}


def available(aggregator: Aggregator) -> Aggregator:
    aggregator._apply("ADDED", apiservice())
    backend = aggregator._backends[("metrics.k8s.io", "v1beta1")]
    backend.available, backend.resources = True, METRICS_RESOURCES
    return aggregator


def test_an_available_group_is_listed_in_both_discovery_documents() -> None:
    aggregator = available(Aggregator(store=None, watch_cache=None, proxy_token="t"))
    assert aggregator.serves("metrics.k8s.io", "v1beta1") and not aggregator.serves("metrics.k8s.io", "v1")
    groups = merge_group_list(discovery.api_group_list(), aggregator)["groups"]
    metrics = next(g for g in groups if g["name"] == "metrics.k8s.io")
    assert metrics["preferredVersion"] == {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    items = merge_aggregated(discovery.aggregated_discovery("apis", "v2"), aggregator)["items"]
    entry = next(i for i in items if i["metadata"]["name"] == "metrics.k8s.io")
    pods = next(r for r in entry["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "metrics.k8s.io", "version": "v1beta1", "kind": "PodMetrics"}
    assert pods["scope"] == "Namespaced" and pods["verbs"] == ["get", "list"]


def test_an_unavailable_or_deleted_group_is_not_listed() -> None:
    aggregator = Aggregator(store=None, watch_cache=None, proxy_token="t")
    aggregator._apply("ADDED", apiservice())
    assert aggregator.serves("metrics.k8s.io", "v1beta1")  # proxied (503 until available)
    assert "metrics.k8s.io" not in {g["name"] for g in merge_group_list(discovery.api_group_list(), aggregator)["groups"]}
    available(aggregator)._apply("DELETED", apiservice())
    assert not aggregator.serves("metrics.k8s.io", "v1beta1")
