"""Build and run node agents: one node, or a fleet of simulated nodes in one process.

`run_nodes` is what ``python -m orchestrator.nodeagent`` calls. It connects the runtime, starts
the log server (one port for all nodes of the process: each Node's
``status.daemonEndpoints.kubeletEndpoint.Port`` names it), and runs an `AgentGroup`.

A fleet (``--count 500 --name-prefix sim-``) is KWOK's idea: N Nodes named ``sim-1`` ..
``sim-N``, each with its own Node object and Lease, all in one process on one
`SimulatedRuntime`. It costs one informer, one lease timer loop and one relist loop for all of
them. The lease loop runs on its own thread with its own connections
(orchestrator/nodeagent/heartbeat.py) and pod statuses go through one coalescing
`StatusManager`, so pod work never delays a heartbeat. ``--first-index`` lets several fleet
processes share one numbering (``labctl up --nodes 1000``: node-1..node-250, node-251..). A node token may only act for its own node, so a fleet needs a token allowed to act for
all of them: give it the controller-manager's or the admin kubeconfig
(``<lab home>/kubeconfigs/controller-manager.kubeconfig`` or ``<lab home>/kubeconfig``).

The runtime labels every container with the lab's cluster id (`cluster.cluster_id` of the
kubeconfig: a hash of the lab's CA), and lists only its own cluster's, so two labs on one
Docker engine that both run a ``node-1`` never adopt or remove each other's containers.

Kubernetes equivalent: sigs.k8s.io/kwok (many fake nodes from one process); cmd/kubelet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from orchestrator.api.errors import Unavailable
from orchestrator.client.rest import ApiClient
from orchestrator.nodeagent.agent import AgentGroup, NodeAgent, NodeConfig
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.nodeagent.credentials import InPodAccess, kubeconfig_ca, start_in_pod_access
from orchestrator.nodeagent.heartbeat import LeaseRenewer
from orchestrator.nodeagent.logserver import LogServer
from orchestrator.nodeagent.metrics import AgentMetrics
from orchestrator.nodeagent.runtimes.base import Runtime
from orchestrator.nodeagent.serving import server_context
from orchestrator.nodeagent.stats import SummaryProvider
from orchestrator.nodeagent.statusmanager import StatusManager

log = logging.getLogger(__name__)

RuntimeName = Literal["docker", "simulated"]


def fleet_names(*, count: int, prefix: str, first: int = 1) -> list[str]:
    """``sim-1`` .. ``sim-<count>`` (or from ``sim-<first>``: several fleets make one numbering)."""
    if count < 1:
        raise ValueError(f"--count must be at least 1, got {count}")
    if first < 0:
        raise ValueError(f"--first-index must be >= 0, got {first}")
    return [f"{prefix}{i}" for i in range(first, first + count)]


@dataclass(frozen=True)
class ProcessConfig:
    """Everything of one agent process beyond the per-node settings."""

    kubeconfig: Path
    runtime: RuntimeName
    nodes: Sequence[NodeConfig]
    log_port: int = 10250
    log_bind: str = "0.0.0.0"
    metrics_port: int | None = None
    accepted_tokens: Sequence[str] = ()  # for the log endpoint; empty: the kubeconfig's token
    relist_seconds: float = 1.0
    orphan_check_seconds: float = 10.0
    max_streams: int = 64  # exec/attach/port-forward streams at once (orchestrator/nodeagent/streamserver.py)
    stream_idle_timeout: float = 4 * 3600.0
    report_creating: bool = True  # False: pods go straight to Running in one status update (KWOK-style)
    status_senders: int = 4  # pod status PATCHes in flight at once (orchestrator/nodeagent/statusmanager.py)
    # HTTPS for the logs and stream endpoint, callers by client certificate (orchestrator/nodeagent/serving.py)
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None


async def connect_runtime(name: RuntimeName, *, cluster: str) -> Runtime:
    """The runtime `name` for the lab `cluster` (see orchestrator/nodeagent/cluster.py)."""
    if name == "docker":
        from orchestrator.nodeagent.runtimes.docker import DockerRuntime

        return await DockerRuntime.connect(cluster=cluster)
    if name == "simulated":
        from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime

        return SimulatedRuntime(cluster=cluster)
    raise ValueError(f"unknown runtime {name!r}; allowed: docker, simulated")


async def run_nodes(config: ProcessConfig, *, ready: asyncio.Event | None = None) -> None:
    """Run the node(s) until cancelled. Containers keep running after it returns."""
    if len(config.nodes) > 1 and config.runtime != "simulated":
        raise ValueError("a fleet (--count > 1) runs on the simulated runtime only")
    client = ApiClient.from_kubeconfig(config.kubeconfig)
    cluster = cluster_id(config.kubeconfig)
    runtime = await connect_runtime(config.runtime, cluster=cluster)
    metrics = AgentMetrics()
    group: AgentGroup | None = None
    # the API server's kubelet-client token, and this agent's own (for a person or a test on the node)
    tokens = [*config.accepted_tokens, kubeconfig_token(config.kubeconfig)]
    stats = SummaryProvider(runtime=runtime)

    async def summary(node: str | None) -> dict[str, Any]:
        if group is None:
            raise Unavailable("the node agent is starting: no summary yet")
        return await stats.summary_of(group.agents, node)

    tls = (server_context(config.tls_cert_file, config.tls_private_key_file, config.client_ca_file)
           if config.tls_cert_file is not None and config.tls_private_key_file is not None else None)
    server = LogServer(
        find_worker=lambda ns, name: group.find_worker(ns, name) if group is not None else None,
        tokens=tokens,
        metrics=metrics.render,
        summary=summary,
        host=config.log_bind,
        port=config.log_port,
        max_streams=config.max_streams,
        stream_idle_timeout=config.stream_idle_timeout,
        ssl_context=tls,
    )
    extra: LogServer | None = None
    access: InPodAccess | None = None
    try:
        port = await server.start()
        if config.metrics_port is not None:
            extra = LogServer(find_worker=lambda ns, name: None, tokens=tokens, metrics=metrics.render,
                              host=config.log_bind, port=config.metrics_port)
            await extra.start()
        info = await runtime.info()
        statuses = StatusManager(client, metrics, senders=config.status_senders)
        agents = [
            NodeAgent(replace(node), client=client, runtime=runtime, runtime_info=info, metrics=metrics, log_port=port,
                      sink=statuses, report_creating=config.report_creating,
                      # a fleet's thousands of simulated containers keep no file each on the node
                      termination_logs=len(config.nodes) == 1)
            for node in config.nodes
        ]
        access = await start_in_pod_access(client, runtime=config.runtime, ca_pem=kubeconfig_ca(config.kubeconfig))
        for agent in agents:
            agent.worker_config.credentials = access.credentials if access is not None else None
        group = AgentGroup(agents, client=client, runtime=runtime, metrics=metrics,
                           relist_seconds=config.relist_seconds, orphan_check_seconds=config.orphan_check_seconds,
                           status_manager=statuses, heartbeat_client=lambda: heartbeat_client(config.kubeconfig),
                           lease_renewer=lambda: LeaseRenewer.from_kubeconfig(
                               config.kubeconfig, timeout=max(n.lease_seconds for n in config.nodes)))
        log.info("node agent: %d node(s) on %s (containers labelled labkit.cluster=%s), logs and streams on "
                 "%s port %d", len(agents), info.runtime_version, cluster, server.scheme, port)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(group.run(), name="agent-group")
            if ready is not None:
                await group.registered.wait()
                ready.set()
    finally:
        if access is not None:
            await access.close()
        await server.close()
        if extra is not None:
            await extra.close()
        await runtime.close()
        await client.close()


def heartbeat_client(kubeconfig: Path) -> ApiClient:
    """The heartbeat thread's own client (its own connections) for Node status posts and new Leases.

    Renewals time out after one lease period (10 s): an API server busy with thousands of pod
    writes once took more than 5 s per Lease PATCH, and a renewal given up at 5 s is a renewal
    lost; one that succeeds at 8 s still keeps the node inside its grace period."""
    return ApiClient.from_kubeconfig(kubeconfig, timeout=10.0, user_agent="orchestrator-labkit/heartbeat")


def kubeconfig_token(path: Path) -> str:
    """The bearer token of the kubeconfig's current user (what the log endpoint accepts by default)."""
    config = yaml.safe_load(path.read_text()) or {}
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    user = next((u.get("user") or {} for u in config.get("users") or [] if u["name"] == context.get("user")), {})
    token = user.get("token")
    if not token:
        raise ValueError(f"{path}: the current user has no token; pass --apiserver-token-file for the log endpoint")
    return str(token)
