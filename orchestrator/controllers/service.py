"""The controller manager's gRPC service: ListControllers, Reconcile, GetStatus, plus grpc.health.v1.

Runs on the manager's own event loop (grpc.aio), so answers read the live queues without locks.
The health service reports SERVING for "" (the process) from the start, and for
"orchestrator.controllers.v1.ControllerManager" once the informers have synced.

Reconcile forces one key: it is queued ahead of any backoff and the call waits for that sync.
On a standby it fails with FAILED_PRECONDITION: only the leader reconciles.

Kubernetes equivalent: none (kube-controller-manager exposes only /metrics and logs); the
health service is grpc's standard one.
"""

from __future__ import annotations

import grpc

from orchestrator.client.component import Leadership
from orchestrator.controllers.manager import ControllerManager
from orchestrator.proto import controllers_pb2, controllers_pb2_grpc

__all__ = ["SERVICE_NAME", "ControllerManagerService"]

SERVICE_NAME = "orchestrator.controllers.v1.ControllerManager"


class ControllerManagerService(controllers_pb2_grpc.ControllerManagerServicer):
    def __init__(self, manager: ControllerManager, *, leadership: Leadership) -> None:
        self.manager = manager
        self.leadership = leadership

    async def ListControllers(  # noqa: N802 - gRPC method names are the proto's
        self, request: controllers_pb2.ListControllersRequest, context: grpc.aio.ServicerContext
    ) -> controllers_pb2.ListControllersResponse:
        return controllers_pb2.ListControllersResponse(controllers=[
            controllers_pb2.ControllerInfo(
                name=c.name, workers=c.workers, queue_depth=c.queue.depth, in_flight=c.queue.in_flight,
                delayed=c.queue.delayed, reconciles=c.stats.reconciles, errors=c.stats.errors,
                last_error=c.stats.last_error, last_error_key=c.stats.last_error_key,
                last_sync_unix=c.stats.last_sync, retries=c.queue.retries,
            )
            for c in self.manager.controllers
        ])

    async def Reconcile(  # noqa: N802
        self, request: controllers_pb2.ReconcileRequest, context: grpc.aio.ServicerContext
    ) -> controllers_pb2.ReconcileResponse:
        try:
            controller = self.manager.controller(request.controller)
        except KeyError as err:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(err.args[0]))
        if not request.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name is required")
        if not self.manager.leading:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"{self.leadership.identity} is a standby; the leader is "
                                f"{self.leadership.leader_identity() or 'unknown'}")
        key = controller.key_for(request.namespace, request.name)
        try:
            error = await controller.reconcile_now(key, timeout=request.timeout_seconds or 30.0)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"{controller.name} did not sync {key} in time")
        return controllers_pb2.ReconcileResponse(key=key, ok=error is None,
                                                 error="" if error is None else f"{type(error).__name__}: {error}")

    async def GetStatus(  # noqa: N802
        self, request: controllers_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> controllers_pb2.GetStatusResponse:
        return controllers_pb2.GetStatusResponse(
            identity=self.leadership.identity,
            leader=self.leadership.is_leader(),
            leader_election=self.leadership.leader_election,
            leader_identity=self.leadership.leader_identity(),
            controllers=[c.name for c in self.manager.controllers],
        )


