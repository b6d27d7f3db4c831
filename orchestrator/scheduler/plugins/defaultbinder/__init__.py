"""DefaultBinder: binds the pod by posting a Binding through the API server.

The posting itself is `Handle.bind_pod`, injected by the process that owns the HTTP client, so
this package stays free of I/O. A failed binding is an Error status (the pod is retried).

Kubernetes equivalent: pkg/scheduler/framework/plugins/defaultbinder
"""

from __future__ import annotations

from orchestrator.api.errors import ApiError
from orchestrator.scheduler.framework.interfaces import SUCCESS, CycleState, Handle, PluginArgs, Pod, Status

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        self._bind_pod = handle.bind_pod if handle is not None else None

    async def bind(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        if self._bind_pod is None:
            return Status.error("DefaultBinder has no Handle.bind_pod to post the Binding with")
        try:
            await self._bind_pod(pod, node_name)
        except ApiError as exc:  # e.g. Conflict: the pod was bound or deleted meanwhile
            return Status.error(f"binding rejected: {exc.message}")
        return SUCCESS
