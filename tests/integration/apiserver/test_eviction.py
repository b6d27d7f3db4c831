"""`kubectl drain` and the pods/eviction subresource it uses, with the real kubectl.

The node here is an object only (no node agent runs it), so the evicted pods are asked to go with
grace period 0 and leave at once; a graceful eviction leaves a pod Terminating, as on a real
cluster until its kubelet stops it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.support.lab import Lab
from tests.support.skips import require_kubectl

pytestmark = pytest.mark.kubectl


def _pod(name: str, node: str, *, owned: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "drain"}}
    if owned:  # as if a ReplicaSet made it: drain evicts it without --force
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs",
                                    "uid": str(uuid.uuid4()), "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36"}]}}


async def _node(api: httpx.AsyncClient) -> str:
    name = f"drain-{uuid.uuid4().hex[:6]}"
    r = await api.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


async def test_eviction_deletes_the_pod_and_names_bad_input(api: httpx.AsyncClient, namespace: str) -> None:
    node = await _node(api)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=_pod("evictee", node, owned=True))
    assert r.status_code == 201, r.text
    base = f"/api/v1/namespaces/{namespace}/pods/evictee/eviction"

    r = await api.post(base, json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}})
    assert r.status_code == 400 and "does not match" in r.json()["message"]
    r = await api.post(base, json=["not", "an", "eviction"])
    assert r.status_code == 400 and "Eviction" in r.json()["message"]

    # graceful: the bound pod stays, Terminating, until its node finishes it
    r = await api.post(base, json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictee"}})
    assert r.status_code == 201, r.text
    pod = (await api.get(f"/api/v1/namespaces/{namespace}/pods/evictee")).json()
    assert pod["metadata"]["deletionTimestamp"] and pod["metadata"]["deletionGracePeriodSeconds"] == 30
    # with grace period 0 it goes at once
    r = await api.post(base, json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictee"},
                                   "deleteOptions": {"gracePeriodSeconds": 0}})
    assert r.status_code == 201, r.text
    assert (await api.get(f"/api/v1/namespaces/{namespace}/pods/evictee")).status_code == 404
    r = await api.post(base, json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictee"}})
    assert r.status_code == 404


def test_discovery_lists_pods_eviction_in_policy_v1(lab: Lab) -> None:
    require_kubectl()
    resources = json.loads(lab.kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    eviction = next(r for r in resources if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"], eviction["verbs"]) == \
        ("policy", "v1", "Eviction", ["create"])


async def test_kubectl_drain_cordons_and_evicts_and_force_deletes_unmanaged_pods(
        lab: Lab, api: httpx.AsyncClient, namespace: str) -> None:
    require_kubectl()
    node = await _node(api)
    for name, owned in (("managed", True), ("bare", False)):
        r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=_pod(name, node, owned=owned))
        assert r.status_code == 201, r.text

    refused = lab.kubectl("drain", node, "--grace-period=0", "--timeout=30s", check=False)
    assert refused.returncode != 0
    assert "cannot delete Pods that declare no controller" in refused.stderr and "bare" in refused.stderr

    done = lab.kubectl("drain", node, "--force", "--grace-period=0", "--timeout=60s", timeout=90)
    assert f"node/{node} drained" in done.stdout, done.stdout + done.stderr
    assert f"evicting pod {namespace}/managed" in done.stderr + done.stdout
    pods = (await api.get(f"/api/v1/namespaces/{namespace}/pods")).json()["items"]
    assert pods == []
    spec = (await api.get(f"/api/v1/nodes/{node}")).json()["spec"]
    assert spec.get("unschedulable") is True
    lab.kubectl("uncordon", node)
    assert not (await api.get(f"/api/v1/nodes/{node}")).json()["spec"].get("unschedulable")


async def test_kubectl_delete_with_a_protobuf_delete_options_body(lab: Lab, api: httpx.AsyncClient,
                                                                   namespace: str) -> None:
    """`kubectl drain --disable-eviction --force` deletes with a protobuf DeleteOptions body (it used to
    get 400 "the DeleteOptions body is not valid JSON")."""
    require_kubectl()
    node = await _node(api)
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=_pod("bare", node, owned=False))
    assert r.status_code == 201, r.text
    done = lab.kubectl("drain", node, "--force", "--disable-eviction", "--grace-period=0", "--timeout=60s",
                       timeout=90)
    assert f"node/{node} drained" in done.stdout, done.stdout + done.stderr
    assert (await api.get(f"/api/v1/namespaces/{namespace}/pods/bare")).status_code == 404
