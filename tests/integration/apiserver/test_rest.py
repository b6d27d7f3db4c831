"""The API server over HTTPS with raw requests: the Kubernetes REST and watch semantics that
every component relies on."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.factories import node, pod
from tests.support.lab import Lab


def pods_path(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods"


async def create(api: httpx.AsyncClient, path: str, obj: dict) -> dict:
    parts = path.split("/")
    if "namespaces" in parts[:-1]:
        obj.setdefault("metadata", {})["namespace"] = parts[parts.index("namespaces") + 1]
    r = await api.post(path, json=obj)
    assert r.status_code == 201, r.text
    return r.json()


async def read_events(response: httpx.Response, count: int, timeout: float = 10) -> list[dict]:
    events: list[dict] = []

    async def run() -> None:
        async for line in response.aiter_lines():
            if line.strip():
                events.append(json.loads(line))
                if len(events) >= count:
                    return

    await asyncio.wait_for(run(), timeout)
    return events


async def test_system_namespaces_exist_from_the_start(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/namespaces")
    names = {n["metadata"]["name"] for n in r.json()["items"]}
    assert {"default", "kube-system", "kube-node-lease"} <= names


async def test_the_seeds_post_to_api_v1_pods_creates_in_the_bodys_namespace_or_default(
    api: httpx.AsyncClient, namespace: str
) -> None:
    in_ns = await create(api, "/api/v1/pods", pod("seed-a", namespace=namespace))
    assert in_ns["metadata"]["namespace"] == namespace
    body = pod("seed-b")
    del body["metadata"]["namespace"]
    in_default = await create(api, "/api/v1/pods", body)
    assert in_default["metadata"]["namespace"] == "default"
    await api.delete(pods_path("default") + "/seed-b")


async def test_create_defaults_the_pod_like_kubernetes(api: httpx.AsyncClient, namespace: str) -> None:
    created = await create(api, pods_path(namespace), pod("d"))
    spec = created["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["containers"][0]["imagePullPolicy"] == "Always"  # busybox has no tag: latest
    assert created["status"]["phase"] == "Pending"
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"].endswith("Z")


async def test_generate_name_gives_a_unique_name(api: httpx.AsyncClient, namespace: str) -> None:
    body = pod("x")
    body["metadata"] = {"generateName": "web-"}
    a = await create(api, pods_path(namespace), body)
    b = await create(api, pods_path(namespace), body)
    assert a["metadata"]["name"].startswith("web-") and a["metadata"]["name"] != b["metadata"]["name"]


async def test_creating_in_a_missing_namespace_is_not_found(api: httpx.AsyncClient) -> None:
    r = await api.post(pods_path("no-such-ns"), json=pod("x", namespace="no-such-ns"))
    assert r.status_code == 404
    assert r.json()["message"] == 'namespaces "no-such-ns" not found'


async def test_list_then_watch_from_its_resource_version_sees_later_changes_in_order(
    api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, pods_path(namespace), pod("before"))
    listed = (await api.get(pods_path(namespace))).json()
    rv = listed["metadata"]["resourceVersion"]
    async with api.stream("GET", pods_path(namespace), params={"watch": "true", "resourceVersion": rv}) as resp:
        assert resp.status_code == 200
        reader = asyncio.ensure_future(read_events(resp, 3))
        p = await create(api, pods_path(namespace), pod("after"))
        r = await api.patch(pods_path(namespace) + "/after", content=json.dumps({"metadata": {"labels": {"x": "1"}}}),
                            headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        d = await api.delete(pods_path(namespace) + "/before")
        assert d.status_code == 200
        events = await reader
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "before")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] == int(p["metadata"]["resourceVersion"])
    assert all(e["object"]["kind"] == "Pod" for e in events)


async def test_a_watch_without_resource_version_starts_with_the_current_objects(
    api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, pods_path(namespace), pod("a"))
    await create(api, pods_path(namespace), pod("b"))
    async with api.stream("GET", pods_path(namespace), params={"watch": "1", "timeoutSeconds": "5"}) as resp:
        events = await read_events(resp, 2)
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["a", "b"]
    assert {e["type"] for e in events} == {"ADDED"}


async def test_a_watch_ends_at_timeout_seconds(api: httpx.AsyncClient, namespace: str) -> None:
    listed = (await api.get(pods_path(namespace))).json()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with api.stream("GET", pods_path(namespace), params={
            "watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"], "timeoutSeconds": "1"}) as resp:
        body = await asyncio.wait_for(resp.aread(), 10)
    assert body == b""
    assert 0.9 <= loop.time() - started < 5


async def test_a_quiet_watch_sends_no_bookmarks_unless_asked(api: httpx.AsyncClient, namespace: str) -> None:
    listed = (await api.get(pods_path(namespace))).json()
    rv = listed["metadata"]["resourceVersion"]
    async with api.stream("GET", pods_path(namespace), params={"watch": "true", "resourceVersion": rv,
                                                               "timeoutSeconds": "2"}) as resp:
        assert await asyncio.wait_for(resp.aread(), 10) == b""


async def test_a_watch_from_a_compacted_revision_gets_an_error_event_with_410(
    lab: Lab, api: httpx.AsyncClient, namespace: str
) -> None:
    from orchestrator.storage.relay import compact_now

    for i in range(3):
        await create(api, pods_path(namespace), pod(f"p{i}"))
    database_url, redis_url = lab.database_url, lab.redis_url
    await asyncio.sleep(0.5)  # let the relay publish
    await compact_now(database_url=database_url, redis_url=redis_url, keep=1)
    async with api.stream("GET", pods_path(namespace), params={"watch": "true", "resourceVersion": "1"}) as resp:
        assert resp.status_code == 200
        events = await read_events(resp, 1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


async def test_kubectl_get_w_gets_one_row_tables_in_watch_events(api: httpx.AsyncClient, namespace: str) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    listed = await api.get(pods_path(namespace), headers={"Accept": accept})
    assert listed.json()["kind"] == "Table"
    rv = listed.json()["metadata"]["resourceVersion"]
    async with api.stream("GET", pods_path(namespace), params={"watch": "true", "resourceVersion": rv},
                          headers={"Accept": accept}) as resp:
        reader = asyncio.ensure_future(read_events(resp, 1))
        await create(api, pods_path(namespace), pod("t"))
        events = await reader
    table = events[0]["object"]
    assert table["kind"] == "Table" and len(table["rows"]) == 1
    assert table["rows"][0]["cells"][0] == "t"


async def test_put_with_a_stale_resource_version_is_a_409_conflict(api: httpx.AsyncClient, namespace: str) -> None:
    created = await create(api, pods_path(namespace), pod("c"))
    first = dict(created, metadata=dict(created["metadata"], labels={"v": "1"}))
    assert (await api.put(pods_path(namespace) + "/c", json=first)).status_code == 200
    stale = dict(created, metadata=dict(created["metadata"], labels={"v": "2"}))
    r = await api.put(pods_path(namespace) + "/c", json=stale)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"


async def test_binding_assigns_a_node_once_and_a_second_binding_is_a_conflict(
    api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, pods_path(namespace), pod("b"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    r = await api.post(pods_path(namespace) + "/b/binding", json=binding)
    assert r.status_code == 201, r.text
    bound = (await api.get(pods_path(namespace) + "/b")).json()
    assert bound["spec"]["nodeName"] == "node-1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
    again = await api.post(pods_path(namespace) + "/b/binding", json=dict(binding, target={"name": "node-2"}))
    assert again.status_code == 409 and "already assigned" in again.json()["message"]


async def test_the_seeds_patch_of_node_name_binds_an_unbound_pod(api: httpx.AsyncClient, namespace: str) -> None:
    await create(api, pods_path(namespace), pod("s"))
    r = await api.patch(pods_path(namespace) + "/s", content=json.dumps({"spec": {"nodeName": "node-2"}}),
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["nodeName"] == "node-2"
    again = await api.patch(pods_path(namespace) + "/s", content=json.dumps({"spec": {"nodeName": "node-1"}}),
                            headers={"Content-Type": "application/merge-patch+json"})
    assert again.status_code == 422  # a bound pod's spec is immutable


async def test_a_bound_pod_is_deleted_gracefully_until_its_node_confirms(api: httpx.AsyncClient, namespace: str) -> None:
    await create(api, pods_path(namespace), pod("g", node="node-1"))
    r = await api.delete(pods_path(namespace) + "/g")
    assert r.status_code == 200
    meta = r.json()["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    assert (await api.get(pods_path(namespace) + "/g")).status_code == 200  # still there: terminating
    # the node agent confirms with grace period 0
    gone = await api.request("DELETE", pods_path(namespace) + "/g", json={"gracePeriodSeconds": 0})
    assert gone.status_code == 200
    assert (await api.get(pods_path(namespace) + "/g")).status_code == 404


async def test_an_unbound_pod_is_deleted_at_once(api: httpx.AsyncClient, namespace: str) -> None:
    await create(api, pods_path(namespace), pod("u"))
    assert (await api.delete(pods_path(namespace) + "/u")).status_code == 200
    assert (await api.get(pods_path(namespace) + "/u")).status_code == 404


async def test_finalizers_hold_an_object_until_the_last_one_is_removed(api: httpx.AsyncClient, namespace: str) -> None:
    body = pod("f")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await create(api, pods_path(namespace), body)
    r = await api.delete(pods_path(namespace) + "/f")
    assert r.json()["metadata"]["deletionTimestamp"]
    held = (await api.get(pods_path(namespace) + "/f")).json()
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    r = await api.patch(pods_path(namespace) + "/f", content=json.dumps({"metadata": {"finalizers": None}}),
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert (await api.get(pods_path(namespace) + "/f")).status_code == 404


@pytest.mark.parametrize(("policy", "finalizer"), [("Orphan", "orphan"), ("Foreground", "foregroundDeletion")])
async def test_propagation_policy_is_recorded_as_a_finalizer_for_the_garbage_collector(
    api: httpx.AsyncClient, namespace: str, policy: str, finalizer: str
) -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                       "template": {"metadata": {"labels": {"app": "d"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    await create(api, path, deploy)
    r = await api.request("DELETE", path + "/d", json={"propagationPolicy": policy})
    assert r.status_code == 200
    assert finalizer in r.json()["metadata"]["finalizers"]


async def test_status_subresource_changes_only_status(api: httpx.AsyncClient, namespace: str) -> None:
    created = await create(api, pods_path(namespace), pod("st"))
    created["status"] = {"phase": "Running"}
    created["metadata"]["labels"] = {"ignored": "yes"}
    r = await api.put(pods_path(namespace) + "/st/status", json=created)
    assert r.status_code == 200, r.text
    now = (await api.get(pods_path(namespace) + "/st")).json()
    assert now["status"]["phase"] == "Running"
    assert "ignored" not in (now["metadata"].get("labels") or {})


async def test_scale_subresource_reads_and_writes_replicas(api: httpx.AsyncClient, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    await create(api, path, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "s"},
                             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "s"}},
                                      "template": {"metadata": {"labels": {"app": "s"}},
                                                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    scale = (await api.get(path + "/s/scale")).json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    r = await api.patch(path + "/s/scale", content=json.dumps({"spec": {"replicas": 4}}),
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 4
    assert (await api.get(path + "/s")).json()["spec"]["replicas"] == 4


async def test_pagination_with_limit_and_continue_returns_every_object_once(api: httpx.AsyncClient, namespace: str) -> None:
    for i in range(7):
        await create(api, pods_path(namespace), pod(f"p{i}"))
    names: list[str] = []
    token = None
    while True:
        params = {"limit": "3"} | ({"continue": token} if token else {})
        page = (await api.get(pods_path(namespace), params=params)).json()
        names += [p["metadata"]["name"] for p in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"p{i}" for i in range(7)]


async def test_nodes_are_cluster_scoped(api: httpx.AsyncClient) -> None:
    body = node("rest-node")
    body["spec"]["unschedulable"] = True  # the lab's scheduler must not bind other tests' pods to it
    created = await create(api, "/api/v1/nodes", body)
    assert "namespace" not in created["metadata"]
    assert (await api.get("/api/v1/nodes/rest-node")).status_code == 200
    await api.delete("/api/v1/nodes/rest-node")


async def test_health_endpoints_are_anonymous_and_everything_else_needs_a_token(lab: Lab) -> None:
    async with lab.client("") as anonymous:
        for path in ("/healthz", "/readyz", "/livez"):
            assert (await anonymous.get(path)).status_code == 200
        r = await anonymous.get("/api/v1/pods")
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


async def test_metrics_count_requests_by_verb_resource_and_code(api: httpx.AsyncClient) -> None:
    await api.get("/api/v1/namespaces/default/pods")
    text = (await api.get("/metrics")).text
    assert 'apiserver_request_total{code="200",group="",resource="pods",subresource="",verb="get"}' in text
    assert "apiserver_request_duration_seconds_bucket" in text
