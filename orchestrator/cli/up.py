"""`labctl up`: start a whole lab cluster as background processes, then return.

Order, each step idempotent so `up` on a running lab changes nothing and `up` on a lab
with a dead component (or one stopped with `labctl stop`) starts just that component:

1. credentials: lab CA + API server certificate, tokens for every identity (pki.py);
   then the watchdog (watchdog.py), which restarts crashed components with back-off and,
   given an owner pid, takes the lab down when that process is gone;
2. PostgreSQL and Redis: embedded ones from the pip wheels, or the servers named by
   DATABASE_URL / REDIS_URL (then only checked, never started or stopped);
3. the control plane: one `ComponentSpec` per component in `control_plane()`; with nodes, the
   Service proxy and the cluster DNS server (`network_specs`); the nodes one
   process each, or -- simulated labs of more than `MAX_NODE_PROCESSES` nodes -- fleet processes
   (``fleet-1``, ...) of up to `NODES_PER_FLEET` nodes each, supervised like any component;
4. kubeconfigs (admin + one per identity) pointing at https://127.0.0.1:<apiserver port>.

Ports are remembered in run/state.json and reused when free, so kubeconfigs written by
an earlier `up` keep working after `down` and `up`.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from orchestrator.cli.supervisor import ComponentSpec, Supervisor, SupervisorError
from orchestrator.dns.dnat import cluster_dns_ip
from orchestrator.embedded.ports import LOOPBACK, RunningServer, free_port, port_is_free, require_free_port
from orchestrator.embedded.postgres import check_database_url, start_postgres
from orchestrator.embedded.redis import check_redis_url, start_redis
from orchestrator.labhome import LabHome, LabSettings
from orchestrator.nodeagent.cluster import cluster_id_from
from orchestrator.pki import (
    apiserver_kubelet_tls_args,
    ensure_encryption_config,
    ensure_pki,
    ensure_service_account_key,
    ensure_tokens,
    node_agent_tls_args,
    write_lab_kubeconfigs,
)
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
    # The lab's ClusterIP range (`lab_service_cidr`): labs that share docker0 must not share ClusterIPs.
    service_cidr: str = LEGACY_SERVICE_CIDR

    def port(self, key: str, *, component: str) -> int:
        remembered = self.ports.get(key)
        if remembered and (component in self.running or port_is_free(remembered)):
            return remembered
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
    # The API server lands in a parallel change; until its entry point exists, the lab is
    # just PostgreSQL and Redis.
    if _module_exists("orchestrator.apiserver.__main__"):
        specs.append(
            ComponentSpec(
                name="apiserver",
                argv=[
                    sys.executable,
                    "-m",
                    "orchestrator.apiserver",
                    "--database-url",
                    ctx.database_url,
                    "--redis-url",
                    ctx.redis_url,
                    "--bind-address",
                    ctx.bind_address,
                    "--secure-port",
                    str(port),
                    "--tls-cert-file",
                    str(home.apiserver_cert),
                    "--tls-private-key-file",
                    str(home.apiserver_key),
                    "--token-auth-file",
                    str(home.token_file),
                    "--client-ca-file",  # client certificates of `labctl kubeconfig --user`
                    str(home.ca_cert),
                    "--no-relay",  # the relay runs as its own process (below): one more core at work
                    "--kubelet-client-token-file",
                    str(home.kubelet_client_token),
                    *apiserver_kubelet_tls_args(home),  # HTTPS to node agents, both sides lab-CA certificates
                    *pod_reachable_args(ctx),
                    "--service-cluster-ip-range",
                    ctx.service_cidr,
                    "--encryption-provider-config",
                    str(home.encryption_config),
                    "--service-account-signing-key-file",
                    str(home.service_account_key),
                ],  # fmt: skip
                health=f"https://{LOOPBACK}:{port}/readyz",
                depends_on=("postgres", "redis"),
                address=f"{LOOPBACK}:{port}",
            )
        )
        specs.append(
            ComponentSpec(
                name="relay",
                argv=[sys.executable, "-m", "orchestrator.storage.relay",
                      "--database-url", ctx.database_url, "--redis-url", ctx.redis_url],  # fmt: skip
                depends_on=("postgres", "redis"),
            )
        )
        grpc_port = ctx.port("scheduler-grpc", component="scheduler")
        metrics_port = ctx.port("scheduler-metrics", component="scheduler")
        specs.append(
            ComponentSpec(
                name="scheduler",
                argv=[sys.executable, "-m", "orchestrator.scheduler",
                      "--kubeconfig", str(home.kubeconfig_for("scheduler")), "--leader-elect",
                      "--bind-address", LOOPBACK, "--grpc-port", str(grpc_port),
                      "--metrics-port", str(metrics_port)],  # fmt: skip
                health=f"http://{LOOPBACK}:{metrics_port}/healthz",
                depends_on=("apiserver",),
                address=f"{LOOPBACK}:{grpc_port}",
            )
        )
        cm_grpc = ctx.port("controller-manager-grpc", component="controller-manager")
        cm_metrics = ctx.port("controller-manager-metrics", component="controller-manager")
        specs.append(
            ComponentSpec(
                name="controller-manager",
                argv=[sys.executable, "-m", "orchestrator.controllers",
                      "--kubeconfig", str(home.kubeconfig_for("controller-manager")), "--leader-elect",
                      "--bind-address", LOOPBACK, "--grpc-port", str(cm_grpc),
                      "--metrics-port", str(cm_metrics)],  # fmt: skip
                health=f"http://{LOOPBACK}:{cm_metrics}/healthz",
                depends_on=("apiserver",),
                address=f"{LOOPBACK}:{cm_grpc}",
            )
        )
        if ctx.nodes and "nodes" not in ctx.skip:
            # Node components: kube-proxy runs on every node and cluster DNS runs as pods, so a lab
            # without nodes (storage or API-server-only test labs) needs neither.
            specs.extend(network_specs(ctx))
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


def pod_reachable_args(ctx: LabContext) -> list[str]:
    """On Docker, the API server also listens on the bridge gateway and names it as the `kubernetes`
    Service's endpoint (kube-apiserver's --advertise-address), so that a pod reaches
    https://kubernetes.default.svc through the proxy's rules (docs/networking.md). Only there: the
    default bind stays loopback, and the gateway is reachable from this host's containers only."""
    if ctx.runtime != "docker" or not ctx.nodes or "nodes" in ctx.skip:
        return []
    bridge = docker_bridge()
    if bridge is None:
        return []
    extra = ["--extra-bind-address", bridge.gateway] if ctx.bind_address == LOOPBACK else []
    return [*extra, "--advertise-address", bridge.gateway]


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
    proxy_argv = [sys.executable, "-m", "orchestrator.proxy", "--kubeconfig", str(home.kubeconfig_for("kube-proxy")),
                  "--mode", "auto" if ctx.runtime == "docker" else "dry-run",
                  "--bind-address", LOOPBACK, "--port", str(proxy_port),
                  "--rules-file", str(home.proxy_rules_file)]  # fmt: skip
    dns_argv = [sys.executable, "-m", "orchestrator.dns", "--kubeconfig", str(home.kubeconfig_for("dns")),
                "--listen", f"{LOOPBACK}:{dns_port}"]
    bridge, cluster_dns = pod_network(ctx)
    if bridge is not None:
        proxy_argv += ["--cluster-cidr", bridge.subnet]
        if cluster_dns:
            dns_argv += ["--listen", f"{bridge.gateway}:{dns_port}", "--cluster-dns-ip", cluster_dns]
    return [
        ComponentSpec(name="proxy", argv=proxy_argv, health=f"http://{LOOPBACK}:{proxy_port}/livez",
                      depends_on=("apiserver",), address=f"{LOOPBACK}:{proxy_port}"),
        ComponentSpec(name="dns", argv=dns_argv, depends_on=("apiserver",), address=f"{LOOPBACK}:{dns_port}"),
    ]


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
        config = json.loads(out.stdout)[0]["IPAM"]["Config"][0]
        return DockerBridge(subnet=config["Subnet"], gateway=config["Gateway"])
    except (OSError, subprocess.TimeoutExpired, ValueError, LookupError, TypeError):
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
                    argv=[sys.executable, "-m", "orchestrator.nodeagent",
                          "--kubeconfig", str(home.kubeconfig_for(name)), "--name", name,
                          "--runtime", ctx.runtime, "--log-port", str(log_port), "--log-bind", LOOPBACK,
                          "--apiserver-token-file", str(home.kubelet_client_token),
                          *node_agent_tls_args(home, name),
                          "--root-dir", str(home.nodes_dir),
                          *(["--cluster-dns", cluster_dns] if cluster_dns else [])],  # fmt: skip
                    health=f"https://{LOOPBACK}:{log_port}/healthz",
                    depends_on=("apiserver",),
                    address=f"{LOOPBACK}:{log_port}",
                )
            )
        return specs
    for name, first, count in fleets(ctx.nodes):
        log_port = ctx.port(f"{name}-logs", component=name)
        specs.append(
            ComponentSpec(
                name=name,
                argv=[sys.executable, "-m", "orchestrator.nodeagent",
                      "--kubeconfig", str(home.kubeconfig_for("controller-manager")),
                      "--runtime", "simulated", "--count", str(count), "--name-prefix", "node-",
                      "--first-index", str(first), "--log-port", str(log_port), "--log-bind", LOOPBACK,
                      "--apiserver-token-file", str(home.kubelet_client_token),
                      *node_agent_tls_args(home, name),  # one certificate for the fleet's nodes
                      "--root-dir", str(home.nodes_dir), *ctx.fleet_args],  # fmt: skip
                health=f"https://{LOOPBACK}:{log_port}/healthz",
                depends_on=("apiserver",),
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
) -> UpResult:
    """Bring the lab up (see the module docstring); raises EmbeddedServerError / SupervisorError.

    `owner_pid`: the process whose end takes the lab down (the watchdog runs `down` once it is
    gone); a notebook passes its kernel's pid. None keeps the owner an earlier `up` set, if it
    still runs. `bind_address`: where the API server listens (default: the one remembered, else
    127.0.0.1); it takes effect when the API server (re)starts.
    """
    home = settings.home
    home.ensure()
    supervisor = Supervisor(home)
    with supervisor.lock():
        remembered = supervisor.lab
        ports: dict[str, int] = dict(remembered.get("ports", {}))
        sans = tuple(extra_sans) or tuple(remembered.get("extra_sans", ()))
        bind = bind_address or str(remembered.get("bind_address") or LOOPBACK)
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
        api_port = _apiserver_port(supervisor, requested=port, remembered=ports.get("apiserver"))
        ports["apiserver"] = api_port
        result = UpResult(apiserver_port=api_port, kubeconfig=str(home.kubeconfig))
        if owner_pid is not None:
            supervisor.set_owner(owner_pid)
        elif supervisor.owner_gone():
            supervisor.set_owner(None)  # left by a lab whose owner died before its watchdog could act
        try:
            _start_all(supervisor, settings, ports=ports, api_port=api_port, nodes=nodes, runtime=runtime,
                       skip=skip, tokens=tokens, progress=progress, result=result, identities=identities,
                       fleet_args=fleet_args, bind_address=bind, service_cidr=service_cidr)
        except BaseException:
            if all(record.external for record in supervisor.records()):
                supervisor.stop_watchdog()  # nothing was started: leave nothing behind
            raise
        supervisor.remember(ports=ports, nodes=nodes, runtime=runtime, extra_sans=list(sans), bind_address=bind,
                            service_cidr=service_cidr)
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
        running=frozenset(name for name in ("scheduler", "controller-manager", "proxy", "dns",
                                            *node_component_names(nodes=nodes, runtime=resolved))
                          if supervisor.is_running(name)),
        skip=frozenset(skip),
        fleet_args=tuple(fleet_args),
        bind_address=bind_address,
        service_cidr=service_cidr,
    )
    specs = control_plane(ctx)
    if not any(spec.name == "apiserver" for spec in specs):
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


def _apiserver_port(supervisor: Supervisor, *, requested: int | None, remembered: int | None) -> int:
    record = supervisor.record("apiserver")
    if record is not None and supervisor.is_running("apiserver") and record.port is not None:
        if requested is not None and requested != record.port:
            raise SupervisorError(
                f"the API server already runs on port {record.port}: "
                f"run `labctl down` first to move it to port {requested}"
            )
        return record.port
    if requested is not None:
        require_free_port(requested, what="the API server", hint="choose another with --port")
        return requested
    for candidate in (remembered, DEFAULT_APISERVER_PORT):
        if candidate and port_is_free(candidate):
            return candidate
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
    import secrets

    path = home.kubelet_client_token
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)


def _reusable(port: int | None) -> int | None:
    return port if port and port_is_free(port) else None


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _since(t0: float) -> str:
    return f"{time.monotonic() - t0:.1f}s"
