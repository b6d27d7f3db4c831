"""Cascading deletion, namespace deletion, node failure, and the controller manager's own failures."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.api.errors import NotFound
from orchestrator.client.rest import ApiClient
from orchestrator.proto import controllers_pb2
from tests.factories import crontab_crd
from tests.integration.controllers.conftest import ControllerManagerProcess, SimKubelet, deployment_body
from tests.support.lab import Lab
from tests.support.polling import eventually


async def _active_pods(admin: ApiClient, namespace: str) -> list[dict[str, Any]]:
    return [p for p in (await admin.list("pods", namespace=namespace))["items"]
            if not p["metadata"].get("deletionTimestamp")]


async def _all_pods(admin: ApiClient, namespace: str) -> list[dict[str, Any]]:
    return (await admin.list("pods", namespace=namespace))["items"]


async def _rolled_out(admin: ApiClient, namespace: str, name: str, replicas: int) -> bool:
    d = await admin.get("deployments.apps", name, namespace=namespace)
    s = d.get("status") or {}
    return (s.get("observedGeneration", 0) >= d["metadata"]["generation"] and s.get("availableReplicas") == replicas
            and s.get("updatedReplicas") == replicas and s.get("replicas") == replicas)


async def _gone(admin: ApiClient, resource: str, name: str, namespace: str | None) -> bool:
    try:
        await admin.get(resource, name, namespace=namespace)
    except NotFound:
        return True
    return False


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
async def test_deleting_a_deployment_removes_its_replicasets_and_pods(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet, policy: str) -> None:
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=3))
    await eventually(lambda: _rolled_out(admin, namespace, "web", 3), message="rolled out")
    await admin.delete("deployments.apps", "web", namespace=namespace, propagation_policy=policy)  # type: ignore[arg-type]
    if policy == "Foreground":
        # The owner stays, with its finalizer, until its dependents are gone.
        d = await admin.get("deployments.apps", "web", namespace=namespace)
        assert "foregroundDeletion" in d["metadata"]["finalizers"]
    await eventually(lambda: _gone(admin, "deployments.apps", "web", namespace), message="deployment gone")

    async def empty() -> bool:
        return not (await admin.list("replicasets.apps", namespace=namespace))["items"] and \
            not await _all_pods(admin, namespace)

    await eventually(empty, message="replicasets and pods gone")


async def test_orphan_deletion_keeps_replicaset_and_pods_without_owner_references(
        lab: Lab, admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=2))
    await eventually(lambda: _rolled_out(admin, namespace, "web", 2), message="rolled out")
    await asyncio.to_thread(lab.kubectl, "delete", "deployment/web", "-n", namespace, "--cascade=orphan")
    await eventually(lambda: _gone(admin, "deployments.apps", "web", namespace), message="deployment gone")

    async def orphaned() -> bool:
        rss = (await admin.list("replicasets.apps", namespace=namespace))["items"]
        return len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")

    await eventually(orphaned, message="replicaset orphaned")
    await asyncio.sleep(1.0)
    pods = await _active_pods(admin, namespace)
    assert len(pods) == 2  # the ReplicaSet still owns and keeps its pods
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)


async def test_deleting_a_namespace_empties_it_then_removes_it(
        lab: Lab, admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=2))
    await eventually(lambda: _rolled_out(admin, namespace, "web", 2), message="rolled out")
    await admin.delete("namespaces", namespace)
    ns = await admin.get("namespaces", namespace)
    assert ns["status"]["phase"] == "Terminating"
    await eventually(lambda: _gone(admin, "namespaces", namespace, None), timeout=60, message="namespace gone")


async def test_deleting_a_namespace_deletes_its_custom_objects_too(
        lab: Lab, admin: ApiClient, namespace: str, manager: ControllerManagerProcess) -> None:
    group = f"ns{uuid.uuid4().hex[:8]}.example.com"
    await admin.request_json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crontab_crd(group=group))

    async def served() -> bool:
        try:
            await admin.request_json("GET", f"/apis/{group}/v1")
        except NotFound:
            return False
        return True

    await eventually(served, message="CRD served")
    cron = {"apiVersion": f"{group}/v1", "kind": "CronTab", "metadata": {"name": "c", "namespace": namespace},
            "spec": {"cronSpec": "* * * * *", "image": "x"}}
    await admin.request_json("POST", f"/apis/{group}/v1/namespaces/{namespace}/crontabs", body=cron)
    await admin.delete("namespaces", namespace)
    await eventually(lambda: _gone(admin, "namespaces", namespace, None), timeout=60, message="namespace gone")
    # created again, the namespace holds no CronTab from before
    await admin.request_json("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    listed = await admin.request_json("GET", f"/apis/{group}/v1/namespaces/{namespace}/crontabs")
    assert listed["items"] == [], json.dumps(listed)
    await admin.request_json("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.{group}")


async def test_node_that_stops_heartbeating_is_marked_unknown_tainted_and_its_pods_evicted(
        admin: ApiClient, namespace: str, manager_factory: Callable[..., ControllerManagerProcess],
        kubelet: SimKubelet) -> None:
    manager_factory("--node-monitor-grace-period", "3", "--node-monitor-period", "0.5",
                    "--pod-eviction-timeout", "2")
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=3))
    await eventually(lambda: _rolled_out(admin, namespace, "web", 3), message="rolled out")
    victim = kubelet.nodes[0]
    on_victim = {p["metadata"]["name"] for p in await _active_pods(admin, namespace)
                 if p["spec"].get("nodeName") == victim}
    assert on_victim
    kubelet.silent.add(victim)

    async def unknown_and_tainted() -> bool:
        node = await admin.get("nodes", victim)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return ready["status"] == "Unknown" and ("node.kubernetes.io/unreachable", "NoExecute") in taints

    await eventually(unknown_and_tainted, timeout=20, message="Ready=Unknown and the unreachable taint")

    async def evicted_and_replaced() -> bool:
        pods = await _all_pods(admin, namespace)
        evicted = all(p["metadata"].get("deletionTimestamp") for p in pods if p["metadata"]["name"] in on_victim)
        healthy = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                   and p["spec"].get("nodeName") not in (None, victim)]
        return evicted and len(healthy) == 3

    await eventually(evicted_and_replaced, timeout=30, message="pods evicted and recreated elsewhere")
    kubelet.silent.discard(victim)

    async def untainted() -> bool:
        node = await admin.get("nodes", victim)
        return not any(t["key"].startswith("node.kubernetes.io/") for t in node["spec"].get("taints") or [])

    await eventually(untainted, timeout=20, message="taints removed when the node is back")


async def test_killed_mid_rollout_and_restarted_the_rollout_completes_without_duplicates(
        admin: ApiClient, namespace: str, manager_factory: Callable[..., ControllerManagerProcess],
        kubelet: SimKubelet) -> None:
    first = manager_factory()
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=6))
    await eventually(lambda: _rolled_out(admin, namespace, "web", 6), message="rolled out")
    kubelet.ready_delay = 0.3
    await admin.patch("deployments.apps", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "busybox:2"}]}}}}, namespace=namespace, patch_type="strategic")
    await eventually(lambda: _any_image(admin, namespace, "busybox:2"), message="rollout started")
    first.kill(signal.SIGKILL)
    manager_factory()
    await eventually(lambda: _done_gen(admin, namespace), timeout=60, message="rollout finished after restart")
    pods = await _active_pods(admin, namespace)
    assert len(pods) == 6
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:2"}
    assert len((await admin.list("replicasets.apps", namespace=namespace))["items"]) == 2


async def test_two_replicas_with_leader_election_one_leads_and_no_duplicates(
        admin: ApiClient, namespace: str, manager_factory: Callable[..., ControllerManagerProcess],
        kubelet: SimKubelet) -> None:
    a = manager_factory(leader_elect=True)
    b = manager_factory(leader_elect=True)
    await eventually(lambda: a.status().leader or b.status().leader, message="a leader")
    assert not (a.status().leader and b.status().leader)
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=5))
    await eventually(lambda: _rolled_out(admin, namespace, "web", 5), message="rolled out")
    leader, standby = (a, b) if a.status().leader else (b, a)
    assert len(await _all_pods(admin, namespace)) == 5
    # The standby refuses to reconcile; the leader does it.
    channel, stub = standby.stub()
    with channel:
        with pytest.raises(Exception, match="standby"):
            stub.Reconcile(controllers_pb2.ReconcileRequest(controller="deployment", namespace=namespace, name="web"),
                           timeout=5)
    channel, stub = leader.stub()
    with channel:
        answer = stub.Reconcile(controllers_pb2.ReconcileRequest(controller="deployment", namespace=namespace,
                                                                 name="web"), timeout=10)
    assert answer.ok and answer.key == f"{namespace}/web"
    infos = leader.controllers()
    assert infos["deployment"].reconciles >= 1 and infos["replicaset"].reconciles >= 1

    leader.kill(signal.SIGKILL)
    await eventually(lambda: standby.status().leader, timeout=20, message="the standby takes over")
    await admin.patch("deployments.apps", "web", {"spec": {"replicas": 7}}, namespace=namespace)
    await eventually(lambda: _rolled_out(admin, namespace, "web", 7), message="scaled by the new leader")
    await asyncio.sleep(1.0)
    assert len(await _all_pods(admin, namespace)) == 7


async def _any_image(admin: ApiClient, namespace: str, image: str) -> bool:
    return any(p["spec"]["containers"][0]["image"] == image for p in await _all_pods(admin, namespace))


async def _done_gen(admin: ApiClient, namespace: str) -> bool:
    if not await _rolled_out(admin, namespace, "web", 6):
        return False
    images = {p["spec"]["containers"][0]["image"] for p in await _active_pods(admin, namespace)}
    return images == {"busybox:2"}
