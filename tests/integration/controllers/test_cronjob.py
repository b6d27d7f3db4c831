"""The CronJob controller against a real API server, on a fake wall clock: the test moves the hands
and calls `sync`, so an every-minute CronJob is tested in seconds.

The controller runs in the test process (its informers, recorder and the API server are real); the
Jobs it creates are not run -- the test finishes one by writing its Complete condition, as the Job
controller would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orchestrator.client.clock import LoopClock
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import SharedInformerFactory
from orchestrator.client.rest import ApiClient
from orchestrator.controllers.controller import ControllerContext
from orchestrator.controllers.cronjob import CronJobController
from orchestrator.controllers.ownerrefs import parse_time
from tests.integration.controllers.conftest import SCHEDULER_NAME
from tests.support.polling import eventually


@dataclass
class WallClock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def to_next_minute(self, plus: float = 5.0) -> dt.datetime:
        """Move to `plus` seconds past the next whole minute (just after an every-minute run)."""
        self.now = self.now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1, seconds=plus)
        return self.now


@dataclass
class Harness:
    admin: ApiClient
    namespace: str
    controller: CronJobController
    clock: WallClock

    async def create(self, name: str, **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"schedule": "*/1 * * * *", **spec, "jobTemplate": {"spec": {"template": {"spec": {
                    "schedulerName": SCHEDULER_NAME, "restartPolicy": "OnFailure",
                    "containers": [{"name": "hello", "image": "busybox:1.36"}]}}}}}}
        created = await self.admin.create("cronjobs.batch", body)
        # Half a second, not one: creationTimestamp is whole seconds, and from hh:mm:59 one second
        # on is the next whole minute, a schedule time already due (a run here created that job).
        self.clock.now = parse_time(created["metadata"]["creationTimestamp"]) + dt.timedelta(seconds=0.5)  # type: ignore[operator]
        await self.synced(name)
        return created

    async def synced(self, name: str) -> None:
        """Wait until the controller's caches hold the server's CronJob and Jobs (read-your-writes)."""
        cj = await self.admin.get("cronjobs.batch", name, namespace=self.namespace)
        jobs = {j["metadata"]["name"]: j["metadata"]["resourceVersion"]
                for j in (await self.admin.list("jobs.batch", namespace=self.namespace))["items"]}

        def caught_up() -> bool:
            cached = self.controller.cronjob_informer.get(f"{self.namespace}/{name}")
            cached_jobs = {j["metadata"]["name"]: j["metadata"]["resourceVersion"]
                           for j in self.controller.job_informer.list() if j["metadata"]["namespace"] == self.namespace}
            return cached is not None and cached["metadata"]["resourceVersion"] == cj["metadata"]["resourceVersion"] \
                and cached_jobs == jobs

        await eventually(caught_up, timeout=10, interval=0.05, message=f"caches caught up with {name}")

    async def sync(self, name: str) -> dict[str, Any]:
        await self.controller.sync(f"{self.namespace}/{name}")
        await self.synced(name)
        return await self.admin.get("cronjobs.batch", name, namespace=self.namespace)

    async def jobs(self) -> list[str]:
        items = (await self.admin.list("jobs.batch", namespace=self.namespace))["items"]
        return sorted(j["metadata"]["name"] for j in items if not j["metadata"].get("deletionTimestamp"))

    async def complete(self, job_name: str) -> None:
        job = await self.admin.get("jobs.batch", job_name, namespace=self.namespace)
        now = self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        job["status"] = {"startTime": now, "completionTime": now, "succeeded": 1, "conditions": [
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "lastTransitionTime": now}]}
        await self.admin.update_status("jobs.batch", job)

    async def reasons(self, name: str) -> list[str]:
        await self.controller.recorder.flush()
        events = (await self.admin.list("events", namespace=self.namespace))["items"]
        return [e["reason"] for e in events if e["involvedObject"]["name"] == name]


@pytest.fixture
async def cron(admin: ApiClient, namespace: str) -> AsyncIterator[Harness]:
    factory = SharedInformerFactory(admin)
    recorder = EventRecorder(admin, component="cronjob-controller")
    clock = WallClock(dt.datetime.now(dt.UTC))
    ctx = ControllerContext(client=admin, factory=factory, recorder=recorder, clock=LoopClock(), namespace=namespace)
    controller = CronJobController(ctx, wall_clock=clock)
    tasks = [asyncio.create_task(factory.run()), asyncio.create_task(recorder.run())]
    try:
        await factory.wait_for_sync()
        yield Harness(admin, namespace, controller, clock)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _minutes(moment: dt.datetime) -> int:
    return int(moment.replace(second=0).timestamp()) // 60


async def test_every_minute_a_job_is_created_and_forbid_waits_for_the_running_one(cron: Harness) -> None:
    await cron.create("hello", concurrencyPolicy="Forbid")
    cj = await cron.sync("hello")
    assert await cron.jobs() == [] and "lastScheduleTime" not in cj["status"]

    first = cron.clock.to_next_minute()
    cj = await cron.sync("hello")
    name = f"hello-{_minutes(first)}"
    assert await cron.jobs() == [name]
    assert [a["name"] for a in cj["status"]["active"]] == [name]
    assert cj["status"]["lastScheduleTime"] == first.replace(second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    job = await cron.admin.get("jobs.batch", name, namespace=cron.namespace)
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        first.replace(second=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    second = cron.clock.to_next_minute()  # the first Job still runs: Forbid starts nothing
    cj = await cron.sync("hello")
    assert await cron.jobs() == [name]
    assert "JobAlreadyActive" in await cron.reasons("hello")

    await cron.complete(name)  # it finishes: the missed minute is started now, as Kubernetes does
    await cron.synced("hello")
    cj = await cron.sync("hello")
    assert await cron.jobs() == [name, f"hello-{_minutes(second)}"]
    assert cj["status"]["lastSuccessfulTime"] and [a["name"] for a in cj["status"]["active"]] == \
        [f"hello-{_minutes(second)}"]
    assert "SawCompletedJob" in await cron.reasons("hello")


async def test_replace_deletes_the_running_job_before_starting_the_next(cron: Harness) -> None:
    await cron.create("swap", concurrencyPolicy="Replace")
    first = cron.clock.to_next_minute()
    await cron.sync("swap")
    second = cron.clock.to_next_minute()
    cj = await cron.sync("swap")
    assert await cron.jobs() == [f"swap-{_minutes(second)}"]
    assert [a["name"] for a in cj["status"]["active"]] == [f"swap-{_minutes(second)}"]
    reasons = await cron.reasons("swap")
    assert "SuccessfulDelete" in reasons and reasons.count("SuccessfulCreate") >= 1
    assert first < second


async def test_after_hours_of_downtime_one_catch_up_run_and_a_warning(cron: Harness) -> None:
    await cron.create("late", concurrencyPolicy="Allow")
    cron.clock.now += dt.timedelta(hours=3)
    await cron.sync("late")
    assert len(await cron.jobs()) == 1  # 180 missed minutes, one run
    assert "TooManyMissedTimes" in await cron.reasons("late")
    cron.clock.now += dt.timedelta(seconds=1)
    await cron.sync("late")
    assert len(await cron.jobs()) == 1


async def test_starting_deadline_and_suspend_start_nothing(cron: Harness) -> None:
    await cron.create("strict", startingDeadlineSeconds=10)
    cron.clock.to_next_minute(plus=30)  # 30 s late for a 10 s deadline
    await cron.sync("strict")
    assert await cron.jobs() == []
    await cron.admin.patch("cronjobs.batch", "strict", {"spec": {"suspend": True}}, namespace=cron.namespace)
    await cron.synced("strict")
    cron.clock.to_next_minute(plus=1)
    await cron.sync("strict")
    assert await cron.jobs() == []


async def test_history_limits_keep_the_newest_finished_jobs(cron: Harness) -> None:
    await cron.create("hist", successfulJobsHistoryLimit=1)
    names = []
    for _ in range(3):
        cron.clock.to_next_minute()
        await cron.sync("hist")
        names.append(f"hist-{_minutes(cron.clock.now)}")
        await cron.complete(names[-1])
        await cron.synced("hist")
    await cron.sync("hist")
    assert await cron.jobs() == [names[-1]]


async def test_bad_schedule_is_a_422_naming_spec_schedule(api: httpx.AsyncClient, namespace: str) -> None:
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "bad"},
            "spec": {"schedule": "every minute", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}}}
    r = await api.post(f"/apis/batch/v1/namespaces/{namespace}/cronjobs", json=body)
    assert r.status_code == 422
    status = r.json()
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.schedule",
                                            "message": 'Invalid value: "every minute": expected exactly 5 fields, '
                                                       "found 2: [every minute]"}]


async def test_a_sync_on_a_stale_cache_neither_calls_its_job_unexpected_nor_loses_the_schedule_time(
        cron: Harness) -> None:
    await cron.create("race")
    first = cron.clock.to_next_minute()
    key = f"{cron.namespace}/race"
    await cron.controller.sync(key)
    # At once, before the CronJob's new status reaches the cache; the Job's ADDED event may have.
    name = f"race-{_minutes(first)}"
    await eventually(lambda: cron.controller.job_informer.get(f"{cron.namespace}/{name}"), timeout=10, interval=0.01,
                     message="the Job in the cache")
    try:
        await cron.controller.sync(key)
    except Exception as err:  # noqa: BLE001 - a 409 is the allowed outcome: the worker would retry
        assert "409" in str(err) or "behind" in str(err) or type(err).__name__ == "Conflict", err
    # The worker retries a 409 after a back-off, by when the cache has the status: so does the test
    # (syncing again at once could meet the same stale cache and 409 again).
    await cron.synced("race")
    cj = await cron.sync("race")
    assert cj["status"]["lastScheduleTime"] == first.replace(second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [a["name"] for a in cj["status"]["active"]] == [name]
    assert "UnexpectedJob" not in await cron.reasons("race")
