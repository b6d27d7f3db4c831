"""The ReplicaSet controller against a real API server: scale, self-healing, adopt and release."""

from __future__ import annotations

from typing import Any

from orchestrator.client.rest import ApiClient
from tests import factories
from tests.integration.controllers.conftest import ControllerManagerProcess, SimKubelet, rs_body
from tests.support.polling import eventually


async def _pods(admin: ApiClient, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    listed = await admin.list("pods", namespace=namespace, label_selector=selector or None)
    return listed["items"]


def _active(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def test_replicaset_creates_pods_named_after_it_and_reports_ready_replicas(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("replicasets.apps", rs_body("web", namespace, replicas=3, labels={"app": "web"}))

    async def ready() -> bool:
        rs = await admin.get("replicasets.apps", "web", namespace=namespace)
        s = rs.get("status") or {}
        return s.get("readyReplicas") == 3 and s.get("availableReplicas") == 3 and s.get("observedGeneration") == 1

    await eventually(ready, message="3 ready replicas")
    pods = await _pods(admin, namespace, "app=web")
    assert len(pods) == 3
    rs = await admin.get("replicasets.apps", "web", namespace=namespace)
    for pod in pods:
        assert pod["metadata"]["name"].startswith("web-") and len(pod["metadata"]["name"]) == len("web-") + 5
        (ref,) = pod["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
                       "controller": True, "blockOwnerDeletion": True}
    events = (await admin.list("events", namespace=namespace))["items"]
    assert sum(1 for e in events if e["reason"] == "SuccessfulCreate") >= 1
    assert rs["status"]["fullyLabeledReplicas"] == 3


async def test_scale_up_then_down_converges_and_records_deletions(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("replicasets.apps", rs_body("web", namespace, replicas=2, labels={"app": "web"}))
    await eventually(lambda: _count_ready(admin, namespace, 2), message="2 ready")
    await admin.patch("replicasets.apps", "web", {"spec": {"replicas": 5}}, namespace=namespace)
    await eventually(lambda: _count_ready(admin, namespace, 5), message="5 ready")
    await admin.patch("replicasets.apps", "web", {"spec": {"replicas": 2}}, namespace=namespace)
    await eventually(lambda: _count_active(admin, namespace, 2), message="back to 2")
    # Which 3 go is the deletion ranking (unit-tested): here, pods doubled up on a node first.
    await eventually(lambda: _event_count(admin, namespace, "SuccessfulDelete", 3), message="3 deletion events")
    rs = await admin.get("replicasets.apps", "web", namespace=namespace)
    await eventually(lambda: _status(admin, namespace, "web", "replicas", 2), message="status.replicas 2")
    assert rs["metadata"]["generation"] == 3


async def test_a_deleted_pod_comes_back(admin: ApiClient, namespace: str, manager: ControllerManagerProcess,
                                        kubelet: SimKubelet) -> None:
    await admin.create("replicasets.apps", rs_body("web", namespace, replicas=3, labels={"app": "web"}))
    await eventually(lambda: _count_ready(admin, namespace, 3), message="3 ready")
    victim = (await _pods(admin, namespace, "app=web"))[0]["metadata"]["name"]
    await admin.delete("pods", victim, namespace=namespace, grace_period_seconds=0)

    async def replaced() -> bool:
        names = {p["metadata"]["name"] for p in _active(await _pods(admin, namespace, "app=web"))}
        return len(names) == 3 and victim not in names

    await eventually(replaced, message="a replacement pod")


async def test_matching_orphan_is_adopted_instead_of_creating_a_pod(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    orphan = factories.pod("stray", namespace=namespace, labels={"app": "web"})
    orphan["spec"]["schedulerName"] = "labkit-test-nobody"
    await admin.create("pods", orphan)
    await admin.create("replicasets.apps", rs_body("web", namespace, replicas=2, labels={"app": "web"}))
    await eventually(lambda: _count_ready(admin, namespace, 2), message="2 ready")
    pods = await _pods(admin, namespace, "app=web")
    assert len(pods) == 2
    stray = next(p for p in pods if p["metadata"]["name"] == "stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "web"
    assert stray["metadata"]["ownerReferences"][0]["controller"] is True


async def test_relabelled_pod_is_released_and_replaced(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("replicasets.apps", rs_body("web", namespace, replicas=2, labels={"app": "web"}))
    await eventually(lambda: _count_ready(admin, namespace, 2), message="2 ready")
    name = (await _pods(admin, namespace, "app=web"))[0]["metadata"]["name"]
    await admin.patch("pods", name, {"metadata": {"labels": {"app": "debug"}}}, namespace=namespace)

    async def released() -> bool:
        pod = await admin.get("pods", name, namespace=namespace)
        return not pod["metadata"].get("ownerReferences")

    await eventually(released, message="ownerReference removed")
    await eventually(lambda: _count_ready(admin, namespace, 2), message="a replacement")
    assert len(await _pods(admin, namespace, "app=web")) == 2


async def _count_ready(admin: ApiClient, namespace: str, n: int) -> bool:
    pods = _active(await _pods(admin, namespace, "app=web"))
    ready = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                    for c in (p.get("status") or {}).get("conditions") or [])]
    return len(pods) == n and len(ready) == n


async def _count_active(admin: ApiClient, namespace: str, n: int) -> bool:
    return len(_active(await _pods(admin, namespace, "app=web"))) == n


async def _status(admin: ApiClient, namespace: str, name: str, field: str, value: Any) -> bool:
    rs = await admin.get("replicasets.apps", name, namespace=namespace)
    return (rs.get("status") or {}).get(field) == value


async def _event_count(admin: ApiClient, namespace: str, reason: str, n: int) -> bool:
    events = (await admin.list("events", namespace=namespace))["items"]
    return sum(e.get("count", 1) for e in events if e["reason"] == reason) == n
