"""The scheduler process against the real API server: where pods land, and why not."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.scheduler.conftest import Cluster


async def test_pod_lands_on_the_node_with_the_best_score_and_gets_a_scheduled_event(cluster: Cluster) -> None:
    await cluster.add_node("small", cpu="2", memory="4Gi")
    await cluster.add_node("big", cpu="16", memory="32Gi")
    cluster.start_scheduler()
    await cluster.create_pod("web", cpu="1", memory="1Gi")

    node = await cluster.wait_bound("web")

    # LeastAllocated (NodeResourcesFit's default) prefers the node with the most room left.
    assert node == cluster.node_name("big")
    event = await cluster.wait_event("web", "Scheduled")
    assert event["type"] == "Normal"
    assert event["message"] == f"Successfully assigned {cluster.namespace}/web to {node}"
    assert event["source"]["component"] == "default-scheduler"


async def test_pod_too_big_for_every_node_stays_pending_with_reasons_until_a_big_node_is_added(
    cluster: Cluster,
) -> None:
    await cluster.add_node("a", cpu="2")
    await cluster.add_node("b", cpu="2")
    cluster.start_scheduler()
    await cluster.create_pod("huge", cpu="3")

    event = await cluster.wait_event("huge", "FailedScheduling")
    assert event["type"] == "Warning"
    assert event["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    for _ in range(50):
        pod = await cluster.get_pod("huge")
        conditions = {c["type"]: c for c in pod["status"].get("conditions") or []}
        if "PodScheduled" in conditions:
            break
        await asyncio.sleep(0.1)
    assert not pod["spec"].get("nodeName")
    assert conditions["PodScheduled"]["status"] == "False"
    assert conditions["PodScheduled"]["reason"] == "Unschedulable"
    assert conditions["PodScheduled"]["message"] == "0/2 nodes are available: 2 Insufficient cpu."

    await cluster.add_node("c", cpu="4")

    assert await cluster.wait_bound("huge", timeout=10) == cluster.node_name("c")


async def test_untolerated_taint_keeps_a_pod_off_and_a_toleration_lets_it_on(cluster: Cluster) -> None:
    await cluster.add_node("gpu", taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
    cluster.start_scheduler()
    await cluster.create_pod("plain")
    await cluster.create_pod(
        "tolerant", spec={"tolerations": [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]}
    )

    assert await cluster.wait_bound("tolerant") == cluster.node_name("gpu")
    event = await cluster.wait_event("plain", "FailedScheduling")
    assert event["message"] == "0/1 nodes are available: 1 node(s) had untolerated taint {gpu: true}."
    assert not (await cluster.get_pod("plain"))["spec"].get("nodeName")


async def test_node_selector_picks_the_labelled_node(cluster: Cluster) -> None:
    await cluster.add_node("hdd1", labels={"disk": "hdd"}, cpu="16")
    await cluster.add_node("ssd", labels={"disk": "ssd"}, cpu="2")
    await cluster.add_node("hdd2", labels={"disk": "hdd"}, cpu="16")
    cluster.start_scheduler()
    for i in range(3):
        await cluster.create_pod(f"db-{i}", spec={"nodeSelector": {"disk": "ssd"}})
    await cluster.create_pod("nowhere", spec={"nodeSelector": {"disk": "nvme"}})

    for i in range(3):
        assert await cluster.wait_bound(f"db-{i}") == cluster.node_name("ssd")
    event = await cluster.wait_event("nowhere", "FailedScheduling")
    assert event["message"] == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


async def test_pods_of_one_replicaset_are_spread_across_nodes(cluster: Cluster) -> None:
    for name in ("n1", "n2", "n3"):
        await cluster.add_node(name)
    # Only the spreading score, so nothing else (like LeastAllocated) could explain the spread.
    config = cluster.write_config({"plugins": {"score": {"disabled": [{"name": "*"}],
                                                         "enabled": [{"name": "SelectorSpread"}]}}})
    cluster.start_scheduler(config=config)
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9", "uid": "uid-web-7d4b9",
             "controller": True, "blockOwnerDeletion": True}
    for i in range(6):
        pod = cluster.pod(f"web-7d4b9-{i}", labels={"app": "web"})
        pod["metadata"]["ownerReferences"] = [owner]
        await cluster.admin.create("pods", pod)

    nodes = [await cluster.wait_bound(f"web-7d4b9-{i}") for i in range(6)]

    assert sorted(nodes.count(cluster.node_name(n)) for n in ("n1", "n2", "n3")) == [2, 2, 2]


async def test_metrics_count_attempts_by_result(cluster: Cluster) -> None:
    await cluster.add_node("m", cpu="1")
    scheduler = cluster.start_scheduler()
    await cluster.create_pod("fits", cpu="500m")
    await cluster.create_pod("too-big", cpu="2")
    await cluster.wait_bound("fits")
    await cluster.wait_event("too-big", "FailedScheduling")

    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{scheduler.metrics_port}/metrics")).text
        health = await http.get(f"http://127.0.0.1:{scheduler.metrics_port}/healthz")

    assert health.status_code == 200
    profile = cluster.scheduler_name
    assert f'scheduler_schedule_attempts_total{{profile="{profile}",result="scheduled"}} 1.0' in text
    assert f'scheduler_schedule_attempts_total{{profile="{profile}",result="unschedulable"}}' in text
    assert "scheduler_scheduling_algorithm_duration_seconds_count" in text
    assert 'scheduler_pending_pods{queue="unschedulablePods"} 1.0' in text
