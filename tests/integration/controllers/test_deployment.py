"""The Deployment controller against a real API server, and the real kubectl reading its status."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import ControllerManagerProcess, SimKubelet, deployment_body
from tests.support.lab import Lab
from tests.support.polling import eventually


async def kubectl(lab: Lab, *args: str) -> Any:
    """kubectl in a thread: the simulated kubelet shares this event loop and must keep running."""
    return await asyncio.to_thread(lab.kubectl, *args)


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


async def _complete(admin: ApiClient, namespace: str, name: str) -> bool:
    d = await admin.get("deployments.apps", name, namespace=namespace)
    s, replicas = d.get("status") or {}, d["spec"]["replicas"]
    progressing = next((c for c in s.get("conditions") or [] if c["type"] == "Progressing"), {})
    return (s.get("observedGeneration", 0) >= d["metadata"]["generation"] and s.get("updatedReplicas") == replicas
            and s.get("replicas") == replicas and s.get("availableReplicas") == replicas
            and progressing.get("reason") == "NewReplicaSetAvailable")


async def _replica_sets(admin: ApiClient, namespace: str) -> list[dict[str, Any]]:
    return (await admin.list("replicasets.apps", namespace=namespace))["items"]


async def test_rolling_update_never_exceeds_surge_nor_drops_below_min_available_and_finishes(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    # replicas 4, maxSurge 1, maxUnavailable 1: the ReplicaSets want at most 5 pods together, and at
    # least 3 stay available. maxSurge bounds what the Deployment controller asks of the ReplicaSets
    # (upstream's NewRSNewReplicas sums their spec.replicas); the pods follow a moment later, each
    # ReplicaSet on its own, so a new pod can exist an instant before an old one is deleted.
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=4, strategy=strategy))
    await eventually(lambda: _complete(admin, namespace, "web"), message="first rollout")
    (first_rs,) = await _replica_sets(admin, namespace)
    assert first_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert first_rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] == \
        first_rs["metadata"]["labels"]["pod-template-hash"]

    kubelet.ready_delay = 0.5  # slow enough for several observations per step
    await admin.patch("deployments.apps", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "busybox:2"}]}}}}, namespace=namespace, patch_type="strategic")
    max_desired, max_pods, min_available = 0, 0, 99
    for _ in range(600):
        desired = sum(rs["spec"].get("replicas", 0) for rs in await _replica_sets(admin, namespace))
        max_desired = max(max_desired, desired)
        pods = [p for p in (await admin.list("pods", namespace=namespace))["items"]
                if not p["metadata"].get("deletionTimestamp")]
        max_pods = max(max_pods, len(pods))
        min_available = min(min_available, sum(1 for p in pods if _ready(p)))
        if await _complete(admin, namespace, "web"):
            d = await admin.get("deployments.apps", "web", namespace=namespace)
            if d["metadata"]["generation"] >= 3:  # the template change (+ the revision annotation)
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the rolling update did not finish")
    assert max_desired <= 5, max_desired
    assert max_pods <= 6, max_pods  # one pod of lag at most: the surge is still one at a time
    assert min_available >= 3, min_available
    rss = {rs["metadata"]["name"]: rs for rs in await _replica_sets(admin, namespace)}
    assert len(rss) == 2
    new = next(rs for rs in rss.values() if rs["spec"]["replicas"] == 4)
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert rss[first_rs["metadata"]["name"]]["spec"]["replicas"] == 0
    images = {p["spec"]["containers"][0]["image"] for p in (await admin.list("pods", namespace=namespace))["items"]
              if not p["metadata"].get("deletionTimestamp")}
    assert images == {"busybox:2"}


async def test_kubectl_rollout_status_undo_and_scale(
        lab: Lab, admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=3))
    out = (await kubectl(lab, "rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")).stdout
    assert 'deployment "web" successfully rolled out' in out
    await kubectl(lab, "set", "image", "deployment/web", "main=busybox:2", "-n", namespace)
    out = (await kubectl(lab, "rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")).stdout
    assert 'deployment "web" successfully rolled out' in out

    await kubectl(lab, "rollout", "undo", "deployment/web", "-n", namespace)
    out = (await kubectl(lab, "rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")).stdout
    assert 'deployment "web" successfully rolled out' in out
    d = await admin.get("deployments.apps", "web", namespace=namespace)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"
    rss = await _replica_sets(admin, namespace)
    assert len(rss) == 2  # the old ReplicaSet was reused, not a third one made
    back = next(rs for rs in rss if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1")
    assert back["spec"]["replicas"] == 3
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    await kubectl(lab, "scale", "deployment/web", "--replicas=5", "-n", namespace)
    out = (await kubectl(lab, "rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")).stdout
    assert "successfully rolled out" in out
    assert len([p for p in (await admin.list("pods", namespace=namespace))["items"]
                if not p["metadata"].get("deletionTimestamp")]) == 5
    history = (await kubectl(lab, "rollout", "history", "deployment/web", "-n", namespace)).stdout
    assert "2" in history and "3" in history


async def test_paused_deployment_does_not_roll_out_until_resumed(
        lab: Lab, admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=2))
    await eventually(lambda: _complete(admin, namespace, "web"), message="first rollout")
    await kubectl(lab, "rollout", "pause", "deployment/web", "-n", namespace)
    await kubectl(lab, "set", "image", "deployment/web", "main=busybox:2", "-n", namespace)

    async def paused_condition() -> bool:
        d = await admin.get("deployments.apps", "web", namespace=namespace)
        cond = next((c for c in d["status"].get("conditions") or [] if c["type"] == "Progressing"), {})
        return cond.get("reason") == "DeploymentPaused" and cond.get("status") == "Unknown"

    await eventually(paused_condition, message="Progressing=Unknown DeploymentPaused")
    await asyncio.sleep(1.0)
    assert len(await _replica_sets(admin, namespace)) == 1  # no new ReplicaSet while paused
    await kubectl(lab, "rollout", "resume", "deployment/web", "-n", namespace)
    await eventually(lambda: _complete(admin, namespace, "web"), message="rollout after resume")
    assert len(await _replica_sets(admin, namespace)) == 2


async def test_recreate_removes_all_old_pods_before_creating_new_ones(
        admin: ApiClient, namespace: str, manager: ControllerManagerProcess, kubelet: SimKubelet) -> None:
    await admin.create("deployments.apps", deployment_body("web", namespace, replicas=3, strategy={"type": "Recreate"}))
    await eventually(lambda: _complete(admin, namespace, "web"), message="first rollout")
    await admin.patch("deployments.apps", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "busybox:2"}]}}}}, namespace=namespace, patch_type="strategic")
    mixed = False
    for _ in range(400):
        images = {p["spec"]["containers"][0]["image"] for p in (await admin.list("pods", namespace=namespace))["items"]}
        mixed = mixed or len(images) > 1
        d = await admin.get("deployments.apps", "web", namespace=namespace)
        if d["metadata"]["generation"] >= 3 and await _complete(admin, namespace, "web"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the Recreate rollout did not finish")
    assert not mixed, "old and new pods existed at the same time"
