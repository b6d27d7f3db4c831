"""`labctl up`: start a whole lab cluster as background processes, then return.

Order, each step idempotent so `up` on a running lab changes nothing and `up` on a lab
with a dead component (or one stopped with `labctl stop`) starts just that component:

1. credentials: lab CA + API server certificate, tokens for every identity (pki.py);
   then the watchdog (watchdog.py), which restarts crashed components with back-off and,
   given an owner pid, takes the lab down when that process is gone;
2. PostgreSQL and Redis: embedded ones from the pip wheels, or the servers named by
   DATABASE_URL / REDIS_URL (then only checked, never started or stopped);
3. the control plane: one `ComponentSpec` per component in `control_plane()` (with
   ``--apiservers N``, N API servers behind HAProxy: orchestrator/lab/haproxy.py); with nodes, the
   Service proxy, the cluster DNS server (`network_specs`) and the metrics server
   (`metrics_specs`, its APIService registered once it answers); the nodes one
   process each, or -- simulated labs of more than `MAX_NODE_PROCESSES` nodes -- fleet processes
   (``fleet-1``, ...) of up to `NODES_PER_FLEET` nodes each, supervised like any component;
4. kubeconfigs (admin + one per identity) pointing at https://127.0.0.1:<apiserver port>.

Ports are remembered in run/state.json and reused when free, so kubeconfigs written by
an earlier `up` keep working after `down` and `up`.
"""

from __future__ import annotations

import functools
import ipaddress
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import psutil

from orchestrator.dns.dnat import cluster_dns_ip
from orchestrator.lab import haproxy
from orchestrator.lab.components import (
    ApiServer,
    ControllerManager,
    Dns,
    MetricsServer,
    NodeAgent,
    Proxy,
    Relay,
    Scheduler,
)
from orchestrator.lab.embedded.ports import (
    LOOPBACK,
    RunningServer,
    free_port,
    port_is_free,
    require_free_port,
    reserve,
)
from orchestrator.lab.embedded.postgres import check_database_url, start_postgres
from orchestrator.lab.embedded.redis import check_redis_url, start_redis
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.pki import (
    ensure_encryption_config,
    ensure_pki,
    ensure_service_account_key,
    ensure_tokens,
    write_lab_kubeconfigs,
)
from orchestrator.lab.supervisor import ComponentSpec, Supervisor, SupervisorError
from orchestrator.nodeagent.cluster import cluster_id_from
from orchestrator.proxy.iptables import can_program

# kubeadm's --service-cidr: the range of labs made before each lab had its own, kept for them.
LEGACY_SERVICE_CIDR = "10.96.0.0/12"

Runtime = Literal["auto", "docker", "simulated"]
RUNTIMES: tuple[Runtime, ...] = ("auto", "docker", "simulated")
# kube-apiserver's default --secure-port; used when free and no other port was asked for.
DEFAULT_APISERVER_PORT = 6443
# Simulated labs of up to this many nodes run one process per node; bigger ones run fleets.
MAX_NODE_PROCESSES = 10
# Nodes per fleet process: a fleet of 250 idle nodes renews 25 Leases a second.
NODES_PER_FLEET = 250

Outcome = Literal["started", "running", "external", "skipped"]


class UpProgress(Protocol):
    """How `up` reports each component; the CLI renders it with rich, tests may just collect."""

    def starting(self, name: str) -> None: ...

    def done(self, name: str, outcome: Outcome, detail: str) -> None: ...

    def note(self, message: str) -> None: ...


