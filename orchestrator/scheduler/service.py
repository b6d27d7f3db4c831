"""The scheduler's gRPC service: Explain, ListQueue, GetStatus, plus grpc.health.v1.Health.

Runs on the scheduler's own event loop (grpc.aio), so every answer reads the live queue and
cache without locks. Explain is a dry run (Framework.explain): every node is filtered and every
feasible node scored, nothing is sampled, assumed or bound, and the scheduler's rotation of the
start node is left alone, so asking does not change what the scheduler does next.

The health service reports SERVING for "" (the process) from start; the service name
"orchestrator.scheduler.v1.Scheduler" is SERVING once the informers have synced.

Kubernetes equivalent: none (kube-scheduler explains only through events and logs); the
health service is grpc's standard one.
"""

from __future__ import annotations

import json

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.api.errors import ApiError, NotFound
from orchestrator.client.component import Leadership
from orchestrator.proto import scheduler_pb2, scheduler_pb2_grpc
from orchestrator.scheduler.framework.runtime import Explanation
from orchestrator.scheduler.scheduler import Scheduler

SERVICE_NAME = "orchestrator.scheduler.v1.Scheduler"


def explanation_to_proto(explanation: Explanation) -> scheduler_pb2.ExplainResponse:
    """Explanation (flat tuples) -> ExplainResponse, nodes in snapshot order."""
    scores = {s.node_name: s for s in explanation.scores}
    nodes = []
    for verdict in explanation.verdicts:
        score = scores.get(verdict.node_name)
        nodes.append(
            scheduler_pb2.NodeExplanation(
                node_name=verdict.node_name,
                feasible=verdict.feasible,
                code=verdict.code,
                plugin=verdict.plugin,
                reasons=list(verdict.reasons),
                total_score=score.total if score is not None else 0,
                scores=[
                    scheduler_pb2.PluginScore(
                        plugin=p.plugin, raw=p.raw, normalized=p.normalized, weight=p.weight, weighted=p.weighted
                    )
                    for p in (score.plugin_scores if score is not None else ())
                ],
            )
        )
    return scheduler_pb2.ExplainResponse(
        pod=explanation.pod_key,
        profile=explanation.profile,
        chosen_node=explanation.chosen_node or "",
        message=explanation.message,
        nodes=nodes,
    )


class SchedulerService(scheduler_pb2_grpc.SchedulerServicer):
    def __init__(self, scheduler: Scheduler, *, leadership: Leadership) -> None:
        self.scheduler = scheduler
        self.leadership = leadership

    async def Explain(  # noqa: N802 - gRPC method names are the proto's
        self, request: scheduler_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.ExplainResponse:
        if request.pod_json:
            try:
                pod = json.loads(request.pod_json)
            except json.JSONDecodeError as err:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"pod_json is not valid JSON: {err}")
            if not isinstance(pod, dict) or not isinstance(pod.get("metadata"), dict):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "pod_json must be a Pod object with metadata")
        else:
            if not request.name:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "give a pod name (and namespace) or pod_json")
            namespace = request.namespace or "default"
            pod = self.scheduler.pod_from_informer(f"{namespace}/{request.name}")
            if pod is None:
                try:
                    pod = await self.scheduler.client.get("pods", request.name, namespace=namespace)
                except NotFound:
                    await context.abort(grpc.StatusCode.NOT_FOUND, f'pods "{request.name}" not found in {namespace}')
                except ApiError as err:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
        return explanation_to_proto(self.scheduler.explain(pod))

    async def ListQueue(  # noqa: N802
        self, request: scheduler_pb2.ListQueueRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.ListQueueResponse:
        return scheduler_pb2.ListQueueResponse(
            pods=[
                scheduler_pb2.QueuedPod(pod=e.pod_key, queue=e.queue, attempts=e.attempts, last_failure=e.last_failure)
                for e in self.scheduler.queue.list()
            ]
        )

    async def GetStatus(  # noqa: N802
        self, request: scheduler_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.GetStatusResponse:
        s = self.scheduler
        return scheduler_pb2.GetStatusResponse(
            identity=self.leadership.identity,
            leader=self.leadership.is_leader(),
            leader_election=self.leadership.leader_election,
            leader_identity=self.leadership.leader_identity(),
            profiles=list(s.frameworks),
            counters=dict(s.counters),
            queue=s.queue.counts(),
            nodes=s.cache.node_count,
            pods=s.cache.pod_count,
        )


def grpc_health_probe(address: str, *, service: str = "", timeout: float = 1.0) -> bool:
    """True if the gRPC health service at `address` answers SERVING (a supervisor probe)."""
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING
