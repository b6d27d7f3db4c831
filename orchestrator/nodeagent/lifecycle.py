"""A container's lifecycle beyond start and stop: the postStart/preStop hooks and the termination message.

Hooks (``lifecycle.postStart``, ``lifecycle.preStop``), each one handler:

- ``exec``: the command runs in the container; an exit code other than 0 is a failure;
- ``httpGet``: GET on the pod's IP (or ``host``), as an httpGet probe; a status outside 200..399
  is a failure;
- ``sleep``: ``seconds`` of waiting (a preStop that lets load balancers catch up).

postStart runs right after the container starts and the container is not reported running
until it returns; when it fails the container is killed (``FailedPostStartHook``) and restarted
per the restartPolicy. preStop runs before every kill (deletion, a failed liveness or startup
probe) and counts against the grace period; what is left of the grace, at least 2 s, is then
given to SIGTERM.

The termination message: the node agent gives each container start a file of its own (kubelet:
``/var/lib/kubelet/pods/<uid>/containers/<name>/<id>``) mounted at ``terminationMessagePath``
(default ``/dev/termination-log``). After the exit, its first 4096 bytes are
``state.terminated.message``; with ``terminationMessagePolicy: FallbackToLogsOnError`` an empty
file and a failed exit take the last 80 lines of the log instead (at most 2048 bytes).

Kubernetes equivalent: pkg/kubelet/lifecycle/handlers.go, pkg/kubelet/kuberuntime/kuberuntime_container.go
(executePreStopHook, getTerminationMessage, startContainer)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.api.errors import ApiError
from orchestrator.nodeagent.probes import run_probe
from orchestrator.nodeagent.runtimes.base import ContainerState, Runtime

MAX_MESSAGE_BYTES = 4096
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048


async def run_hook(handler: Mapping[str, Any], *, runtime: Runtime, container_id: str,
                   pod_ip: Callable[[], Awaitable[str | None]], container_ports: Mapping[str, int],
                   timeout: float) -> str | None:
    """Run one hook handler; None on success, else what went wrong (kubelet's event message)."""
    if handler.get("sleep") is not None:
        await asyncio.sleep(min(float((handler["sleep"] or {}).get("seconds") or 0), timeout))
        return None
    if handler.get("exec") is not None:
        command = list((handler["exec"] or {}).get("command") or [])
        try:
            result = await runtime.exec(container_id, command, timeout=timeout)
        except ApiError as err:
            return f"Exec lifecycle hook ({command}) failed - error: {err.message}"
        if result.timed_out:
            return f"Exec lifecycle hook ({command}) failed - error: command timed out"
        if result.exit_code != 0:
            output = result.output.decode(errors="replace")
            return (f"Exec lifecycle hook ({command}) for Container in Pod failed - error: command "
                    f"'{' '.join(command)}' exited with {result.exit_code}: {output}, message: {output!r}")
        return None
    if handler.get("httpGet") is not None:
        outcome = await run_probe({"httpGet": handler["httpGet"]}, runtime=runtime, container_id=container_id,
                                  pod_ip=await pod_ip(), container_ports=container_ports, timeout=timeout)
        return None if outcome.success else f"HTTP lifecycle hook failed - error: {outcome.message}"
    return "the lifecycle hook has no handler (exec, httpGet or sleep)"


def make_termination_log(path: Path) -> str:
    """An empty file any user of the container may write; its path on the node."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    path.chmod(0o666)
    return str(path)


def read_termination_log(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_MESSAGE_BYTES).decode(errors="replace")
    except OSError:
        return ""


async def termination_message(container: Mapping[str, Any], state: ContainerState, *, runtime: Runtime,
                              log_path: str | None) -> str:
    """``state.terminated.message`` for an exited container (see the module docstring)."""
    message = await asyncio.to_thread(read_termination_log, log_path)
    if message or container.get("terminationMessagePolicy") != "FallbackToLogsOnError" or state.exit_code == 0:
        return message
    lines = []
    try:
        async for line in runtime.logs(state.id, tail_lines=FALLBACK_LINES):
            lines.append(line)
    except ApiError:
        return ""
    return b"".join(lines)[-FALLBACK_BYTES:].decode(errors="replace")
