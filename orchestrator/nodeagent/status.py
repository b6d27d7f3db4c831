"""Pod status as kubelet computes it: container statuses, the phase, the four conditions.

Pure functions over plain values, so every rule is unit-tested without a runtime or a server.

The phase (kubelet's ``getPhase``), counting each container of the spec as one of:
running; *stopped* (terminated, or waiting with a terminated ``lastState`` — a container in
CrashLoopBackOff counts as stopped) of which *succeeded* when the exit code is 0; *waiting*
(never ran yet); *unknown* (no status at all). Then, in order:

    any waiting                          -> Pending
    some running, none unknown           -> Running
    none running, some stopped, none unknown:
        restartPolicy Always             -> Running   (they will be started again)
        all stopped ones succeeded       -> Succeeded
        restartPolicy OnFailure          -> Running   (the failed ones will be restarted)
        otherwise (Never)                -> Failed
    otherwise                            -> Pending

Worked example: two containers, restartPolicy OnFailure; ``a`` exited 0, ``b`` exited 1 and
waits in CrashLoopBackOff. running=0, stopped=2, succeeded=1 → not all succeeded →
OnFailure → Running. With restartPolicy Never the same pod is Failed.

Conditions: PodScheduled (True once bound), Initialized (False, reason
``ContainersNotInitialized``, while an init container has not completed), ContainersReady (every
container ready), Ready (ContainersReady and every ``spec.readinessGates`` condition True;
otherwise reason ``ReadinessGatesNotReady``). Conditions of other types (a readiness gate's,
set by some controller) are carried over as they are, since a status update replaces the list. The phase of a
pod whose init containers have not all completed is Pending, or Failed when one failed under
restartPolicy Never (the pod worker decides that; orchestrator/nodeagent/podworker.py). A condition's ``lastTransitionTime`` only moves when its status does.

Kubernetes equivalent: pkg/kubelet/kubelet_pods.go (getPhase, convertToAPIContainerStatuses),
pkg/kubelet/status/generate.go (GeneratePodReadyCondition and friends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.nodeagent.runtimes.base import ContainerState

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]

CONTAINER_CREATING = "ContainerCreating"
CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
POD_INITIALIZING = "PodInitializing"
# The conditions the node agent owns; any other type in a pod's status belongs to someone else.
KUBELET_CONDITIONS = frozenset({"PodScheduled", "Initialized", "ContainersReady", "Ready",
                                "PodReadyToStartContainers"})


@dataclass(frozen=True)
class Waiting:
    """Why a container is not running (the ``state.waiting`` kubelet shows)."""

    reason: str
    message: str = ""


def state_dict(state: ContainerState | None, waiting: Waiting | None = None, *, scheme: str = "docker") -> dict[str, Any]:
    """A ``ContainerState`` of the API (``{"running": ...}`` etc.) from the runtime's view.

    `waiting` wins: a container that exited and waits to be restarted shows ``waiting`` (with
    its exit in ``lastState``), as kubelet does.
    """
    if waiting is not None:
        body: dict[str, Any] = {"reason": waiting.reason}
        if waiting.message:
            body["message"] = waiting.message
        return {"waiting": body}
    if state is None:
        return {"waiting": {"reason": CONTAINER_CREATING}}
    if state.state == "running":
        return {"running": {"startedAt": state.started_at}}
    if state.state == "exited":
        return {"terminated": terminated_dict(state, scheme)}
    return {"waiting": {"reason": CONTAINER_CREATING}}


def terminated_dict(state: ContainerState, scheme: str = "docker") -> dict[str, Any]:
    """``state.terminated`` for an exited container."""
    body: dict[str, Any] = {
        "exitCode": state.exit_code if state.exit_code is not None else 0,
        "reason": state.reason or ("Completed" if not state.exit_code else "Error"),
        "startedAt": state.started_at,
        "finishedAt": state.finished_at,
        "containerID": container_id_uri(state, scheme),
    }
    if state.message:
        body["message"] = state.message
    return body


def container_id_uri(state: ContainerState, scheme: str) -> str:
    """``docker://<id>`` (or ``labkit-sim://<id>``): kubelet prefixes ids with the runtime's name."""
    return f"{scheme}://{state.id}"


