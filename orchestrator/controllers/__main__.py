"""`python -m orchestrator.controllers`: the controller manager process.

    python -m orchestrator.controllers --kubeconfig PATH [--leader-elect]
        [--lease-duration 15 --renew-deadline 10 --retry-period 2] [--workers N]
        [--node-monitor-grace-period 50] [--node-monitor-period 5] [--pod-eviction-timeout 300]
        [--node-eviction-rate 0.1] [--secondary-node-eviction-rate 0.01] [--unhealthy-zone-threshold 0.55]
        [--large-cluster-size-threshold 50] [--job-backoff-base 10]
        [--horizontal-pod-autoscaler-sync-period 15s] [--horizontal-pod-autoscaler-downscale-stabilization 5m0s]
        [--horizontal-pod-autoscaler-cpu-initialization-period 5m0s]
        [--controllers replicaset,deployment,...] [--namespace NS]
        [--grpc-port 10262] [--metrics-port 10257] [--bind-address 127.0.0.1]

Start-up: the gRPC server (health "" SERVING at once) and /metrics + /healthz; informers; once
synced, health "orchestrator.controllers.v1.ControllerManager" SERVING and the controllers
(at once, or while holding the Lease kube-system/kube-controller-manager with --leader-elect).
SIGTERM/SIGINT: controllers stop, the lease is released (a standby takes over within one
--retry-period), then informers and servers stop.

It prints one line when serving, for whoever started it to find the ports:
``controller-manager <identity> serving gRPC on HOST:PORT metrics on HOST:PORT``.

Kubernetes equivalent: cmd/kube-controller-manager
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator.client.component import Leadership, leader_elector, new_identity, serving
from orchestrator.client.metrics import parse_go_duration
from orchestrator.client.process import configure_logging, run_component
from orchestrator.client.rest import ApiClient
from orchestrator.controllers.disruption import EvictionRates
from orchestrator.controllers.manager import CONTROLLERS, ControllerManager, ManagerOptions
from orchestrator.controllers.metrics import ControllerMetrics
from orchestrator.controllers.service import SERVICE_NAME, ControllerManagerService
from orchestrator.proto.controllers_pb2_grpc import add_ControllerManagerServicer_to_server

log = logging.getLogger("orchestrator.controllers")

DEFAULT_GRPC_PORT = 10262
DEFAULT_METRICS_PORT = 10257  # kube-controller-manager's secure port (/healthz, /metrics)


def _duration(text: str) -> float:
    """A Go duration as kube-controller-manager's flags take it (``15s``, ``5m0s``), or plain seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_go_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 15s, 1m30s or 0.5") from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m orchestrator.controllers", description=__doc__.split("\n")[0])
    p.add_argument("--kubeconfig", required=True, help="kubeconfig with the controller manager's identity")
    p.add_argument("--leader-elect", action="store_true", help="run as a candidate on a Lease; only the leader acts")
    p.add_argument("--lease-duration", type=float, default=15.0)
    p.add_argument("--renew-deadline", type=float, default=10.0)
    p.add_argument("--retry-period", type=float, default=2.0)
    p.add_argument("--lease-name", default="kube-controller-manager")
    p.add_argument("--lease-namespace", default="kube-system")
    p.add_argument("--identity", help="the lease holder identity (default: hostname_<random>)")
    p.add_argument("--workers", type=int, help="workers per controller (default: each controller's own)")
    p.add_argument("--controllers", default=",".join(CONTROLLERS),
                   help=f"comma-separated controllers to run (known: {', '.join(CONTROLLERS)})")
    p.add_argument("--namespace", help="act in this namespace only (labs and tests); default: all")
    p.add_argument("--node-monitor-grace-period", type=float, default=50.0,
                   help="seconds without a lease renewal before a node is Unknown")
    p.add_argument("--node-monitor-period", type=float, default=5.0, help="how often node health is checked")
    p.add_argument("--pod-eviction-timeout", type=int, default=300,
                   help="default tolerationSeconds for not-ready/unreachable taints")
    p.add_argument("--node-eviction-rate", type=float, default=0.1,
                   help="nodes per second given the NoExecute taint in a healthy zone (default 0.1)")
    p.add_argument("--secondary-node-eviction-rate", type=float, default=0.01,
                   help="the same in a zone with more unhealthy nodes than --unhealthy-zone-threshold (default 0.01)")
    p.add_argument("--unhealthy-zone-threshold", type=float, default=0.55,
                   help="fraction of not-Ready nodes above which a zone is in PartialDisruption (default 0.55)")
    p.add_argument("--large-cluster-size-threshold", type=int, default=50,
                   help="zones of at most this many nodes stop evicting in PartialDisruption (default 50)")
    p.add_argument("--podgc-period", type=float, default=20.0)
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500)
    p.add_argument("--job-backoff-base", type=float, default=10.0,
                   help="seconds a Job waits before replacing its first failed pod, doubling per failure up to "
                        "6 minutes (default 10, as Kubernetes; labs and tests shorten it)")
    p.add_argument("--local-volume-dir", type=Path,
                   help="where the node agents keep local-path volumes (<their --root-dir>/persistentvolumes); "
                        "a released volume's directory is removed there (default: left in place)")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=_duration, default=15.0,
                   help="how often each HPA is synced, e.g. 15s or 1s (default 15s)")
    p.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=_duration, default=300.0,
                   help="how far back an HPA looks for a higher recommendation before scaling down (default 5m0s)")
    p.add_argument("--horizontal-pod-autoscaler-cpu-initialization-period", type=_duration, default=300.0,
                   help="after a pod starts, how long its CPU samples are doubted (default 5m0s)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address for gRPC and HTTP")
    p.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="0 picks a free port")
    p.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT, help="/metrics and /healthz; 0 picks")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    identity = new_identity(args.identity)
    options = ManagerOptions(
        controllers=tuple(c.strip() for c in args.controllers.split(",") if c.strip()),
        workers=args.workers,
        namespace=args.namespace,
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_monitor_period=args.node_monitor_period,
        pod_eviction_timeout=args.pod_eviction_timeout,
        eviction_rates=EvictionRates(
            node_eviction_rate=args.node_eviction_rate,
            secondary_node_eviction_rate=args.secondary_node_eviction_rate,
            unhealthy_zone_threshold=args.unhealthy_zone_threshold,
            large_cluster_size_threshold=args.large_cluster_size_threshold,
        ),
        podgc_period=args.podgc_period,
        terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
        job_backoff_base=args.job_backoff_base,
        local_volume_dir=args.local_volume_dir,
        hpa_sync_period=args.horizontal_pod_autoscaler_sync_period,
        hpa_downscale_stabilization=args.horizontal_pod_autoscaler_downscale_stabilization,
        hpa_cpu_initialization_period=args.horizontal_pod_autoscaler_cpu_initialization_period,
    )
    # Leader election has a client (a connection pool) of its own, as kube-controller-manager's:
    # a burst of 500 pod creates must not queue the Lease renewal behind it (a 30,000-pod run lost
    # its leadership 4 times in its first 6 minutes that way, and each loss restarts every controller).
    async with ApiClient.from_kubeconfig(args.kubeconfig, user_agent="orchestrator-controller-manager") as client, \
            ApiClient.from_kubeconfig(args.kubeconfig,
                                      user_agent="orchestrator-controller-manager/leader-election") as election:
        metrics: ControllerMetrics | None = None
        manager = ControllerManager(client, options=options, identity=identity,
                                    observer=lambda *a: metrics.observe(*a) if metrics else None)
        elector = leader_elector(election, args, identity=identity, on_started_leading=manager.on_started_leading)
        if elector is not None:
            leadership = Leadership(identity, True, lambda: manager.leading, lambda: elector.leader)
        else:
            leadership = Leadership(identity, False, lambda: manager.leading, lambda: identity)
        metrics = ControllerMetrics(manager.controllers, is_leader=lambda: manager.leading)
        service = ControllerManagerService(manager, leadership=leadership)
        async with serving("controller-manager", identity, bind_address=args.bind_address, grpc_port=args.grpc_port,
                           metrics_port=args.metrics_port, service_name=SERVICE_NAME,
                           add_servicer=lambda server: add_ControllerManagerServicer_to_server(service, server),
                           metrics=metrics.exposition) as up, asyncio.TaskGroup() as tg:
            tg.create_task(manager.run(elector), name="controller-manager")
            await _wait_synced(manager)
            await up.synced()


async def _wait_synced(manager: ControllerManager) -> None:
    while not manager.synced:
        await asyncio.sleep(0.05)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=args.verbose)
    return run_component("controller-manager", lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
