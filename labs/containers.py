"""What the node agent made of a pod: its containers, their states over time, and how they were stopped.

    containers.of_pod(lab, "hello")            # the Docker containers of a pod (or its container statuses)
    samples = containers.sample(lab, "crasher", seconds=20)   # container state every 0.25 s
    containers.plot_timeline(samples)          # running / waiting / terminated bands, restartCount
    containers.backoff_delays(samples)         # the CrashLoopBackOff delays the agent announced
    containers.delete_and_time(lab, "a", "b")  # delete pods, seconds until each is gone
    containers.docker_signals(lab, uid, since=t0)   # the kill/die events Docker recorded

With the Docker runtime the containers are real: `of_pod` and `docker_signals` ask the Docker
Engine (the `docker` SDK) and find a pod's containers by the label ``io.kubernetes.pod.uid`` the
node agent puts on every container (the pod *name* is not enough: another lab on the same engine
may run a pod of the same name). With the simulated runtime there is no engine to ask; `of_pod`
shows the container statuses the agent reported instead, and `docker_signals` returns no rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from labs.errors import LabError
from labs.table import Table
from labs.waiting import wait_for

POD_UID_LABEL = "io.kubernetes.pod.uid"
STATE_COLOURS = {"running": "#4caf50", "waiting": "#ff9800", "terminated": "#e53935"}


def get_pod(lab: Any, pod: str, *, namespace: str = "default") -> dict[str, Any] | None:
    """The pod as the API server has it now, or None when it is gone."""
    with lab.http() as client:
        response = client.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _docker() -> Any:
    import docker  # the SDK the Docker runtime uses; imported only when asked

    return docker.from_env(timeout=30)


def of_pod(lab: Any, pod: str, *, namespace: str = "default") -> Table:
    """The containers behind ``pod``: from Docker (name, id, image, state, exit code, labels), or, on
    the simulated runtime, from the pod's ``status.containerStatuses``."""
    obj = get_pod(lab, pod, namespace=namespace)
    if obj is None:
        raise LabError(f"pod {namespace}/{pod} does not exist")
    if lab.runtime != "docker":
        return Table(
            (
                {
                    "container": s.get("name"),
                    "containerID": s.get("containerID"),
                    "image": s.get("image"),
                    "state": next(iter(s.get("state") or {"unknown": None})),
                    "restartCount": s.get("restartCount"),
                }
                for s in (obj.get("status") or {}).get("containerStatuses") or ()
            ),
            title=f"containers of pod {namespace}/{pod} (simulated runtime: as the node agent reports them)",
        )
    uid = obj["metadata"]["uid"]
    client = _docker()
    try:
        found = client.containers.list(all=True, filters={"label": f"{POD_UID_LABEL}={uid}"}, ignore_removed=True)
        rows = [
            {
                "name": c.name,
                "id": c.short_id,
                "image": ",".join(c.image.tags) if c.image is not None else "",
                "state": c.attrs["State"]["Status"],
                "exit code": c.attrs["State"]["ExitCode"],
                "labels": ", ".join(
                    f"{k}={v}"
                    for k, v in sorted(c.labels.items())
                    if k.startswith(("io.kubernetes.", "labkit."))
                ),
            }
            for c in found
        ]
    finally:
        client.close()
    return Table(rows, title=f"Docker containers of pod {namespace}/{pod} (label {POD_UID_LABEL}={uid})")


def container_labels(lab: Any, pod: str, *, namespace: str = "default") -> dict[str, str]:
    """The labels of the pod's current Docker container (empty on the simulated runtime)."""
    if lab.runtime != "docker":
        return {}
    obj = get_pod(lab, pod, namespace=namespace)
    statuses = ((obj or {}).get("status") or {}).get("containerStatuses") or ()
    if not statuses or not statuses[0].get("containerID"):
        raise LabError(f"pod {namespace}/{pod} has no container yet")
    container_id = statuses[0]["containerID"].partition("://")[2]
    client = _docker()
    try:
        return dict(client.containers.get(container_id).labels)
    finally:
        client.close()


