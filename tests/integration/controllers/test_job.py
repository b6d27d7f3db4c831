"""The Job controller against a real API server: parallel completions with retries, Indexed Jobs,
the back-off limit, podFailurePolicy, suspend, the deadline, TTL, and the Table kubectl prints.

`RunToCompletion` stands in for scheduler and node agents (as `SimKubelet` does for the
ReplicaSet tests): it binds each pod, reports it Running and Ready, and a moment later finished,
with the exit code `outcome(pod)` picks -- so a test decides exactly which pods fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from kubernetes import client, config

from orchestrator.api.errors import Conflict, NotFound
from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import SCHEDULER_NAME, ControllerManagerProcess, SimKubelet, stamp
from tests.support.lab import Lab
from tests.support.polling import eventually

Outcome = Callable[[dict[str, Any]], int | None]  # exit code of a pod's container; None: keeps running


@dataclass
class RunToCompletion(SimKubelet):
    outcome: Outcome = lambda pod: 0  # noqa: E731
    run_seconds: float = 0.3
    seen: list[str] = field(default_factory=list)  # pod names in the order they were started

    async def _handle(self, pod: dict[str, Any]) -> None:
        meta, status = pod["metadata"], pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return  # finished: nothing runs any more
        if meta.get("deletionTimestamp") or not (pod.get("spec") or {}).get("nodeName") \
                or status.get("phase") != "Running" or meta["name"] in self.seen:
            await super()._handle(pod)  # bind, report Running, finish deletions
            return
        self.seen.append(meta["name"])
        code = self.outcome(pod)
        if code is None:
            return
        await asyncio.sleep(self.run_seconds)
        try:
            fresh = await self.client.get("pods", meta["name"], namespace=self.namespace)
            if fresh["metadata"].get("deletionTimestamp"):
                return
            now = stamp()
            fresh["status"].update({
                "phase": "Succeeded" if code == 0 else "Failed",
                "conditions": [{"type": t, "status": "False" if t in ("Ready", "ContainersReady") else "True",
                                "lastTransitionTime": now}
                               for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                                       "restartCount": 0, "started": False,
                                       "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0
                                                                else "Error", "finishedAt": now, "startedAt": now}}}
                                      for c in fresh["spec"]["containers"]],
            })
            await self.client.update_status("pods", fresh)
        except (NotFound, Conflict):
            pass


@pytest.fixture
async def batch_kubelet(admin: ApiClient, namespace: str) -> AsyncIterator[RunToCompletion]:
    sim = RunToCompletion(admin, namespace, [f"{namespace}-n{i}" for i in range(2)])
    await sim.create_nodes()
    task = asyncio.create_task(sim.run())
    try:
        yield sim
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.delete_nodes()


@pytest.fixture
def job_manager(manager_factory: Callable[..., ControllerManagerProcess]) -> ControllerManagerProcess:
    # Only the Job controller (plus the garbage collector for TTL), back-off base 0.2 s: 0.2, 0.4, 0.8, ...
    return manager_factory("--controllers", "job,garbagecollector", "--job-backoff-base", "0.2")


def job_body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    template = {"spec": {"schedulerName": SCHEDULER_NAME, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "main", "image": "busybox:1.36"}]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": template, **spec}}


async def _job(admin: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return await admin.get("jobs.batch", name, namespace=namespace)


def _condition(job: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (job.get("status") or {}).get("conditions") or []
                 if c["type"] == type_ and c["status"] == "True"), None)


async def _pods(admin: ApiClient, namespace: str, job: str) -> list[dict[str, Any]]:
    return (await admin.list("pods", namespace=namespace, label_selector=f"batch.kubernetes.io/job-name={job}"))["items"]


async def test_parallel_job_replaces_two_failed_pods_and_completes_six(
        admin: ApiClient, namespace: str, job_manager: ControllerManagerProcess,
        batch_kubelet: RunToCompletion) -> None:
    failing: set[str] = set()

    def outcome(pod: dict[str, Any]) -> int:
        if len(failing) < 2:  # the first two pods fail once; their replacements succeed
            failing.add(pod["metadata"]["name"])
            return 1
        return 0

    batch_kubelet.outcome = outcome
    created = await admin.create("jobs.batch", job_body("work", namespace, parallelism=3, completions=6))
    uid = created["metadata"]["uid"]
    assert created["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert created["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "work",
        "controller-uid": uid, "job-name": "work"}
    assert (created["spec"]["backoffLimit"], created["spec"]["completionMode"], created["spec"]["suspend"]) == \
        (6, "NonIndexed", False)

    async def watch_parallelism() -> int:
        most = 0
        while True:
            pods = await _pods(admin, namespace, "work")
            most = max(most, sum(1 for p in pods if (p.get("status") or {}).get("phase") in (None, "Pending", "Running")
                                 and not p["metadata"].get("deletionTimestamp")))
            job = await _job(admin, namespace, "work")
            if _condition(job, "Complete"):
                return most
            await asyncio.sleep(0.1)

    most = await asyncio.wait_for(watch_parallelism(), 60)
    assert most <= 3
    job = await _job(admin, namespace, "work")
    status = job["status"]
    assert (status["succeeded"], status["failed"], status.get("active", 0), status["ready"]) == (6, 2, 0, 0)
    assert status["startTime"] <= status["completionTime"]
    types = [c["type"] for c in status["conditions"]]
    assert types == ["SuccessCriteriaMet", "Complete"]
    assert _condition(job, "Complete")["reason"] == "CompletionsReached"  # type: ignore[index]
    pods = await _pods(admin, namespace, "work")
    assert len(pods) == 8 and len(failing) == 2
    for pod in pods:
        assert pod["metadata"]["name"].startswith("work-")
        (ref,) = pod["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "batch/v1", "kind": "Job", "name": "work", "uid": uid, "controller": True,
                       "blockOwnerDeletion": True}
    events = (await admin.list("events", namespace=namespace))["items"]
    reasons = [e["reason"] for e in events if e["involvedObject"]["name"] == "work"]
    assert reasons.count("SuccessfulCreate") >= 8 - 1 and "Completed" in reasons  # repeats may be aggregated


async def test_indexed_job_gives_each_pod_its_index(
        admin: ApiClient, namespace: str, job_manager: ControllerManagerProcess,
        batch_kubelet: RunToCompletion, lab: Lab) -> None:
    await admin.create("jobs.batch", job_body("idx", namespace, parallelism=2, completions=3,
                                              completionMode="Indexed"))
    await eventually(lambda: _complete(admin, namespace, "idx"), message="indexed job complete")
    job = await _job(admin, namespace, "idx")
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    # The official Python client reads it back into its typed models.
    with config.new_client_from_config(config_file=str(lab.kubeconfig), persist_config=False) as python_client:
        typed = client.BatchV1Api(python_client).read_namespaced_job("idx", namespace)
    assert (typed.spec.completion_mode, typed.status.completed_indexes, typed.status.succeeded) == ("Indexed", "0-2", 3)
    assert [c.type for c in typed.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    pods = sorted(await _pods(admin, namespace, "idx"), key=lambda p: p["metadata"]["annotations"]
                  ["batch.kubernetes.io/job-completion-index"])
    assert len(pods) == 3
    for index, pod in enumerate(pods):
        m, spec = pod["metadata"], pod["spec"]
        assert m["annotations"]["batch.kubernetes.io/job-completion-index"] == str(index)
        assert m["labels"]["batch.kubernetes.io/job-completion-index"] == str(index)
        assert m["generateName"] == f"idx-{index}-" and spec["hostname"] == f"idx-{index}"
        assert spec["containers"][0]["env"][0] == {
            "name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}


async def _complete(admin: ApiClient, namespace: str, name: str) -> bool:
    return _condition(await _job(admin, namespace, name), "Complete") is not None


async def test_backoff_limit_exceeded_fails_the_job_after_backing_off(
        admin: ApiClient, namespace: str, job_manager: ControllerManagerProcess,
        batch_kubelet: RunToCompletion) -> None:
    batch_kubelet.outcome = lambda pod: 1
    await admin.create("jobs.batch", job_body("doomed", namespace, backoffLimit=2))

    async def failed() -> dict[str, Any] | None:
        return _condition(await _job(admin, namespace, "doomed"), "Failed")

    cond = await eventually(failed, message="Failed condition")
    assert (cond["reason"], cond["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    job = await _job(admin, namespace, "doomed")
    assert job["status"]["failed"] == 3 and "completionTime" not in job["status"]
    assert _condition(job, "FailureTarget")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    # back-off 0.2 s then 0.4 s between the three pods: the third started at least 0.6 s after the first failed
    pods = sorted(await _pods(admin, namespace, "doomed"), key=lambda p: p["metadata"]["creationTimestamp"])
    assert len(pods) == 3
    events = (await admin.list("events", namespace=namespace))["items"]
    assert any(e["reason"] == "BackoffLimitExceeded" and e["type"] == "Warning" for e in events)


async def test_pod_failure_policy_fails_the_job_on_an_exit_code_and_ignores_another(
        admin: ApiClient, namespace: str, job_manager: ControllerManagerProcess,
        batch_kubelet: RunToCompletion) -> None:
    codes = iter([3, 42])
    batch_kubelet.outcome = lambda pod: next(codes, 0)
    policy = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
                        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                                              "values": [42]}}]}
    await admin.create("jobs.batch", job_body("pfp", namespace, podFailurePolicy=policy, backoffLimit=6))

    async def failed() -> dict[str, Any] | None:
        return _condition(await _job(admin, namespace, "pfp"), "Failed")

    cond = await eventually(failed, message="Failed by the FailJob rule")
    assert cond["reason"] == "PodFailurePolicy"
    assert "failed with exit code 42 matching FailJob rule at index 1" in cond["message"]
    job = await _job(admin, namespace, "pfp")
    assert job["status"]["failed"] == 1  # the exit code 3 was ignored: not counted
    assert job["spec"]["podReplacementPolicy"] == "Failed"


async def test_suspend_deletes_active_pods_and_resume_starts_again(
        admin: ApiClient, namespace: str, job_manager: ControllerManagerProcess,
        batch_kubelet: RunToCompletion) -> None:
    batch_kubelet.outcome = lambda pod: None  # they run until stopped
    await admin.create("jobs.batch", job_body("pause", namespace, parallelism=2, completions=2))
    await eventually(lambda: _active(admin, namespace, "pause", 2), message="2 active")
    await admin.patch("jobs.batch", "pause", {"spec": {"suspend": True}}, namespace=namespace)

    async def suspended() -> bool:
        job = await _job(admin, namespace, "pause")
        return _condition(job, "Suspended") is not None and not job["status"].get("active") \
            and "startTime" not in job["status"]

    await eventually(suspended, message="Suspended with no active pods")
    assert [p for p in await _pods(admin, namespace, "pause") if not p["metadata"].get("deletionTimestamp")] == []
    await admin.patch("jobs.batch", "pause", {"spec": {"suspend": False}}, namespace=namespace)
    await eventually(lambda: _active(admin, namespace, "pause", 2), message="2 active again")
    job = await _job(admin, namespace, "pause")
    resumed = next(c for c in job["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")


async def _active(admin: ApiClient, namespace: str, name: str, count: int) -> bool:
    return ((await _job(admin, namespace, name)).get("status") or {}).get("active") == count


async def test_active_deadline_fails_the_job_and_ttl_deletes_it_with_its_pods(
        admin: ApiClient, namespace: str, job_manager: ControllerManagerProcess,
        batch_kubelet: RunToCompletion) -> None:
    batch_kubelet.outcome = lambda pod: None
    await admin.create("jobs.batch", job_body("late", namespace, activeDeadlineSeconds=2, ttlSecondsAfterFinished=1))

    async def deadline() -> dict[str, Any] | None:
        try:
            return _condition(await _job(admin, namespace, "late"), "Failed")
        except NotFound:
            return {"reason": "gone before we looked"}

    cond = await eventually(deadline, timeout=20, message="DeadlineExceeded")
    if cond.get("reason") != "gone before we looked":
        assert (cond["reason"], cond["message"]) == ("DeadlineExceeded", "Job was active longer than specified deadline")

    async def gone() -> bool:
        try:
            await _job(admin, namespace, "late")
        except NotFound:
            return not await _pods(admin, namespace, "late")
        return False

    await eventually(gone, timeout=30, message="the Job and its pods deleted after ttlSecondsAfterFinished")


async def test_bad_jobs_are_refused_with_422_naming_the_field(api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    cases = [
        ({"completions": -1}, "spec.completions", "must be greater than or equal to 0"),
        ({"parallelism": -2}, "spec.parallelism", "must be greater than or equal to 0"),
        ({"completionMode": "Indexed", "parallelism": 2}, "spec.completions", "when completion mode is Indexed"),
        ({"completionMode": "Sometimes"}, "spec.completionMode", 'supported values: "NonIndexed", "Indexed"'),
    ]
    for extra, path, text in cases:
        r = await api.post(base, json=job_body("bad", namespace, **extra))
        assert r.status_code == 422, r.text
        causes = r.json()["details"]["causes"]
        assert any(c["field"] == path and text in c["message"] for c in causes), causes
    always = job_body("bad", namespace)
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    r = await api.post(base, json=always)
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0] == {
        "reason": "FieldValueNotSupported", "field": "spec.template.spec.restartPolicy",
        "message": 'Unsupported value: "Always": supported values: "OnFailure", "Never"'}
    r = await api.post(base, json=job_body("ok", namespace, completions=2))
    assert r.status_code == 201
    r = await api.patch(f"{base}/ok", json={"spec": {"completions": 3}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.completions"
    assert "field is immutable" in r.json()["message"]


async def test_table_has_kubectl_job_columns(admin: ApiClient, namespace: str) -> None:
    await admin.create("jobs.batch", job_body("t", namespace, completions=3, parallelism=2))
    table = await admin.table("jobs.batch", namespace=namespace)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["t", "Running", "0/3", ""] and cells[5:7] == ["main", "busybox:1.36"]
    assert cells[7].startswith("batch.kubernetes.io/controller-uid=")
