"""Restarts and replicas: a pod is bound exactly once, whoever schedules it."""

from __future__ import annotations

import asyncio
import signal
import time

from tests.integration.scheduler.conftest import Cluster, SchedulerProcess

SHORT_LEASE = ("--leader-elect", "--lease-duration", "2", "--renew-deadline", "1.5", "--retry-period", "0.5")


async def _scheduled_events(cluster: Cluster) -> dict[str, list[dict]]:
    listed = await cluster.admin.list("events", namespace=cluster.namespace)
    scheduled: dict[str, list[dict]] = {}
    for event in listed["items"]:
        if event.get("reason") == "Scheduled":
            scheduled.setdefault(event["involvedObject"]["name"], []).append(event)
    return scheduled


async def _wait_for_scheduled_events(cluster: Cluster, names: list[str], *, timeout: float = 15) -> None:
    """Events are posted after the binding, in the background (best effort, as in Kubernetes): a
    scheduler killed right after its last binding may not have posted that pod's yet."""
    deadline = time.monotonic() + timeout
    while missing := set(names) - set(await _scheduled_events(cluster)):
        assert time.monotonic() < deadline, sorted(missing)
        await asyncio.sleep(0.2)


async def _assert_scheduled_once(cluster: Cluster, names: list[str]) -> None:
    """Every pod has exactly one Scheduled event, seen once (count 1): one Binding succeeded."""
    scheduled = await _scheduled_events(cluster)
    for name in names:
        events = scheduled.get(name, [])
        assert len(events) == 1 and events[0].get("count", 1) == 1, (name, events)


def _leader(processes: list[SchedulerProcess], *, timeout: float = 15) -> SchedulerProcess:
    deadline = time.monotonic() + timeout
    while True:
        leaders = [p for p in processes if p.proc.poll() is None and p.status().leader]
        if len(leaders) == 1:
            return leaders[0]
        assert len(leaders) <= 1, "two leaders at once"
        assert time.monotonic() < deadline, "no leader elected"
        time.sleep(0.2)


async def test_restarted_scheduler_resumes_without_binding_a_pod_twice(cluster: Cluster) -> None:
    for name in ("r1", "r2"):
        await cluster.add_node(name)
    first = cluster.start_scheduler()
    before = [f"before-{i}" for i in range(5)]
    for name in before:
        await cluster.create_pod(name, cpu="100m")
    placed = {name: await cluster.wait_bound(name) for name in before}
    await cluster.wait_event(before[-1], "Scheduled")
    first.kill(signal.SIGKILL)

    after = [f"after-{i}" for i in range(5)]
    for name in after:
        await cluster.create_pod(name, cpu="100m")
    second = cluster.start_scheduler()
    for name in after:
        await cluster.wait_bound(name)
    await asyncio.sleep(1)  # time for a (wrong) second binding or event to show

    assert {name: (await cluster.get_pod(name))["spec"]["nodeName"] for name in before} == placed
    status = second.status()
    assert status.counters["scheduled"] == 5
    assert status.counters.get("bind_errors", 0) == 0
    # The bound pods of before the restart count on their nodes. The cache holds every assigned pod
    # of the lab, so an earlier test's pods still being deleted count too: compare with the API server.
    deadline = time.monotonic() + 10
    while True:
        listed = (await cluster.admin.list("pods"))["items"]
        assigned = sum(1 for p in listed if p["spec"].get("nodeName")
                       and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
        pods = second.status().pods
        if pods == assigned or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert pods == assigned >= 10
    await _assert_scheduled_once(cluster, before + after)


async def test_two_replicas_never_bind_twice_and_the_standby_takes_over_when_the_leader_dies(
    cluster: Cluster,
) -> None:
    for name in ("l1", "l2", "l3"):
        await cluster.add_node(name)
    replicas = [cluster.start_scheduler(*SHORT_LEASE), cluster.start_scheduler(*SHORT_LEASE)]
    leader = _leader(replicas)
    standby = next(p for p in replicas if p is not leader)
    deadline = time.monotonic() + 5
    while standby.status().leader_identity != leader.status().identity:  # its next read of the lease
        assert time.monotonic() < deadline, standby.status()
        await asyncio.sleep(0.2)
    assert not standby.status().leader

    first = [f"first-{i}" for i in range(10)]
    for name in first:
        await cluster.create_pod(name, cpu="100m")
    for name in first:
        await cluster.wait_bound(name)
    assert leader.status().counters["scheduled"] == 10
    assert standby.status().counters.get("scheduled", 0) == 0
    await _wait_for_scheduled_events(cluster, first)

    leader.kill(signal.SIGKILL)  # no chance to release the lease: the standby waits it out
    killed_at = time.monotonic()
    second = [f"second-{i}" for i in range(10)]
    for name in second:
        await cluster.create_pod(name, cpu="100m")
    for name in second:
        await cluster.wait_bound(name, timeout=20)
    took_over_in = time.monotonic() - killed_at

    status = standby.status()
    assert status.leader
    assert status.counters["scheduled"] == 10
    assert status.counters.get("bind_errors", 0) == 0
    assert took_over_in < 10
    await asyncio.sleep(1)
    await _assert_scheduled_once(cluster, first + second)