@dataclass(frozen=True)
class LabContext:
    """What component specs are built from."""

    home: LabHome
    database_url: str
    redis_url: str
    apiserver_port: int
    nodes: int
    runtime: Runtime
    # Ports of the components' own servers (gRPC, metrics, logs), remembered across `up`s in
    # state.json; each chosen free on first use so that several labs can run side by side.
    ports: dict[str, int] = field(default_factory=dict)
    running: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()  # components not to start (tests that run their own)
    fleet_args: tuple[str, ...] = ()  # extra flags for fleet processes (python -m orchestrator.nodeagent)
    # Docker labs: the default bridge (the pod network) and the link-local address pods use as
    # their nameserver (orchestrator/dns/dnat.py); "" when the DNS server cannot be reached from
    # pods. Left None, `pod_network` works both out (so every caller building a context gets them).
    bridge: DockerBridge | None = None
    cluster_dns: str | None = None
    # Where the API server listens: loopback, or 0.0.0.0 for a classroom whose students connect
    # from their own laptops (labctl classroom); every other component stays on loopback.
    bind_address: str = LOOPBACK
    metric_resolution: str = "15s"  # LABKIT_METRIC_RESOLUTION (orchestrator/lab/home.py)
    hpa_sync_period: str = "15s"  # LABKIT_HPA_SYNC_PERIOD
    hpa_downscale_stabilization: str = "5m0s"  # LABKIT_HPA_DOWNSCALE_STABILIZATION
    # API servers: one, or several behind HAProxy on `apiserver_port` (orchestrator/lab/haproxy.py).
    apiservers: int = 1
    # The lab's ClusterIP range (`lab_service_cidr`): labs that share docker0 must not share ClusterIPs.
    service_cidr: str = LEGACY_SERVICE_CIDR

    @property
    def front_door(self) -> str:
        """The component clients and the other components reach the API through."""
        return haproxy.front_door(self.apiservers)

    def port(self, key: str, *, component: str) -> int:
        remembered = self.ports.get(key)
        if remembered and (component in self.running or port_is_free(remembered)):
            return reserve(remembered)
        self.ports[key] = free_port()
        return self.ports[key]


@dataclass
class UpResult:
    apiserver_port: int
    kubeconfig: str
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)

    @property
    def was_already_up(self) -> bool:
        return not self.started


def control_plane(ctx: LabContext) -> list[ComponentSpec]:
    """The lab's own components, in start order. Adding one is one line here."""
    home, port = ctx.home, ctx.apiserver_port
    specs: list[ComponentSpec] = []
    # One API server on the lab's port, or several on ports of their own behind HAProxy there.
    backends = haproxy.backends(ctx.apiservers, port_for=lambda name: ctx.port(name, component=name))
    listeners = ([("apiserver", ctx.bind_address, port)] if ctx.apiservers == 1
                 else [(b.name, b.host, b.port) for b in backends])
    for name, bind, api_port in listeners:
        specs.append(
            ComponentSpec(
                name=name,
                # --advertise-port: the `kubernetes` Service names the port clients use.
                argv=ApiServer.for_lab(home, database_url=ctx.database_url, redis_url=ctx.redis_url, port=api_port,
                                       bind_address=bind, advertise_port=port, service_cluster_ip_range=ctx.service_cidr,
                                       **pod_reachable(ctx)).argv(),
                health=f"https://{LOOPBACK}:{api_port}/readyz",
                depends_on=("postgres", "redis"),
                address=f"{LOOPBACK}:{api_port}",
            )
        )
    if ctx.apiservers > 1 and "haproxy" not in ctx.skip:
        # On Docker HAProxy also listens on the bridge gateway, the `kubernetes` endpoint pods reach;
        # unlike the API server it cannot leave out an address it fails to bind (it would not
        # start), so a gateway that is not this host's (a remote DOCKER_HOST) is not bound.
        gateway = pod_gateway(ctx)
        pod_bind = (gateway,) if gateway is not None and ctx.bind_address == LOOPBACK and is_local_address(gateway) else ()
        specs.append(haproxy.haproxy_spec(home, bind=ctx.bind_address, port=port, backends=backends,
                                          extra_binds=pod_bind))
    # The relay runs as its own process (the API server runs with --no-relay): one more core at work.
    specs.append(
        ComponentSpec(
            name="relay",
            argv=Relay(database_url=ctx.database_url, redis_url=ctx.redis_url).argv(),
            depends_on=("postgres", "redis"),
        )
    )
    grpc_port = ctx.port("scheduler-grpc", component="scheduler")
    metrics_port = ctx.port("scheduler-metrics", component="scheduler")
    specs.append(
        ComponentSpec(
            name="scheduler",
            argv=Scheduler(kubeconfig=home.kubeconfig_for("scheduler"), leader_elect=True, bind_address=LOOPBACK,
                           grpc_port=grpc_port, metrics_port=metrics_port).argv(),
            health=f"http://{LOOPBACK}:{metrics_port}/healthz",
            depends_on=(ctx.front_door,),
            address=f"{LOOPBACK}:{grpc_port}",
        )
    )
    cm_grpc = ctx.port("controller-manager-grpc", component="controller-manager")
    cm_metrics = ctx.port("controller-manager-metrics", component="controller-manager")
    specs.append(
        ComponentSpec(
            name="controller-manager",
            argv=ControllerManager(kubeconfig=home.kubeconfig_for("controller-manager"), leader_elect=True,
                                   bind_address=LOOPBACK, grpc_port=cm_grpc, metrics_port=cm_metrics,
                                   local_volume_dir=home.nodes_dir / "persistentvolumes",
                                   horizontal_pod_autoscaler_sync_period=ctx.hpa_sync_period,
                                   horizontal_pod_autoscaler_downscale_stabilization=ctx.hpa_downscale_stabilization,
                                   ).argv(),
            health=f"http://{LOOPBACK}:{cm_metrics}/healthz",
            depends_on=(ctx.front_door,),
            address=f"{LOOPBACK}:{cm_grpc}",
        )
    )
    if ctx.nodes and "nodes" not in ctx.skip:
        # Node components: kube-proxy runs on every node and cluster DNS runs as pods, so a lab
        # without nodes (storage or API-server-only test labs) needs neither.
        specs.extend(network_specs(ctx))
        specs.extend(metrics_specs(ctx))
    specs.extend(node_specs(ctx))
    return [spec for spec in specs if spec.name not in ctx.skip
            and not ("nodes" in ctx.skip and spec.name.startswith(("node-", "fleet-")))]


