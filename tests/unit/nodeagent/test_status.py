"""Pod phase and conditions computed as kubelet's getPhase and condition generators do."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.nodeagent.runtimes.base import ContainerId, ContainerState
from orchestrator.nodeagent.status import Waiting, container_status, pod_conditions, pod_phase


def running() -> dict[str, Any]:
    return {"name": "a", "state": {"running": {"startedAt": "t"}}, "lastState": {}, "ready": True}


def exited(code: int) -> dict[str, Any]:
    return {"name": "b", "state": {"terminated": {"exitCode": code}}, "lastState": {}, "ready": False}


def crashlooping(code: int) -> dict[str, Any]:
    return {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": code}}, "ready": False}


def creating() -> dict[str, Any]:
    return {"name": "d", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}, "ready": False}


@pytest.mark.parametrize(
    ("policy", "statuses", "phase"),
    [
        ("Always", [creating()], "Pending"),
        ("Always", [running(), creating()], "Pending"),
        ("Always", [running()], "Running"),
        ("Always", [crashlooping(1)], "Running"),
        ("Never", [exited(0)], "Succeeded"),
        ("Never", [exited(1)], "Failed"),
        ("OnFailure", [exited(0), crashlooping(1)], "Running"),
        ("Never", [exited(0), exited(1)], "Failed"),
        ("Always", [exited(0)], "Running"),
        ("OnFailure", [exited(0)], "Succeeded"),
    ],
)
def test_phase_follows_kubelets_get_phase(policy: str, statuses: list[dict[str, Any]], phase: str) -> None:
    assert pod_phase(policy, statuses, container_count=len(statuses)) == phase


def test_missing_container_status_keeps_the_pod_pending() -> None:
    assert pod_phase("Always", [running()], container_count=2) == "Pending"


def test_conditions_name_unready_containers_and_keep_transition_times() -> None:
    first = pod_conditions(statuses=[running(), exited(1)], phase="Running", previous=None, now="T1")
    ready = next(c for c in first if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [b]"
    again = pod_conditions(statuses=[running(), exited(1)], phase="Running", previous=first, now="T2")
    assert next(c for c in again if c["type"] == "Ready")["lastTransitionTime"] == "T1"
    flipped = pod_conditions(statuses=[running()], phase="Running", previous=again, now="T3")
    assert next(c for c in flipped if c["type"] == "Ready") == {
        "type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": "T3"}


def test_finished_pod_is_not_ready_with_reason_pod_completed() -> None:
    conditions = pod_conditions(statuses=[exited(0)], phase="Succeeded", previous=None, now="T")
    assert next(c for c in conditions if c["type"] == "Ready")["reason"] == "PodCompleted"


def test_container_waiting_to_restart_shows_its_exit_as_last_state() -> None:
    state = ContainerState(id=ContainerId("abc"), name="k8s_x", image="busybox", image_id="sha256:1", state="exited",
                           labels={}, started_at="S", finished_at="F", exit_code=2, reason="Error")
    status = container_status(name="x", image="busybox", current=state, previous=None,
                              waiting=Waiting("CrashLoopBackOff", "back-off 10s"), restart_count=3, ready=False)
    assert status["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert status["containerID"] == "docker://abc" and status["started"] is False and status["restartCount"] == 3
