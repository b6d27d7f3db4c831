"""The pod status manager: the latest status of a pod wins, sends are bounded, failures retried."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.api.errors import NotFound, Unavailable
from orchestrator.nodeagent.metrics import AgentMetrics
from orchestrator.nodeagent.statusmanager import StatusManager


class FakeClient:
    """Records status PATCHes; `gate` holds every send until set; `fail` maps pod name -> errors to raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: dict[str, list[Exception]] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def patch(self, resource: str, name: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            errors = self.fail.get(name)
            if errors:
                raise errors.pop(0)
            self.sent.append((name, body["status"]["phase"]))
            return {}
        finally:
            self.in_flight -= 1


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}}


async def run_until(manager: StatusManager, client: FakeClient, count: int) -> None:
    task = asyncio.create_task(manager.run())
    try:
        for _ in range(500):
            if len(client.sent) >= count and manager.backlog == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"only {client.sent} sent")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_unsent_status_is_replaced_by_the_newer_one() -> None:
    client = FakeClient()
    manager = StatusManager(client, AgentMetrics(), senders=1)  # type: ignore[arg-type]
    await manager.patch_status(pod("a"), {"phase": "Pending"})
    await manager.patch_status(pod("a"), {"phase": "Running"})
    await run_until(manager, client, 1)
    assert client.sent == [("a", "Running")]
    assert manager.coalesced == 1


async def test_a_status_arriving_while_one_is_in_flight_is_sent_after_it() -> None:
    client = FakeClient()
    client.gate.clear()
    manager = StatusManager(client, AgentMetrics(), senders=2)  # type: ignore[arg-type]
    task = asyncio.create_task(manager.run())
    await manager.patch_status(pod("a"), {"phase": "Pending"})
    await asyncio.sleep(0.05)  # "Pending" is in flight now
    await manager.patch_status(pod("a"), {"phase": "Running"})
    await manager.patch_status(pod("a"), {"phase": "Succeeded"})
    await asyncio.sleep(0.05)
    assert client.max_in_flight == 1, "never two sends of one pod at once"
    client.gate.set()
    try:
        for _ in range(200):
            if len(client.sent) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert client.sent == [("a", "Pending"), ("a", "Succeeded")]


async def test_sends_are_bounded_by_the_number_of_senders() -> None:
    client = FakeClient()
    client.gate.clear()
    manager = StatusManager(client, AgentMetrics(), senders=3)  # type: ignore[arg-type]
    for i in range(20):
        await manager.patch_status(pod(f"p{i}"), {"phase": "Running"})
    task = asyncio.create_task(manager.run())
    await asyncio.sleep(0.05)
    assert client.max_in_flight == 3
    client.gate.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await run_until(manager, client, 20)
    assert sorted(name for name, _ in client.sent) == sorted(f"p{i}" for i in range(20))


async def test_a_failed_send_is_retried_and_a_gone_pod_is_dropped() -> None:
    client = FakeClient()
    client.fail = {"flaky": [Unavailable("API server down")], "gone": [NotFound("pods \"gone\" not found")]}
    manager = StatusManager(client, AgentMetrics(), senders=1, retry_seconds=0.05)  # type: ignore[arg-type]
    await manager.patch_status(pod("flaky"), {"phase": "Running"})
    await manager.patch_status(pod("gone"), {"phase": "Running"})
    await run_until(manager, client, 1)
    assert client.sent == [("flaky", "Running")]
    assert manager.backlog == 0