def container_status(
    *,
    name: str,
    image: str,
    current: ContainerState | None,
    previous: ContainerState | None,
    waiting: Waiting | None,
    restart_count: int,
    ready: bool,
    scheme: str = "docker",
    started: bool | None = None,
) -> dict[str, Any]:
    """One entry of ``status.containerStatuses``; `started` is False until a startup probe passed
    (None: running and not waiting)."""
    if started is None:
        started = current is not None and current.state == "running" and waiting is None
    status: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": ready,
        "restartCount": restart_count,
        "started": started,
        "state": state_dict(current, waiting, scheme=scheme),
        "lastState": {},
    }
    shown_waiting = waiting is not None
    if current is not None:
        status["imageID"] = current.image_id or ""
        status["containerID"] = container_id_uri(current, scheme)
    # The last termination: the current container's, when it exited and we now wait to
    # restart it; otherwise the previous attempt's.
    if shown_waiting and current is not None and current.state == "exited":
        status["lastState"] = {"terminated": terminated_dict(current, scheme)}
    elif previous is not None and previous.state == "exited":
        status["lastState"] = {"terminated": terminated_dict(previous, scheme)}
    return status


def pod_phase(
    restart_policy: str, statuses: Sequence[Mapping[str, Any]], *, container_count: int
) -> PodPhase:
    """The pod's phase from its container statuses (see the module docstring)."""
    running = waiting = stopped = succeeded = 0
    unknown = max(0, container_count - len(statuses))
    for cs in statuses:
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated")
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            if last is not None:
                stopped += 1
                if last.get("exitCode") == 0:
                    succeeded += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "OnFailure":
            return "Running"
        return "Failed"
    return "Pending"


def pod_conditions(
    *,
    statuses: Sequence[Mapping[str, Any]],
    phase: str,
    previous: Sequence[Mapping[str, Any]] | None,
    now: str,
    incomplete_init: Sequence[str] = (),
    readiness_gates: Sequence[str] = (),
    foreign: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """PodScheduled, Initialized, ContainersReady and Ready, keeping transition times.

    `incomplete_init` names the init containers that have not completed yet (empty once the pod
    is initialized); `foreign` are the pod's current conditions of other types (kept, and read for
    the `readiness_gates`)."""
    old = {c.get("type"): c for c in previous or []}
    others = {c.get("type"): c for c in foreign}
    unready = [cs["name"] for cs in statuses if not cs.get("ready")]
    ready = not unready and bool(statuses)
    reason = message = None
    if not ready:
        if phase in TERMINAL_PHASES:
            reason = "PodCompleted"
        else:
            reason = "ContainersNotReady"
            message = f"containers with unready status: [{' '.join(unready)}]"

    def condition(type_: str, status: bool, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
        value = "True" if status else "False"
        before = old.get(type_) or {}
        since = before.get("lastTransitionTime") if before.get("status") == value else None
        body: dict[str, Any] = {
            "type": type_,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": since or now,
        }
        if reason:
            body["reason"] = reason
        if message:
            body["message"] = message
        return body

    if incomplete_init:
        initialized = condition("Initialized", False, "ContainersNotInitialized",
                                f"containers with incomplete status: [{' '.join(incomplete_init)}]")
    else:
        initialized = condition("Initialized", True)
    gates_unready = []
    for gate in readiness_gates:
        found = others.get(gate)
        if found is None:
            gates_unready.append(f'corresponding condition of pod readiness gate "{gate}" does not exist.')
        elif found.get("status") != "True":
            gates_unready.append(f'the status of pod readiness gate "{gate}" is not "True", but {found.get("status")}')
    if ready and gates_unready:
        ready_condition = condition("Ready", False, "ReadinessGatesNotReady", ", ".join(gates_unready))
    else:
        ready_condition = condition("Ready", ready, reason, message)
    return [
        initialized,
        ready_condition,
        condition("ContainersReady", ready, reason, message),
        condition("PodScheduled", True),
        *(dict(c) for c in foreign),
    ]
