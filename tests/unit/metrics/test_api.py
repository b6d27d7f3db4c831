"""The metrics API the aggregator reaches: front-proxy token, get and list, selectors, 404 and 405 as Status."""

from __future__ import annotations

import httpx
import pytest

from orchestrator.metrics.api import create_app
from orchestrator.metrics.convert import from_summary
from orchestrator.metrics.storage import MetricsStorage
from tests.unit.metrics.test_convert import summary, usage

PODS = {("default", "web"): {"app": "web", "tier": "front"}, ("kube-system", "dns"): {"app": "dns"}}
NODES = {"node-1": {"zone": "a"}}
PREFIX = "/apis/metrics.k8s.io/v1beta1"


def storage() -> MetricsStorage:
    raw = summary()
    raw["pods"].append({"podRef": {"name": "dns", "namespace": "kube-system", "uid": "u3"},
                        "containers": [{"name": "dns", **usage(2_000_000, 4096)}]})
    store = MetricsStorage()
    node, pods = from_summary(raw)
    store.store("node-1", node, pods)
    return store


@pytest.fixture
def transport() -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(
        storage=storage(), node_labels=lambda ns, name: NODES.get(name),
        pod_labels=lambda ns, name: PODS.get((str(ns), name)), proxy_tokens=["front"], ready=lambda: True))


@pytest.fixture
def client(transport: httpx.ASGITransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://metrics",
                             headers={"Authorization": "Bearer front", "X-Remote-User": "viewer"})


async def test_only_the_api_server_s_front_proxy_token_is_accepted(client: httpx.AsyncClient,
                                                                   transport: httpx.ASGITransport) -> None:
    anonymous = httpx.AsyncClient(transport=transport, base_url="http://metrics")
    r = await anonymous.get(f"{PREFIX}/nodes", headers={"X-Remote-User": "admin", "X-Remote-Group": "system:masters"})
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
    r = await client.get(f"{PREFIX}/nodes", headers={"Authorization": "Bearer someone-else"})
    assert r.status_code == 401
    assert (await anonymous.get("/healthz")).status_code == 200


async def test_discovery_lists_nodes_and_pods_with_get_and_list(client: httpx.AsyncClient) -> None:
    body = (await client.get(PREFIX)).json()
    assert body["kind"] == "APIResourceList"
    assert {(r["name"], r["kind"], r["namespaced"]) for r in body["resources"]} == {
        ("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True)}


async def test_lists_by_namespace_and_label_selector(client: httpx.AsyncClient) -> None:
    every = (await client.get(f"{PREFIX}/pods")).json()
    assert every["kind"] == "PodMetricsList" and [i["metadata"]["name"] for i in every["items"]] == ["web", "dns"]
    default = (await client.get(f"{PREFIX}/namespaces/default/pods")).json()
    assert [i["metadata"]["name"] for i in default["items"]] == ["web"]
    selected = (await client.get(f"{PREFIX}/pods", params={"labelSelector": "app=dns"})).json()
    assert [i["metadata"]["namespace"] for i in selected["items"]] == ["kube-system"]
    nodes = (await client.get(f"{PREFIX}/nodes", params={"labelSelector": "zone=b"})).json()
    assert nodes == {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": []}
    fields = (await client.get(f"{PREFIX}/pods", params={"fieldSelector": "metadata.namespace=kube-system"})).json()
    assert [i["metadata"]["name"] for i in fields["items"]] == ["dns"]


async def test_get_one_and_not_found_as_a_status(client: httpx.AsyncClient) -> None:
    web = (await client.get(f"{PREFIX}/namespaces/default/pods/web")).json()
    assert web["kind"] == "PodMetrics" and web["containers"][0]["usage"]["cpu"] == "250000000n"
    node = (await client.get(f"{PREFIX}/nodes/node-1")).json()
    assert node["kind"] == "NodeMetrics" and node["metadata"]["labels"] == {"zone": "a"}
    missing = await client.get(f"{PREFIX}/namespaces/default/pods/nope")
    assert missing.status_code == 404
    assert missing.json()["message"] == 'podmetrics.metrics.k8s.io "nope" not found'


async def test_pods_gone_from_the_informer_are_not_shown(client: httpx.AsyncClient) -> None:
    PODS.pop(("kube-system", "dns"))
    try:
        names = [i["metadata"]["name"] for i in (await client.get(f"{PREFIX}/pods")).json()["items"]]
        assert names == ["web"]
    finally:
        PODS[("kube-system", "dns")] = {"app": "dns"}


async def test_writes_and_watches_are_405(client: httpx.AsyncClient) -> None:
    assert (await client.delete(f"{PREFIX}/namespaces/default/pods/web")).status_code == 405
    assert (await client.get(f"{PREFIX}/pods", params={"watch": "true"})).status_code == 405
    bad = await client.get(f"{PREFIX}/pods", params={"labelSelector": "a in ("})
    assert bad.status_code == 400 and bad.json()["kind"] == "Status"


def test_the_front_proxy_token_is_required_at_construction() -> None:
    with pytest.raises(ValueError, match="front-proxy"):
        create_app(storage=MetricsStorage(), node_labels=lambda ns, n: None, pod_labels=lambda ns, n: None,
                   proxy_tokens=[], ready=lambda: True)
