"""ReplicationControllers (v1) against a real API server: the legacy manifest form keeps its replicas
(the ReplicaSet controller with an equality selector), scales through the scale subresource, and
takes its pods with it when deleted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import SCHEDULER_NAME, ControllerManagerProcess, SimKubelet
from tests.support.polling import eventually


def rc_body(name: str, replicas: int) -> dict[str, Any]:
    # As older manifests write it: no selector, the template's labels become it.
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "schedulerName": SCHEDULER_NAME, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "nginx", "image": "busybox:1.36"}]}}}}


async def test_replication_controller_keeps_scales_and_cascades(
        admin: ApiClient, api: httpx.AsyncClient, namespace: str,
        manager_factory: Callable[..., ControllerManagerProcess], kubelet: SimKubelet) -> None:
    manager_factory("--controllers", "replicationcontroller,garbagecollector")
    r = await api.post(f"/api/v1/namespaces/{namespace}/replicationcontrollers", json=rc_body("nginx", 3))
    assert r.status_code == 201, r.text
    rc = r.json()
    assert rc["spec"]["selector"] == {"app": "nginx"} and rc["metadata"]["labels"] == {"app": "nginx"}

    async def ready(count: int) -> bool:
        s = (await admin.get("replicationcontrollers", "nginx", namespace=namespace)).get("status") or {}
        return s.get("readyReplicas") == count and s.get("replicas") == count

    await eventually(lambda: ready(3), message="3 ready replicas")
    pods = (await admin.list("pods", namespace=namespace, label_selector="app=nginx"))["items"]
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == {"ReplicationController"}
    assert all(p["metadata"]["generateName"] == "nginx-" for p in pods)

    r = await api.patch(f"/api/v1/namespaces/{namespace}/replicationcontrollers/nginx/scale",
                        json={"spec": {"replicas": 1}}, headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["status"]["selector"] == "app=nginx"
    await eventually(lambda: ready(1), message="scaled to 1")

    table = await admin.table("replicationcontrollers", namespace=namespace)
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Desired", "Current", "Ready", "Age"]
    assert table["rows"][0]["cells"][-1] == "app=nginx"

    await admin.delete("replicationcontrollers", "nginx", namespace=namespace)

    async def pods_gone() -> bool:
        return not (await admin.list("pods", namespace=namespace, label_selector="app=nginx"))["items"]

    await eventually(pods_gone, message="the garbage collector deleted the pods")


async def test_a_selector_that_misses_the_template_is_a_422(api: httpx.AsyncClient, namespace: str) -> None:
    body = rc_body("bad", 1)
    body["spec"]["selector"] = {"app": "other"}
    r = await api.post(f"/api/v1/namespaces/{namespace}/replicationcontrollers", json=body)
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
