"""A node identity is confined to its own objects, also when it tries the side doors the
authorization matrix does not: field selectors that almost name it, a status write that carries
a spec change, a body that names another node, and a watch that would show other nodes' pods.

Kubernetes equivalent: plugin/pkg/admission/noderestriction, test/integration/auth/node_test.go
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from tests import factories
from tests.reliability.security.conftest import SecureServer

pytestmark = pytest.mark.timeout(120)

MERGE = {"Content-Type": "application/merge-patch+json"}


async def bound_pod(admin: httpx.AsyncClient, namespace: str, node: str) -> str:
    name = f"p-{uuid.uuid4().hex[:8]}"
    r = await admin.post(f"/api/v1/namespaces/{namespace}/pods", json=factories.pod(name, namespace=namespace))
    assert r.status_code == 201, r.text
    r = await admin.post(f"/api/v1/namespaces/{namespace}/pods/{name}/binding",
                         json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                               "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    assert r.status_code == 201, r.text
    return name


@pytest.mark.parametrize("selector", [
    "spec.nodeName=node-10",  # node-1 is a prefix of it
    "spec.nodeName!=node-2",
    "spec.nodeName!=node-1",
    "metadata.name=anything",
    "spec.nodeName=",
    "spec.nodeName=NODE-1",
])
async def test_a_node_may_not_list_pods_by_a_selector_that_is_not_exactly_its_node(
        secure_server: SecureServer, selector: str) -> None:
    async with secure_server.client("node-1") as node1:
        r = await node1.get("/api/v1/pods", params={"fieldSelector": selector})
    assert r.status_code in (400, 403), r.text
    assert r.json()["kind"] == "Status"


async def test_a_node_listing_its_pods_sees_no_other_nodes_pods(secure_server: SecureServer,
                                                                 admin: httpx.AsyncClient, namespace: str) -> None:
    mine = await bound_pod(admin, namespace, "node-1")
    await bound_pod(admin, namespace, "node-2")
    await bound_pod(admin, namespace, "node-10")
    async with secure_server.client("node-1") as node1:
        for selector in ("spec.nodeName=node-1", "spec.nodeName==node-1"):
            r = await node1.get(f"/api/v1/namespaces/{namespace}/pods", params={"fieldSelector": selector})
            assert r.status_code == 200, r.text
            assert [p["metadata"]["name"] for p in r.json()["items"]] == [mine]
        # Names node-1 exactly, so it is allowed; the other term can only narrow what it sees.
        r = await node1.get(f"/api/v1/namespaces/{namespace}/pods",
                            params={"fieldSelector": "spec.nodeName=node-2,spec.nodeName=node-1"})
        assert r.status_code in (200, 403), r.text
        if r.status_code == 200:
            assert r.json()["items"] == []


async def test_a_nodes_watch_shows_only_its_own_pods(secure_server: SecureServer, admin: httpx.AsyncClient,
                                                     namespace: str) -> None:
    rv = (await admin.get(f"/api/v1/namespaces/{namespace}/pods")).json()["metadata"]["resourceVersion"]
    seen: list[dict[str, Any]] = []
    async with secure_server.client("node-1", timeout=httpx.Timeout(30, read=None)) as node1:
        async with node1.stream("GET", "/api/v1/pods", params={"watch": "true", "resourceVersion": rv,
                                                               "fieldSelector": "spec.nodeName=node-1"}) as stream:
            assert stream.status_code == 200
            await bound_pod(admin, namespace, "node-2")
            await bound_pod(admin, namespace, "node-10")
            mine = await bound_pod(admin, namespace, "node-1")

            async def read_until_mine() -> None:
                async for line in stream.aiter_lines():
                    if line:
                        seen.append(json.loads(line))
                        if seen[-1]["object"]["metadata"]["name"] == mine:
                            return

            await asyncio.wait_for(read_until_mine(), 30)
    assert {e["object"]["spec"].get("nodeName") for e in seen} == {"node-1"}, seen


async def test_a_status_write_cannot_move_a_pod_to_another_node(secure_server: SecureServer,
                                                               admin: httpx.AsyncClient, namespace: str) -> None:
    name = await bound_pod(admin, namespace, "node-1")
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"
    async with secure_server.client("node-1") as node1:
        r = await node1.patch(f"{path}/status", headers=MERGE,
                              content=json.dumps({"spec": {"nodeName": "node-2", "containers": [
                                  {"name": "main", "image": "evil"}]}, "status": {"phase": "Running"}}))
        assert r.status_code in (200, 422), r.text
        current = (await admin.get(path)).json()
        r = await node1.put(f"{path}/status", json={**current, "spec": {**current["spec"], "nodeName": "node-2"}})
        assert r.status_code in (200, 422), r.text
    after = (await admin.get(path)).json()
    assert after["spec"]["nodeName"] == "node-1"
    assert after["spec"]["containers"][0]["image"] == "busybox"
    async with secure_server.client("node-2") as node2:
        assert (await node2.get(path)).status_code == 403


async def test_a_node_cannot_write_another_node_through_a_body_that_names_it(secure_server: SecureServer,
                                                                            admin: httpx.AsyncClient) -> None:
    for name in ("node-1", "node-2"):
        await admin.delete(f"/api/v1/nodes/{name}")
        assert (await admin.post("/api/v1/nodes", json=factories.node(name))).status_code == 201
    before = (await admin.get("/api/v1/nodes/node-2")).json()
    async with secure_server.client("node-1") as node1:
        # Its own URL, another node's name in the body.
        r = await node1.put("/api/v1/nodes/node-1", json={**before, "spec": {"unschedulable": True}})
        assert r.status_code in (400, 403), r.text
        # Its own Lease URL, another node's Lease in the body.
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "node-2", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "node-1"}}
        r = await node1.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", json=lease)
        assert r.status_code == 403, r.text
        # A pod created "for" it is still a pod it may not create.
        r = await node1.post("/api/v1/namespaces/default/pods",
                             json=factories.pod(f"mirror-{uuid.uuid4().hex[:6]}", node="node-1"))
        assert r.status_code == 403, r.text
    after = (await admin.get("/api/v1/nodes/node-2")).json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