def _state_row(t: float, obj: dict[str, Any] | None, container: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "t": round(t, 2),
        "phase": None,
        "state": "gone",
        "reason": "",
        "restartCount": None,
        "exitCode": None,
        "lastExitCode": None,
        "message": "",
    }
    if obj is None:
        return row
    status = obj.get("status") or {}
    row["phase"] = status.get("phase")
    statuses = status.get("containerStatuses") or ()
    chosen = next((s for s in statuses if container in (None, s.get("name"))), None)
    if chosen is None:
        row["state"] = "waiting"
        row["reason"] = "ContainerCreating"
        return row
    state = chosen.get("state") or {}
    kind = next(iter(state), "waiting")
    detail = state.get(kind) or {}
    row.update(
        state=kind,
        reason=detail.get("reason") or "",
        restartCount=chosen.get("restartCount"),
        exitCode=detail.get("exitCode"),
        message=detail.get("message") or "",
    )
    last = (chosen.get("lastState") or {}).get("terminated") or {}
    row["lastExitCode"] = last.get("exitCode")
    return row


def sample(
    lab: Any,
    pod: str,
    *,
    seconds: float,
    interval: float = 0.25,
    namespace: str = "default",
    container: str | None = None,
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> Table:
    """The pod's (first, or named) container every ``interval`` seconds, for at most ``seconds`` or
    until ``until(rows)`` is true: t, phase, state (running/waiting/terminated/gone), reason,
    restartCount, exit codes, message."""
    rows = []
    start = time.monotonic()
    with lab.http() as client:
        while (now := time.monotonic() - start) <= seconds:
            response = client.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
            obj = response.json() if response.status_code == 200 else None
            rows.append(_state_row(now, obj, container))
            if until is not None and until(rows):
                break
            time.sleep(max(0.0, interval - (time.monotonic() - start - now)))
    return Table(rows, title=f"pod {namespace}/{pod}, sampled every {interval}s")


def state_changes(samples: Sequence[dict[str, Any]]) -> Table:
    """Only the samples where the state, reason or restartCount changed: the story in a few rows."""
    rows: list[dict[str, Any]] = []
    for s in samples:
        key = (s["state"], s["reason"], s["restartCount"])
        if not rows or (rows[-1]["state"], rows[-1]["reason"], rows[-1]["restartCount"]) != key:
            rows.append(dict(s))
    return Table(
        rows,
        title="state changes",
        columns=("t", "phase", "state", "reason", "restartCount", "exitCode", "lastExitCode", "message"),
    )


def backoff_delays(samples: Sequence[dict[str, Any]]) -> list[float]:
    """The CrashLoopBackOff delays the agent announced, one per uninterrupted back-off stretch, in order
    (its waiting message reads "back-off 2s restarting failed container=..." -> 2.0)."""
    return [delay for _, delay in _backoff_stretches(samples)]


def _backoff_stretches(samples: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    stretches: list[tuple[float, float]] = []
    in_stretch = False
    for s in samples:
        message = s.get("message") or ""
        if s.get("reason") == "CrashLoopBackOff" and message.startswith("back-off "):
            if not in_stretch:
                stretches.append((s["t"], float(message.split()[1].rstrip("s"))))
            in_stretch = True
        else:
            in_stretch = False
    return stretches


def plot_timeline(samples: Sequence[dict[str, Any]], *, title: str = "") -> Any:
    """Coloured bands for the container state (running, waiting, terminated) and restartCount as a step line."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    import labs.plots  # noqa: F401  (registers Figure display in Jupyter)

    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    for current, following in zip(samples, [*samples[1:], None], strict=True):
        end = following["t"] if following is not None else current["t"]
        colour = STATE_COLOURS.get(current["state"])
        if colour is not None and end > current["t"]:
            ax.axvspan(current["t"], end, color=colour, alpha=0.35, linewidth=0)
    for start_t, delay in _backoff_stretches(samples):
        ax.annotate(
            f"back-off {delay:g}s", (start_t, 0), xytext=(2, 4), textcoords="offset points", fontsize="small"
        )
    times = [s["t"] for s in samples if s["restartCount"] is not None]
    counts = [s["restartCount"] for s in samples if s["restartCount"] is not None]
    if times:
        ax.step(times, counts, where="post", color="black", label="restartCount")
    ax.set_xlabel("seconds")
    ax.set_ylabel("restartCount")
    ax.set_title(title or "container state over time")
    handles = [Patch(color=c, alpha=0.35, label=s) for s, c in STATE_COLOURS.items()]
    ax.legend(handles=[*handles, *ax.get_legend_handles_labels()[0]], loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def delete_and_time(
    lab: Any, *pods: str, namespace: str = "default", timeout: float = 90.0
) -> dict[str, float]:
    """Delete ``pods`` at once (each with its own terminationGracePeriodSeconds) and return, per pod,
    the seconds until the API server no longer has it."""
    start = time.monotonic()
    with lab.http() as client:
        for pod in pods:
            response = client.delete(f"/api/v1/namespaces/{namespace}/pods/{pod}")
            if response.status_code not in (200, 202):
                raise LabError(f"deleting pod {pod}: {response.status_code} {response.text}")
        gone: dict[str, float] = {}
        while len(gone) < len(pods):
            for pod in pods:
                if (
                    pod not in gone
                    and client.get(f"/api/v1/namespaces/{namespace}/pods/{pod}").status_code == 404
                ):
                    gone[pod] = round(time.monotonic() - start, 1)
            if time.monotonic() - start > timeout:
                raise LabError(f"pods still there after {timeout:.0f}s: {sorted(set(pods) - set(gone))}")
            time.sleep(0.1)
    return gone


def docker_signals(lab: Any, pod_uid: str, *, since: datetime, until: datetime | None = None) -> Table:
    """Docker's own record of how the pod's containers were stopped: each ``kill`` (with its signal)
    and ``die`` (with its exit code), with seconds since ``since``. No rows on the simulated runtime."""
    if lab.runtime != "docker":
        return Table(
            [], title="no Docker engine: the simulated runtime has no event log", columns=("t", "action")
        )
    # The Docker SDK sends whole seconds (it drops the fraction), so "now" would cut off an event
    # of the last fraction of a second — such as the SIGKILL that has just ended a pod.
    until = until or datetime.now(UTC) + timedelta(seconds=1)
    client = _docker()
    try:
        events = client.events(
            since=since,
            until=until,
            decode=True,
            filters={"type": "container", "label": f"{POD_UID_LABEL}={pod_uid}"},
        )
        rows = []
        for event in events:
            action = event.get("Action") or event.get("status")
            if action not in ("kill", "die", "stop"):
                continue
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            at = event.get("timeNano", 0) / 1e9
            rows.append(
                {
                    "t": round(at - since.timestamp(), 1),
                    "action": action,
                    "signal": {"15": "SIGTERM (15)", "9": "SIGKILL (9)"}.get(
                        attributes.get("signal", ""), attributes.get("signal", "")
                    ),
                    "exitCode": attributes.get("exitCode", ""),
                    "container": attributes.get("name", ""),
                }
            )
    finally:
        client.close()
    return Table(
        rows,
        title=f"Docker events of pod uid {pod_uid}",
        columns=("t", "action", "signal", "exitCode", "container"),
    )


def wait_running(lab: Any, *pods: str, namespace: str = "default", timeout: float = 60.0) -> None:
    """Wait until each of ``pods`` is in phase Running (its containers started)."""
    def phases() -> dict[str, Any]:
        return {
            p: ((get_pod(lab, p, namespace=namespace) or {}).get("status") or {}).get("phase") for p in pods
        }

    wait_for(
        lambda: all(v == "Running" for v in phases().values()) or None,
        timeout=timeout,
        what=f"pods {', '.join(pods)} to be Running",
    )
