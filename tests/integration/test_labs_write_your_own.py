"""The "write your own" labs of notebook 12 graded under fault injection, on one live lab: the
reference solutions pass every step; a controller without expectations, one blind to tombstones,
a scheduler that does not assume its own bindings and the shipped stubs each fail with the
invariant that broke named.

The lab is as notebook 12 starts it: API server and relay only (the learner's component is the
only one acting; the grader's pods name no real scheduler and its nodes run no agent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import labs
from labs import aio
from labs.checks import run_check
from labs.exercises import replicaset_controller_check as podset_check
from labs.grading import poll, running, settle
from labs.podset import PODSETS, is_pod_active, owner_key, podset
from labs.solutions.pod_scheduler import PodScheduler
from labs.solutions.replicaset_controller import PodSetController
from orchestrator.client.informer import DeletedFinalStateUnknown, meta_namespace_key
from orchestrator.client.rest import ApiClient
from orchestrator.controllers.controller import Object
from orchestrator.lab.embedded.ports import free_port


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    home = tmp_path_factory.mktemp("labs-write-your-own")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_HOME", str(home))
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        lab = labs.start(nodes=0, runtime="simulated", skip=("scheduler", "controller-manager"),
                         show=False, port=free_port())
        try:
            yield lab
        finally:
            lab.stop()


class NoExpectations(PodSetController):
    """Counts its cache and acts at once: creates again for pods it cannot see yet."""

    async def sync(self, key: str) -> None:
        self.expectations.delete(key)  # never waits for its own writes
        await super().sync(key)


class TombstoneBlind(PodSetController):
    """Reads the deleted pod as a dict: a DeletedFinalStateUnknown after a relist makes it raise."""

    def pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        if obj["metadata"].get("ownerReferences"):  # type: ignore[index]  # the bug under test
            super().pod_deleted(obj)


class NoAssume(PodScheduler):
    """Counts only what its cache shows bound: its own bindings are invisible until the watch brings them."""

    def requested(self, node_name: str) -> int:
        self.assumed.clear()
        return super().requested(node_name)


class CutOffMidScaleDown(PodSetController):
    """The first of its kind to scale down expects its deletions and is then cut off before any
    delete returns (as when the API server goes away mid-sync), until it loses its Lease."""

    cut_off = False

    async def sync(self, key: str) -> None:
        owner = self.podsets.get(key)
        pods = [p for p in self.pods.list() if owner_key(p) == key and is_pod_active(p)]
        if owner is not None and not CutOffMidScaleDown.cut_off and len(pods) > owner["spec"]["replicas"]:
            CutOffMidScaleDown.cut_off = True
            self.expectations.expect_deletions(key, [meta_namespace_key(p) for p in pods])
            await asyncio.Event().wait()  # until cancelled: the Lease is lost
        await super().sync(key)


def test_a_component_that_loses_its_lease_mid_sync_is_built_afresh_and_finishes_the_job(lab: labs.Lab) -> None:
    # CI once saw the reference solution stall after the API server restart: it lost its Lease
    # halfway through a scale-down, stood again as the same object, and waited on expectations
    # for deletions it never sent. Kubernetes components exit on a lost Lease; the grader rebuilds.
    async def scenario() -> tuple[int, int]:
        namespace = podset_check.NAMESPACE
        async with ApiClient.from_kubeconfig(lab.kubeconfig) as admin:
            await podset_check._prepare(admin)
            pods = podset_check._Pods(admin)
            async with running(lab, CutOffMidScaleDown, namespace=namespace, lease="podset-controller") as run:
                await admin.create(PODSETS, podset("web", namespace, replicas=3,
                                                   scheduler_name=podset_check.SCHEDULER_NAME),
                                   namespace=namespace)
                assert await settle(pods.active, want=3, timeout=15) == 3
                await podset_check._scale(admin, 1)
                assert await poll(lambda: CutOffMidScaleDown.cut_off, timeout=10)
                # Another candidate takes the Lease for 4 s: ours cannot renew for its deadline (2 s) and loses it.
                lease = await admin.get("leases.coordination.k8s.io", "podset-controller", namespace=namespace)
                lease["spec"].update(holderIdentity="another-candidate", leaseDurationSeconds=4)
                await admin.update("leases.coordination.k8s.io", lease, namespace=namespace)
                count = await settle(pods.active, want=1, timeout=20)
                return count, run.restarts

    CutOffMidScaleDown.cut_off = False
    count, restarts = aio.run(scenario())
    assert count == 1, f"scaled 3 → 1, {count} pods active: the component stood again with its old expectations"
    assert restarts == 1


def test_the_replicaset_reference_solution_passes_every_fault(lab: labs.Lab) -> None:
    result = run_check("replicaset-controller", lab=lab, controller=PodSetController)
    assert result.passed, result.feedback
    assert len(result.steps) == 6, result.feedback  # loads, own lab, steady, lagging watch, 410, API restart
    assert "410 Gone" in result.feedback and "API server killed" in result.feedback


def test_a_controller_without_expectations_is_told_it_created_extra_pods(lab: labs.Lab) -> None:
    result = run_check("replicaset-controller", lab=lab, controller=NoExpectations)
    assert not result.passed, result.feedback
    failed = result.steps[-1]
    assert "extra pod" in failed.message and "expectations" in failed.message, result.feedback


def test_a_controller_blind_to_tombstones_is_told_it_did_not_replace_pods(lab: labs.Lab) -> None:
    result = run_check("replicaset-controller", lab=lab, controller=TombstoneBlind)
    assert not result.passed, result.feedback
    failed = result.steps[-1]
    assert "410 Gone" in failed.message and "DeletedFinalStateUnknown" in failed.message, result.feedback


def test_the_scheduler_reference_solution_passes_every_fault(lab: labs.Lab) -> None:
    result = run_check("pod-scheduler", lab=lab, scheduler=PodScheduler)
    assert result.passed, result.feedback
    assert len(result.steps) == 5, result.feedback  # loads, own lab, take-over, 410, API server restart


def test_a_scheduler_that_does_not_assume_overcommits_and_is_told_so(lab: labs.Lab) -> None:
    result = run_check("pod-scheduler", lab=lab, scheduler=NoAssume)
    assert not result.passed, result.feedback
    failed = result.steps[-1]
    assert "pod bound to a node without capacity" in failed.message and "assume" in failed.message, result.feedback


def test_the_learners_copies_of_the_stubs_fail_at_the_first_step_with_their_todo(
        lab: labs.Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As in notebook 12: labs.exercise copies the stub next to the notebook; the check grades that copy.
    monkeypatch.setenv("LABKIT_EXERCISES_DIR", str(tmp_path))
    assert labs.exercise("replicaset_controller").name == "my_replicaset_controller.py"
    assert labs.exercise("pod_scheduler").name == "my_pod_scheduler.py"
    controller = run_check("replicaset-controller", lab=lab)
    assert "my_replicaset_controller:PodSetController loads" in controller.feedback, controller.feedback
    assert not controller.passed and "NotImplementedError" in controller.feedback, controller.feedback
    scheduler = run_check("pod-scheduler", lab=lab)
    assert "my_pod_scheduler:PodScheduler loads" in scheduler.feedback, scheduler.feedback
    assert not scheduler.passed and "NotImplementedError" in scheduler.feedback, scheduler.feedback