def lab_service_cidr(home: LabHome) -> str:
    """The lab's own ClusterIP range: one of the 256 /20 blocks of 10.96.0.0/12 (4,094 Services
    each), picked by the lab's cluster id (a hash of its CA, orchestrator/nodeagent/cluster.py).
    Labs on one host share docker0 and the host's iptables, where the first lab's rule for a
    ClusterIP wins: with one range for all, every lab's `kubernetes` Service was 10.96.0.1."""
    block = int(cluster_id_from(ca_pem=home.ca_cert.read_bytes(), server="")[:2], 16)
    network = ipaddress.ip_network(LEGACY_SERVICE_CIDR)
    return str(ipaddress.ip_network((int(network.network_address) + block * 4096, 20)))


def first_service_ip(cidr: str) -> str:
    """The `kubernetes` Service's ClusterIP: the range's first address (kube-apiserver's rule)."""
    return str(ipaddress.ip_network(cidr).network_address + 1)


def pod_gateway(ctx: LabContext) -> str | None:
    """The Docker bridge gateway where pods reach the API (None: not a Docker lab with nodes, or the
    bridge is unknown). The gateway is reachable from this host's containers only, so listening
    there exposes nothing beyond the host."""
    if ctx.runtime != "docker" or not ctx.nodes or "nodes" in ctx.skip:
        return None
    bridge = ctx.bridge if ctx.bridge is not None else docker_bridge()
    return bridge.gateway if bridge is not None else None


def is_local_address(address: str) -> bool:
    """Whether an interface of this host holds `address` (so that a listener can bind it)."""
    return any(a.address == address for addrs in psutil.net_if_addrs().values() for a in addrs)


def pod_reachable(ctx: LabContext) -> dict[str, object]:
    """On Docker, the `kubernetes` Service's endpoint is the bridge gateway (kube-apiserver's
    --advertise-address), so that a pod reaches https://kubernetes.default.svc through the proxy's
    rules (docs/networking.md). One API server also listens there (--extra-bind-address); several
    do not: HAProxy listens there on its port, which every API server advertises, and balances a
    pod's connection like any other (docs/multi-host.md). The default bind stays loopback."""
    gateway = pod_gateway(ctx)
    if gateway is None:
        return {}
    listens = ctx.apiservers == 1 and ctx.bind_address == LOOPBACK
    return {**({"extra_bind_address": (gateway,)} if listens else {}), "advertise_address": gateway}


