"""`python -m orchestrator.scheduler`: the scheduler process.

    python -m orchestrator.scheduler --kubeconfig PATH [--config YAML] [--leader-elect]
        [--lease-duration 15 --renew-deadline 10 --retry-period 2]
        [--grpc-port 10260] [--metrics-port 10259] [--bind-address 127.0.0.1]

Start-up order, and shutdown in reverse (SIGTERM or SIGINT):

1. the gRPC server (health "" SERVING at once) and the HTTP endpoint (/metrics, /healthz);
2. informers for pods and nodes, the event recorder, the queue's timers;
3. once the informers have synced: health "orchestrator.scheduler.v1.Scheduler" SERVING, and
   either the scheduling loop (no leader election) or the candidate loop: wait for the Lease
   kube-system/kube-scheduler, schedule while leading, stop scheduling when a renewal fails
   for --renew-deadline and stand by again. (kube-scheduler exits instead and relies on being
   restarted; a lab has nobody to restart it.) On shutdown the lease is released, so a standby
   takes over within one --retry-period instead of a whole --lease-duration.

Informers run on standbys too, so a standby that takes over starts with a warm cache.

Kubernetes equivalent: cmd/kube-scheduler/app/server.go
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from orchestrator.client.component import Leadership, leader_elector, new_identity, serving
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import SharedInformerFactory
from orchestrator.client.leaderelection import LeaderElector
from orchestrator.client.process import configure_logging, run_component
from orchestrator.client.rest import ApiClient
from orchestrator.proto.scheduler_pb2_grpc import add_SchedulerServicer_to_server
from orchestrator.scheduler.config import DEFAULT_SCHEDULER_NAME, default_config, load_config_file
from orchestrator.scheduler.scheduler import Scheduler
from orchestrator.scheduler.service import SERVICE_NAME, SchedulerService

log = logging.getLogger("orchestrator.scheduler")

DEFAULT_GRPC_PORT = 10260
DEFAULT_METRICS_PORT = 10259  # kube-scheduler's secure port, where it serves /healthz and /metrics


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m orchestrator.scheduler", description=__doc__.split("\n")[0])
    p.add_argument("--kubeconfig", required=True, help="kubeconfig with the scheduler's identity")
    p.add_argument("--config", help="KubeSchedulerConfiguration YAML (profiles, plugins, weights)")
    p.add_argument("--leader-elect", action="store_true", help="run as a candidate on a Lease; only the leader schedules")
    p.add_argument("--lease-duration", type=float, default=15.0)
    p.add_argument("--renew-deadline", type=float, default=10.0)
    p.add_argument("--retry-period", type=float, default=2.0)
    p.add_argument("--lease-name", default="kube-scheduler", help="the Lease (leader-elect-resource-name)")
    p.add_argument("--lease-namespace", default="kube-system")
    p.add_argument("--identity", help="the lease holder identity (default: hostname_<random>)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address for gRPC and HTTP")
    p.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="0 picks a free port")
    p.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT, help="/metrics and /healthz; 0 picks")
    p.add_argument("--node-selector", help="only consider nodes with these labels (a label selector)")
    p.add_argument("--max-concurrent-binds", type=int, default=64)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def _lead_and_schedule(elector: LeaderElector, leading: asyncio.Event, scheduler: Scheduler) -> None:
    """Candidate -> leader (scheduling) -> renewal failed (stop scheduling) -> candidate again."""
    while True:
        leading.clear()
        async with asyncio.TaskGroup() as tg:
            election = tg.create_task(elector.run(), name="leader-election")
            became_leader = tg.create_task(leading.wait(), name="leader-election-wait")
            await asyncio.wait({election, became_leader}, return_when=asyncio.FIRST_COMPLETED)
            if leading.is_set():
                loop = tg.create_task(scheduler.run(), name="scheduling-loop")
                await asyncio.wait({election, loop}, return_when=asyncio.FIRST_COMPLETED)
                loop.cancel()
            became_leader.cancel()
        log.warning("%s: not leading any more; standing by", elector.identity)


async def serve(args: argparse.Namespace) -> None:
    config = load_config_file(args.config) if args.config else default_config()
    identity = new_identity(args.identity)
    # Leader election has a client (a connection pool) of its own, as kube-scheduler's: binds in
    # flight must not queue the Lease renewal behind them.
    async with ApiClient.from_kubeconfig(args.kubeconfig, user_agent="orchestrator-scheduler") as client, \
            ApiClient.from_kubeconfig(args.kubeconfig, user_agent="orchestrator-scheduler/leader-election") as election:
        recorder = EventRecorder(client, component=DEFAULT_SCHEDULER_NAME, host=identity)
        scheduler = Scheduler(client, config=config, recorder=recorder, max_concurrent_binds=args.max_concurrent_binds)
        factory = SharedInformerFactory(client)
        scheduler.attach(factory, node_selector=args.node_selector)
        leading = asyncio.Event()
        elector = leader_elector(election, args, identity=identity, on_started_leading=leading.set,
                                 on_stopped_leading=leading.clear)
        if elector is not None:
            leadership = Leadership(identity, True, lambda: elector.is_leader, lambda: elector.leader)
        else:
            leadership = Leadership(identity, False, lambda: True, lambda: identity)
        service = SchedulerService(scheduler, leadership=leadership)
        async with serving("scheduler", identity, bind_address=args.bind_address, grpc_port=args.grpc_port,
                           metrics_port=args.metrics_port, service_name=SERVICE_NAME,
                           add_servicer=lambda server: add_SchedulerServicer_to_server(service, server),
                           metrics=scheduler.metrics.exposition) as up, asyncio.TaskGroup() as tg:
            tg.create_task(factory.run(), name="informers")
            tg.create_task(recorder.run(), name="event-recorder")
            tg.create_task(scheduler.housekeeping(), name="housekeeping")
            await factory.wait_for_sync()
            log.info("informers synced: %d nodes, %d pods in the cache, %d pending",
                     scheduler.cache.node_count, scheduler.cache.pod_count, len(scheduler.queue))
            await up.synced()
            if elector is None:
                tg.create_task(scheduler.run(), name="scheduling-loop")
            else:
                tg.create_task(_lead_and_schedule(elector, leading, scheduler), name="candidate")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=args.verbose)
    return run_component("scheduler", lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
