"""The Scheduler loop without a network: informer calls made directly, Binding injected."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.api.errors import Conflict
from orchestrator.scheduler.config import build_frameworks, default_config
from orchestrator.scheduler.framework.interfaces import Handle
from orchestrator.scheduler.scheduler import Scheduler
from tests.unit.scheduler.builders import make_node, make_pod


class StatusPatches:
    """Stands in for ApiClient where the Scheduler writes pod status: records the patches."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, Any]] = []

    async def patch(self, resource: str, name: str, patch: Any, **kwargs: Any) -> dict[str, Any]:
        self.patches.append((name, patch))
        return {}


def _scheduler(bind: Any) -> Scheduler:
    config = default_config()
    frameworks = build_frameworks(config, handle=Handle(bind_pod=bind))
    return Scheduler(StatusPatches(), config=config, frameworks=frameworks)  # type: ignore[arg-type]


async def _until(predicate: Any, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_bound_pod_is_assumed_then_confirmed_by_the_informer_update() -> None:
    bound: list[tuple[str, str]] = []

    async def bind(pod: dict[str, Any], node: str) -> None:
        bound.append((pod["metadata"]["name"], node))

    s = _scheduler(bind)
    s.on_node_add(make_node("n1"))
    pod = make_pod("a", cpu="1")
    s.on_pod_add(pod)
    loop = asyncio.create_task(s.run())
    try:
        await _until(lambda: s.counters["scheduled"] == 1)
        assert bound == [("a", "n1")]
        assert s.cache.is_assumed(pod)
        s.on_pod_update(pod, {**pod, "spec": {**pod["spec"], "nodeName": "n1"}})
        assert not s.cache.is_assumed(pod) and s.cache.pod_count == 1
        assert len(s.queue) == 0
    finally:
        loop.cancel()


async def test_rejected_binding_forgets_the_assumption_and_retries_with_backoff() -> None:
    attempts = 0

    async def bind(pod: dict[str, Any], node: str) -> None:
        nonlocal attempts
        attempts += 1
        raise Conflict("the object has been modified", kind="pods", name=pod["metadata"]["name"])

    s = _scheduler(bind)
    s.on_node_add(make_node("n1"))
    pod = make_pod("a", cpu="1")
    s.on_pod_add(pod)
    loop = asyncio.create_task(s.run())
    try:
        await _until(lambda: s.counters["bind_errors"] == 1)
        assert not s.cache.is_assumed(pod) and s.cache.pod_count == 0
        [entry] = s.queue.list()
        assert entry.queue == "backoffQ"
        assert entry.last_failure.startswith("Binding rejected: ")
    finally:
        loop.cancel()


async def test_unschedulable_pod_waits_until_a_node_is_added() -> None:
    async def bind(pod: dict[str, Any], node: str) -> None:
        return None

    s = _scheduler(bind)
    s.on_node_add(make_node("small", cpu="1"))
    s.on_pod_add(make_pod("big", cpu="2"))
    loop = asyncio.create_task(s.run())
    timers = asyncio.create_task(s.housekeeping())
    try:
        await _until(lambda: s.counters["unschedulable"] == 1)
        [entry] = s.queue.list()
        assert (entry.queue, entry.last_failure) == ("unschedulablePods", "0/1 nodes are available: 1 Insufficient cpu.")
        await _until(lambda: bool(s.client.patches))  # type: ignore[attr-defined]
        [(name, patch)] = s.client.patches  # type: ignore[attr-defined]
        [condition] = patch["status"]["conditions"]
        assert (name, condition["type"], condition["status"], condition["reason"]) == (
            "big", "PodScheduled", "False", "Unschedulable")
        s.on_node_add(make_node("large", cpu="4"))  # moves it out; after its 1 s backoff, scheduled
        await _until(lambda: s.counters["scheduled"] == 1, timeout=3)
    finally:
        loop.cancel()
        timers.cancel()


def test_pods_of_other_schedulers_and_bound_pods_are_not_queued() -> None:
    s = _scheduler(None)
    other = make_pod("other")
    other["spec"]["schedulerName"] = "someone-else"
    s.on_pod_add(other)
    s.on_pod_add(make_pod("bound", node_name="n1"))
    assert len(s.queue) == 0
    assert s.cache.pod_count == 1
