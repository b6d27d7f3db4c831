"""The pod worker on the simulated runtime with a recording sink: restarts, back-off, adoption, deletion."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any

from orchestrator.nodeagent.podworker import PodWorker, WorkerConfig
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime


class RecordingSink:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.deleted: list[str] = []

    async def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        self.statuses.append(status)
        self.times.append(time.monotonic())

    async def confirm_deletion(self, pod: Mapping[str, Any]) -> None:
        self.deleted.append(pod["metadata"]["name"])

    def reasons(self) -> list[str | None]:
        return [((s["containerStatuses"][0]["state"].get("waiting") or {}).get("reason")) for s in self.statuses]


def pod(*, restart: str = "Always", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": str(uuid.uuid4()), "annotations": annotations or {},
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox:latest",
                                                          "imagePullPolicy": "IfNotPresent"}]},
        "status": {"phase": "Pending"},
    }


def config(runtime: SimulatedRuntime, sink: RecordingSink) -> WorkerConfig:
    return WorkerConfig(node_name="n1", runtime=runtime, sink=sink, runtime_scheme="labkit-sim",
                        crashloop_base=0.2, crashloop_max=0.8)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_crashing_container_backs_off_with_doubling_delays() -> None:
    runtime, sink = SimulatedRuntime(), RecordingSink()
    worker = PodWorker(pod(annotations={"sim.labkit.io/exit-code": "1"}), config=config(runtime, sink))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and sink.statuses[-1]["containerStatuses"][0]["restartCount"] >= 3)
        assert "CrashLoopBackOff" in sink.reasons()
        messages = [s["containerStatuses"][0]["state"]["waiting"].get("message", "")
                    for s in sink.statuses if sink.reasons()[sink.statuses.index(s)] == "CrashLoopBackOff"]
        assert any("back-off 0.2s" in m for m in messages) and any("back-off 0.4s" in m for m in messages)
        assert {s["phase"] for s in sink.statuses[1:]} == {"Running"}
    finally:
        task.cancel()


async def test_never_restarted_pod_fails_with_its_exit_code() -> None:
    runtime, sink = SimulatedRuntime(), RecordingSink()
    worker = PodWorker(pod(restart="Never", annotations={"sim.labkit.io/exit-code": "4"}), config=config(runtime, sink))
    task = asyncio.create_task(worker.run())
    try:
        worker.notify()
        await until(lambda: sink.statuses and sink.statuses[-1]["phase"] == "Failed")
        assert sink.statuses[-1]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    finally:
        task.cancel()


async def test_adopted_running_container_is_not_restarted() -> None:
    runtime, sink = SimulatedRuntime(), RecordingSink()
    the_pod = pod()
    first = PodWorker(the_pod, config=config(runtime, sink))
    await first.sync()
    [original] = await runtime.list_containers(node="n1")
    adopting = RecordingSink()
    second = PodWorker(the_pod, config=config(runtime, adopting), adopted=[original])
    await second.sync()
    assert [c.id for c in await runtime.list_containers(node="n1")] == [original.id]
    assert second.container_ids() == {"c": original.id}
    status = adopting.statuses[-1]["containerStatuses"][0]
    assert status["started"] is True and status["ready"] is True  # still running, still ready


async def test_deletion_stops_and_removes_containers_then_confirms() -> None:
    runtime, sink = SimulatedRuntime(), RecordingSink()
    the_pod = pod()
    worker = PodWorker(the_pod, config=config(runtime, sink))
    await worker.sync()
    deleting = {**the_pod, "metadata": {**the_pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:30Z",
                                         "deletionGracePeriodSeconds": 1}}
    worker.update(deleting)
    await worker.sync()
    assert worker.finished and sink.deleted == ["p"]
    assert await runtime.list_containers(node="n1") == []


class SlowPullRuntime(SimulatedRuntime):
    """A registry lookup that takes most of the first back-off, as on an offline machine."""

    async def ensure_image(self, image: str, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await super().ensure_image(image, **kwargs)


class EchoingSink(RecordingSink):
    """Hands each status back to the worker, as the agent's pod informer does when the write comes back."""

    worker: PodWorker | None = None

    async def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        await super().patch_status(pod, status)
        if self.worker is not None:
            self.worker.update({**pod, "status": status})


async def test_a_slow_failed_pull_shows_errimagepull_long_enough_to_be_sent_before_imagepullbackoff() -> None:
    runtime, sink = SlowPullRuntime(), EchoingSink()
    slow = {**config(runtime, sink).__dict__, "crashloop_base": 0.4, "crashloop_max": 0.8}
    worker = sink.worker = PodWorker(pod(annotations={"sim.labkit.io/pull-fails": "true"}),
                                     config=WorkerConfig(**slow))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.reasons().count("ImagePullBackOff") >= 3)
    finally:
        task.cancel()
    reasons = sink.reasons()
    # The agent's status manager sends only a pod's newest status (orchestrator/nodeagent/statusmanager.py),
    # so an ErrImagePull replaced at once never reaches the API server: each must stay newest a while.
    shown_for = [sink.times[i + 1] - sink.times[i] for i, r in enumerate(reasons[:-1])
                 if r == "ErrImagePull" and reasons[i + 1] == "ImagePullBackOff"]
    assert len(shown_for) >= 3 and min(shown_for) >= 0.15, (reasons, shown_for)