def network_specs(ctx: LabContext) -> list[ComponentSpec]:
    """The Service proxy and the cluster DNS server: one of each per lab machine.

    Every Docker node agent of a lab runs its containers on the host's default bridge, in the
    host's one network namespace, so one proxy programming the host's iptables is what one
    kube-proxy per node would be (docs/networking.md). With the simulated runtime there is no
    pod network: the proxy runs as a dry run (it computes and shows the rules) and the DNS
    server answers on loopback only.
    """
    home = ctx.home
    proxy_port = ctx.port("proxy", component="proxy")
    dns_port = ctx.port("dns", component="dns")
    bridge, cluster_dns = pod_network(ctx)
    proxy = Proxy(kubeconfig=home.kubeconfig_for("kube-proxy"), mode="auto" if ctx.runtime == "docker" else "dry-run",
                  cluster_cidr=bridge.subnet if bridge is not None else None,
                  bind_address=LOOPBACK, port=proxy_port, rules_file=home.proxy_rules_file)
    listen = [f"{LOOPBACK}:{dns_port}"]
    if bridge is not None and cluster_dns:
        listen.append(f"{bridge.gateway}:{dns_port}")
    dns = Dns(kubeconfig=home.kubeconfig_for("dns"), listen=tuple(listen),
              cluster_dns_ip=cluster_dns if bridge is not None and cluster_dns else None)
    return [
        ComponentSpec(name="proxy", argv=proxy.argv(), health=f"http://{LOOPBACK}:{proxy_port}/livez",
                      depends_on=(ctx.front_door,), address=f"{LOOPBACK}:{proxy_port}"),
        ComponentSpec(name="dns", argv=dns.argv(), depends_on=(ctx.front_door,), address=f"{LOOPBACK}:{dns_port}"),
    ]


def metrics_specs(ctx: LabContext) -> list[ComponentSpec]:
    """The metrics server (orchestrator/metrics): scrapes the node agents, serves metrics.k8s.io
    through the API server once `register_metrics` has written its APIService."""
    home, port = ctx.home, ctx.port("metrics-server", component="metrics-server")
    argv = MetricsServer(kubeconfig=home.kubeconfig_for("metrics-server"), kubelet_token_file=home.kubelet_client_token,
                         kubelet_certificate_authority=home.ca_cert,
                         requestheader_token_file=home.proxy_client_token, metric_resolution=ctx.metric_resolution,
                         bind_address=LOOPBACK, port=port).argv()
    return [ComponentSpec(name="metrics-server", argv=argv, health=f"http://{LOOPBACK}:{port}/healthz",
                          depends_on=(ctx.front_door,), address=f"{LOOPBACK}:{port}")]


@dataclass(frozen=True)
class DockerBridge:
    """The Docker engine's default ``bridge`` network: where every Docker node's containers live."""

    subnet: str
    gateway: str


def pod_network(ctx: LabContext) -> tuple[DockerBridge | None, str]:
    """The lab's pod network and the nameserver its pods get ("" for none): on Docker the default
    bridge, and, when the DNS server can DNAT to it (root, iptables), the lab's link-local address."""
    if ctx.cluster_dns is not None:
        return ctx.bridge, ctx.cluster_dns
    if ctx.runtime != "docker":
        return None, ""
    bridge = docker_bridge()
    if bridge is None or not can_program()[0] or not ctx.home.ca_cert.exists():
        return bridge, ""
    return bridge, cluster_dns_ip(cluster_id_from(ca_pem=ctx.home.ca_cert.read_bytes(), server=""))


@functools.cache
def docker_bridge() -> DockerBridge | None:
    """The default bridge's subnet and gateway (`docker network inspect bridge`), None when unknown."""
    import json
    import subprocess

    try:
        out = subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True, timeout=10, text=True)
        network = json.loads(out.stdout)[0]
        config = network["IPAM"]["Config"][0]
        subnet = config["Subnet"]
        gateway = config.get("Gateway") or _bridge_address(
            (network.get("Options") or {}).get("com.docker.network.bridge.name") or "docker0", subnet)
        return DockerBridge(subnet=subnet, gateway=gateway) if gateway else None
    except (OSError, subprocess.TimeoutExpired, ValueError, LookupError, TypeError):
        return None


def _bridge_address(interface: str, subnet: str) -> str | None:
    """The bridge interface's own address in `subnet`: the gateway, where `docker network inspect`
    does not name it (Debian's Docker 20.10.24 left it out on a fresh machine)."""
    import socket

    network = ipaddress.ip_network(subnet, strict=False)
    for addr in psutil.net_if_addrs().get(interface, []):
        if addr.family == socket.AF_INET and ipaddress.ip_address(addr.address) in network:
            return str(addr.address)
    return None


def uses_fleets(*, nodes: int, runtime: Runtime) -> bool:
    """Simulated nodes beyond a handful run in fleet processes (see `fleets`)."""
    return runtime == "simulated" and nodes > MAX_NODE_PROCESSES


def fleets(nodes: int) -> list[tuple[str, int, int]]:
    """``(component, first node index, node count)`` of each fleet process: `nodes` split evenly
    into as few processes as `NODES_PER_FLEET` allows (1,000 nodes: four fleets of 250)."""
    count = -(-nodes // NODES_PER_FLEET)
    base, extra = divmod(nodes, count)
    out, first = [], 1
    for k in range(count):
        size = base + (1 if k < extra else 0)
        out.append((f"fleet-{k + 1}", first, size))
        first += size
    return out


def node_component_names(*, nodes: int, runtime: Runtime) -> list[str]:
    """The supervisor components that run the lab's nodes."""
    if uses_fleets(nodes=nodes, runtime=runtime):
        return [name for name, _, _ in fleets(nodes)]
    return [f"node-{i}" for i in range(1, nodes + 1)]


def node_specs(ctx: LabContext) -> list[ComponentSpec]:
    """One process per node (Docker, or a few simulated nodes), or fleets of simulated nodes.

    A node agent process costs ~35 MB and its own connections and loops, so 1,000 of them do not
    fit a laptop; a fleet hosts up to `NODES_PER_FLEET` simulated nodes on one informer and one
    lease loop (KWOK's idea, orchestrator/nodeagent/fleet.py). A small simulated lab keeps one
    process per node so that `labctl stop node-2` stops exactly one node, as the failure lessons do.
    A fleet acts for many nodes, so it runs with the controller manager's identity (a node token
    may act only for its own node).
    """
    home = ctx.home
    specs = []
    if not uses_fleets(nodes=ctx.nodes, runtime=ctx.runtime):
        _, cluster_dns = pod_network(ctx)
        for i in range(1, ctx.nodes + 1):
            name = f"node-{i}"
            log_port = ctx.port(f"{name}-logs", component=name)
            specs.append(
                ComponentSpec(
                    name=name,
                    argv=NodeAgent(kubeconfig=home.kubeconfig_for(name), name=name, runtime=ctx.runtime,
                                   log_port=log_port, log_bind=LOOPBACK,
                                   apiserver_token_file=home.kubelet_client_token, root_dir=home.nodes_dir,
                                   cluster_dns=cluster_dns or None, **NodeAgent.tls_for(home, name)).argv(),
                    health=f"https://{LOOPBACK}:{log_port}/healthz",
                    depends_on=(ctx.front_door,),
                    address=f"{LOOPBACK}:{log_port}",
                )
            )
        return specs
    for name, first, count in fleets(ctx.nodes):
        log_port = ctx.port(f"{name}-logs", component=name)
        specs.append(
            ComponentSpec(
                name=name,
                argv=NodeAgent(kubeconfig=home.kubeconfig_for("controller-manager"), runtime="simulated",
                               count=count, name_prefix="node-", first_index=first,
                               log_port=log_port, log_bind=LOOPBACK,
                               apiserver_token_file=home.kubelet_client_token, root_dir=home.nodes_dir,
                               **NodeAgent.tls_for(home, name),  # one certificate for the fleet's nodes
                               extra=ctx.fleet_args).argv(),
                health=f"https://{LOOPBACK}:{log_port}/healthz",
                depends_on=(ctx.front_door,),
                address=f"{LOOPBACK}:{log_port}",
                start_timeout=180.0,
            )
        )
    return specs


def up(
    settings: LabSettings,
    *,
    nodes: int = 1,
    runtime: Runtime = "auto",
    port: int | None = None,
    extra_sans: Sequence[str] = (),
    skip: Sequence[str] = (),
    progress: UpProgress,
    owner_pid: int | None = None,
    fleet_args: Sequence[str] = (),
    bind_address: str | None = None,
    apiservers: int | None = None,
) -> UpResult:
    """Bring the lab up (see the module docstring); raises EmbeddedServerError / SupervisorError.

    `owner_pid`: the process whose end takes the lab down (the watchdog runs `down` once it is
    gone); a notebook passes its kernel's pid. None keeps the owner an earlier `up` set, if it
    still runs. `bind_address`: where the API server listens (default: the one remembered, else
    127.0.0.1); it takes effect when the API server (re)starts. `apiservers`: how many API servers
    (default: as remembered, else 1); more than one run behind HAProxy (orchestrator/lab/haproxy.py).
    """
    home = settings.home
    home.ensure()
    supervisor = Supervisor(home)
    with supervisor.lock():
        remembered = supervisor.lab
        ports: dict[str, int] = dict(remembered.get("ports", {}))
        sans = tuple(extra_sans) or tuple(remembered.get("extra_sans", ()))
        bind = bind_address or str(remembered.get("bind_address") or LOOPBACK)
        apiserver_count = haproxy.check_count(supervisor, wanted=apiservers, remembered=remembered.get("apiservers"))
        ensure_pki(home, extra_sans=sans)  # the CA first: the lab's service range derives from it
        service_cidr = str(remembered.get("service_cidr") or (LEGACY_SERVICE_CIDR if remembered.get("ports")
                                                               else lab_service_cidr(home)))
        ensure_pki(home, extra_sans=sans, kubernetes_service_ip=first_service_ip(service_cidr))
        ensure_service_account_key(home)
        ensure_encryption_config(home)
        # Fleets act as the controller manager: 1,000 simulated nodes need no 1,000 node tokens.
        identities = 0 if uses_fleets(nodes=nodes, runtime=runtime) else nodes
        tokens = ensure_tokens(home, nodes=identities)
        # Chosen first so that a busy --port fails before anything starts.
        api_port = _apiserver_port(supervisor, requested=port, remembered=ports.get("apiserver"),
                                   front_door=haproxy.front_door(apiserver_count))
        ports["apiserver"] = api_port
        result = UpResult(apiserver_port=api_port, kubeconfig=str(home.kubeconfig))
        if owner_pid is not None:
            supervisor.set_owner(owner_pid)
        elif supervisor.owner_gone():
            supervisor.set_owner(None)  # left by a lab whose owner died before its watchdog could act
        try:
            _start_all(supervisor, settings, ports=ports, api_port=api_port, nodes=nodes, runtime=runtime,
                       skip=skip, tokens=tokens, progress=progress, result=result, identities=identities,
                       fleet_args=fleet_args, bind_address=bind, apiservers=apiserver_count,
                       service_cidr=service_cidr)
        except BaseException:
            if all(record.external for record in supervisor.records()):
                supervisor.stop_watchdog()  # nothing was started: leave nothing behind
            raise
        supervisor.remember(ports=ports, nodes=nodes, runtime=runtime, extra_sans=list(sans), bind_address=bind,
                            apiservers=apiserver_count, service_cidr=service_cidr)
    return result


def _start_all(
    supervisor: Supervisor,
    settings: LabSettings,
    *,
    ports: dict[str, int],
    api_port: int,
    nodes: int,
    runtime: Runtime,
    skip: Sequence[str],
    tokens: dict[str, str],
    progress: UpProgress,
    result: UpResult,
    identities: int,
    fleet_args: Sequence[str],
    bind_address: str = LOOPBACK,
    apiservers: int = 1,
    service_cidr: str = LEGACY_SERVICE_CIDR,
) -> None:
    home = settings.home
    # The watchdog starts first: if whoever runs `up` is killed half-way, an owner's watchdog
    # still takes down what was started. It waits for our lock before it acts.
    progress.starting("watchdog")
    watchdog, started = supervisor.ensure_watchdog()
    progress.done("watchdog", "started" if started else "running",
                  f"pid {watchdog.pid}  restarts crashed components with back-off")

    database_url = _storage_server(
        supervisor,
        name="postgres",
        env_var="DATABASE_URL",
        external_url=settings.database_url,
        check=check_database_url,
        start=lambda p: start_postgres(home, port=p),
        port=_reusable(ports.get("postgres")),
        stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
        progress=progress,
        result=result,
    )
    redis_url = _storage_server(
        supervisor,
        name="redis",
        env_var="REDIS_URL",
        external_url=settings.redis_url,
        check=check_redis_url,
        start=lambda p: start_redis(home, port=p),
        port=_reusable(ports.get("redis")),
        stop_signal=signal.SIGTERM,
        progress=progress,
        result=result,
    )
    for name in ("postgres", "redis"):
        record = supervisor.record(name)
        if record is not None and record.port is not None and not record.external:
            ports[name] = record.port

    write_lab_kubeconfigs(home, server=f"https://{LOOPBACK}:{api_port}", tokens=tokens, nodes=identities)

    _ensure_kubelet_client_token(home)
    _ensure_token_file(home.proxy_client_token)
    resolved = resolve_runtime(runtime)
    if runtime == "auto" and nodes:
        progress.note(f"runtime auto: {'a Docker engine answers, using Docker' if resolved == 'docker' else 'no Docker engine answers, using the simulated runtime'}")
    ctx = LabContext(
        home=home,
        database_url=database_url,
        redis_url=redis_url,
        apiserver_port=api_port,
        nodes=nodes,
        runtime=resolved,
        ports=ports,
        running=frozenset(name for name in ("scheduler", "controller-manager", "proxy", "dns", "metrics-server",
                                            *haproxy.apiserver_names(apiservers),
                                            *node_component_names(nodes=nodes, runtime=resolved))
                          if supervisor.is_running(name)),
        skip=frozenset(skip),
        fleet_args=tuple(fleet_args),
        bind_address=bind_address,
        metric_resolution=settings.metric_resolution,
        hpa_sync_period=settings.hpa_sync_period,
        hpa_downscale_stabilization=settings.hpa_downscale_stabilization,
        apiservers=apiservers,
        service_cidr=service_cidr,
    )
    specs = control_plane(ctx)
    if not any(spec.name.startswith("apiserver") for spec in specs):
        progress.done("apiserver", "skipped", "orchestrator.apiserver is not built yet")
    for spec in specs:
        progress.starting(spec.name)
        t0 = time.monotonic()
        record, started = supervisor.start(spec)
        if started:
            result.started.append(spec.name)
            progress.done(spec.name, "started", f"pid {record.pid}  {record.address}  {_since(t0)}")
        else:
            result.already_running.append(spec.name)
            progress.done(spec.name, "running", f"pid {record.pid}  {record.address}")
        if spec.name == "metrics-server":
            from orchestrator.metrics.apiservice import register_with_kubeconfig

            register_with_kubeconfig(home.kubeconfig, f"http://{record.address}")


def _storage_server(
    supervisor: Supervisor,
    *,
    name: str,
    env_var: str,
    external_url: str | None,
    check: CheckUrl,
    start: StartServer,
    port: int | None,
    stop_signal: int,
    progress: UpProgress,
    result: UpResult,
) -> str:
    """Use the external server if a URL was given, else start (or keep) the embedded one."""
    progress.starting(name)
    if external_url:
        server = check(external_url)
        supervisor.adopt(server)
        progress.done(name, "external", f"{server.address}  (from {env_var}, reachable)")
        return server.url
    t0 = time.monotonic()
    server = start(port)
    for note in server.notes:
        progress.note(note)
    supervisor.adopt(server, stop_signal=stop_signal)
    if server.already_running:
        result.already_running.append(name)
        progress.done(name, "running", f"pid {server.pid}  {server.address}")
    else:
        result.started.append(name)
        progress.done(name, "started", f"pid {server.pid}  {server.address}  {_since(t0)}")
    return server.url


class CheckUrl(Protocol):
    def __call__(self, url: str, /) -> RunningServer: ...


class StartServer(Protocol):
    def __call__(self, port: int | None, /) -> RunningServer: ...


def _apiserver_port(supervisor: Supervisor, *, requested: int | None, remembered: int | None,
                    front_door: str = "apiserver") -> int:
    record = supervisor.record(front_door)
    if record is not None and supervisor.is_running(front_door) and record.port is not None:
        if requested is not None and requested != record.port:
            raise SupervisorError(
                f"the API server already runs on port {record.port}: "
                f"run `labctl down` first to move it to port {requested}"
            )
        return reserve(record.port)
    if requested is not None:
        require_free_port(requested, what="the API server", hint="choose another with --port")
        return reserve(requested)
    for candidate in (remembered, DEFAULT_APISERVER_PORT):
        if candidate and port_is_free(candidate):
            return reserve(candidate)
    return free_port()


def resolve_runtime(runtime: Runtime) -> Runtime:
    """``auto``: Docker when an engine answers (`docker info` within 5 s), else simulated."""
    if runtime != "auto":
        return runtime
    import subprocess

    try:
        ok = subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return "docker" if ok else "simulated"


def _ensure_kubelet_client_token(home: LabHome) -> None:
    _ensure_token_file(home.kubelet_client_token)


def _ensure_token_file(path: Path) -> None:
    import secrets

    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)


def _reusable(port: int | None) -> int | None:
    return port if port and port_is_free(port) else None


def _since(t0: float) -> str:
    return f"{time.monotonic() - t0:.1f}s"
