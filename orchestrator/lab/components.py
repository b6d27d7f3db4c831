"""The one place that knows each component's command line: typed builders of its flags.

Every process of a lab is ``python -m <module> <flags>``. `labctl up` (orchestrator/lab/up.py),
the lessons' helpers (labs/), the test fixtures and the benchmarks build those flags here, so a
flag renamed in a component's ``__main__`` is renamed once, and a typo is a TypeError at the call
site rather than an argparse error in a log file. docker/docker-compose.yml spells the same
commands in YAML; tests/unit/lab/test_components.py checks it against these builders, and checks
that every flag a builder can emit is one the component's own parser accepts.

A builder is a frozen dataclass whose fields are the component's flags, in the order they are
emitted: a field named ``grpc_port`` is ``--grpc-port``. ``None`` leaves the flag out (the
component's own default applies, so defaults are not repeated here), ``True`` emits a switch,
``False`` omits it (``relay=False`` is ``--no-relay``), a tuple repeats the flag, a mapping or a ``join`` field is one comma-joined
value. ``extra`` is appended as given: flags a lesson or test adds on purpose (a drill's shorter
timers). `argv()` is the whole command line; `args()` the flags alone (what a compose service's
``command:`` holds after the component's name).

Kubernetes equivalent: the static pod manifests kubeadm writes
(cmd/kubeadm/app/phases/controlplane/manifests.go, getAPIServerCommand and friends).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from orchestrator.lab.embedded.ports import LOOPBACK
from orchestrator.lab.home import LabHome


def _joined() -> Any:
    """A tuple field passed as one comma-joined value (``--taints a,b``), not repeated."""
    return field(default=(), metadata={"join": ","})


@dataclass(frozen=True, kw_only=True)
class Component:
    """A component's flags; subclasses name the module and declare the flags as fields."""

    module: ClassVar[str]
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        """The flags, in field order, then `extra`."""
        fields = [f for f in dataclasses.fields(self) if f.name != "extra"]
        return _render(fields, {f.name: getattr(self, f.name) for f in fields}) + list(self.extra)

    @classmethod
    def flags(cls, **values: Any) -> list[str]:
        """Some of this component's flags alone, to add to a command line built elsewhere (a drill's
        shorter timers added to `labctl up`'s scheduler); an unknown name is a TypeError."""
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise TypeError(f"{cls.__name__} has no flag {', '.join(unknown)}")
        return _render([fields[name] for name in values], values)

    def argv(self, python: str = sys.executable) -> list[str]:
        """The whole command line: ``python -m <module> <flags>``."""
        return [python, "-m", self.module, *self.args()]


def _render(fields: list[dataclasses.Field[Any]], values: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for f in fields:
        value = values[f.name]
        flag = "--" + f.name.replace("_", "-")
        if "off" in f.metadata:  # a switch that turns something on by default off
            out += [] if value else [f.metadata["off"]]
        elif value is None or value is False:
            continue
        elif value is True:
            out.append(flag)
        elif isinstance(value, Mapping):
            if value:
                out += [flag, ",".join(f"{k}={v}" for k, v in value.items())]
        elif isinstance(value, tuple):
            if "join" in f.metadata:
                if value:
                    out += [flag, f.metadata["join"].join(str(v) for v in value)]
            else:
                for v in value:
                    out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


@dataclass(frozen=True, kw_only=True)
class ApiServer(Component):
    """``python -m orchestrator.apiserver`` (flags: orchestrator/apiserver/settings.py)."""

    module: ClassVar[str] = "orchestrator.apiserver"
    database_url: str
    redis_url: str
    bind_address: str | None = None
    secure_port: int | None = None
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    token_auth_file: Path
    client_ca_file: Path | None = None  # client certificates of `labctl kubeconfig --user`
    # The relay (outbox → Redis Streams) in this process, or (False) as its own: one more core at work.
    relay: bool = field(default=True, metadata={"off": "--no-relay"})
    # The port the `kubernetes` Service names: HAProxy's when several API servers sit behind it.
    advertise_port: int | None = None
    kubelet_client_token_file: Path | None = None
    proxy_client_token_file: Path | None = None  # its credential towards aggregated APIs (the metrics server)
    # The node agent hop over HTTPS: its client certificate, and the CA node agents' certificates chain to.
    kubelet_client_certificate: Path | None = None
    kubelet_client_key: Path | None = None
    kubelet_certificate_authority: Path | None = None
    # On Docker also the bridge gateway, named as the `kubernetes` endpoint, so pods reach the API.
    extra_bind_address: tuple[str, ...] = ()
    advertise_address: str | None = None
    service_cluster_ip_range: str | None = None
    encryption_provider_config: Path | None = None
    service_account_signing_key_file: Path | None = None
    watch_bookmark_seconds: float | None = None

    @classmethod
    def for_lab(cls, home: LabHome, *, database_url: str, redis_url: str, port: int,
                bind_address: str = LOOPBACK, relay: bool = False,
                advertise_port: int | None = None, watch_bookmark_seconds: float = 5.0,
                **more: Any) -> ApiServer:
        """The API server of a lab home: its certificate, tokens and keys (orchestrator/lab/pki.py),
        and the client certificate it shows node agents (issued here if missing). Bookmarks every
        5 s of quiet, not 30: notebook 01 shows one within a cell, and a lab's few hundred watchers
        hardly notice."""
        from orchestrator.lab.pki import ensure_kubelet_client_certificate

        kubelet_cert, kubelet_key = ensure_kubelet_client_certificate(home)
        return cls(
            database_url=database_url, redis_url=redis_url, bind_address=bind_address, secure_port=port,
            tls_cert_file=home.apiserver_cert, tls_private_key_file=home.apiserver_key,
            token_auth_file=home.token_file, client_ca_file=home.ca_cert, relay=relay,
            advertise_port=advertise_port, watch_bookmark_seconds=watch_bookmark_seconds,
            kubelet_client_token_file=home.kubelet_client_token,
            proxy_client_token_file=home.proxy_client_token,
            kubelet_client_certificate=kubelet_cert, kubelet_client_key=kubelet_key,
            kubelet_certificate_authority=home.ca_cert,
            encryption_provider_config=home.encryption_config,
            service_account_signing_key_file=home.service_account_key,
            **more,
        )


@dataclass(frozen=True, kw_only=True)
class Relay(Component):
    """``python -m orchestrator.storage.relay``: the PostgreSQL outbox published to Redis Streams."""

    module: ClassVar[str] = "orchestrator.storage.relay"
    database_url: str
    redis_url: str
    watch_window: int | None = None


@dataclass(frozen=True, kw_only=True)
class _LeaderElected(Component):
    """The flags the scheduler and the controller manager share: identity, election, servers."""

    kubeconfig: Path
    leader_elect: bool = False
    lease_duration: float | None = None
    renew_deadline: float | None = None
    retry_period: float | None = None
    lease_name: str | None = None
    lease_namespace: str | None = None
    identity: str | None = None
    bind_address: str | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None


@dataclass(frozen=True, kw_only=True)
class Scheduler(_LeaderElected):
    """``python -m orchestrator.scheduler`` (flags: orchestrator/scheduler/__main__.py)."""

    module: ClassVar[str] = "orchestrator.scheduler"
    config: Path | None = None  # a KubeSchedulerConfiguration file (profiles, plugins)
    node_selector: str | None = None
    max_concurrent_binds: int | None = None


@dataclass(frozen=True, kw_only=True)
class ControllerManager(_LeaderElected):
    """``python -m orchestrator.controllers`` (flags: orchestrator/controllers/__main__.py)."""

    module: ClassVar[str] = "orchestrator.controllers"
    workers: int | None = None
    controllers: str | None = None
    namespace: str | None = None
    node_monitor_grace_period: float | None = None
    node_monitor_period: float | None = None
    pod_eviction_timeout: int | None = None
    podgc_period: float | None = None
    terminated_pod_gc_threshold: int | None = None
    job_backoff_base: float | None = None
    local_volume_dir: Path | None = None  # where node agents keep local-path volumes
    horizontal_pod_autoscaler_sync_period: str | None = None  # a Go duration: 15s
    horizontal_pod_autoscaler_downscale_stabilization: str | None = None  # a Go duration: 5m0s


@dataclass(frozen=True, kw_only=True)
class MetricsServer(Component):
    """``python -m orchestrator.metrics``: the metrics-server clone (flags: orchestrator/metrics/__main__.py)."""

    module: ClassVar[str] = "orchestrator.metrics"
    kubeconfig: Path
    kubelet_token_file: Path | None = None
    kubelet_certificate_authority: Path | None = None  # node agents over HTTPS, checked against the lab CA
    requestheader_token_file: Path | None = None  # the API server's front-proxy token: only it may ask
    metric_resolution: str | None = None
    bind_address: str | None = None
    port: int | None = None


@dataclass(frozen=True, kw_only=True)
class NodeAgent(Component):
    """``python -m orchestrator.nodeagent``: one node, or (``count``) a fleet of simulated nodes.

    Flags: orchestrator/nodeagent/__main__.py. A fleet acts for many nodes, so it runs with the
    controller manager's identity (a node token may act only for its own node).
    """

    module: ClassVar[str] = "orchestrator.nodeagent"
    kubeconfig: Path
    name: str | None = None
    runtime: str
    count: int | None = None
    name_prefix: str | None = None
    first_index: int | None = None
    straight_to_running: bool = False
    cpu: str | None = None
    memory: str | None = None
    pods: int | None = None
    labels: Mapping[str, str] | None = None
    taints: tuple[str, ...] = _joined()
    node_ip: str | None = None
    log_port: int | None = None
    log_bind: str | None = None
    apiserver_token_file: Path | None = None
    lease_seconds: float | None = None
    status_report_seconds: float | None = None
    crashloop_base: float | None = None
    crashloop_max: float | None = None
    root_dir: Path | None = None
    volume_resync_seconds: float | None = None
    relist_seconds: float | None = None
    metrics_port: int | None = None
    cluster_dns: str | None = None
    # HTTPS with a lab-CA serving certificate, and only lab-CA clients (kubelet's flags of the same
    # names; orchestrator/lab/pki.py node_agent_tls_args issues them).
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None

    @staticmethod
    def tls_for(home: LabHome, agent: str, *, addresses: tuple[str, ...] = ()) -> dict[str, Path]:
        """The TLS fields of node agent process `agent` of a lab, its certificate issued first."""
        from orchestrator.lab.pki import ensure_node_serving_certificate

        cert, key = ensure_node_serving_certificate(home, agent, addresses=addresses)
        return {"tls_cert_file": cert, "tls_private_key_file": key, "client_ca_file": home.ca_cert}


@dataclass(frozen=True, kw_only=True)
class Proxy(Component):
    """``python -m orchestrator.proxy``: Services as iptables rules (flags: orchestrator/proxy/__main__.py)."""

    module: ClassVar[str] = "orchestrator.proxy"
    kubeconfig: Path
    mode: str | None = None
    cluster_cidr: str | None = None
    bind_address: str | None = None
    port: int | None = None
    rules_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class Dns(Component):
    """``python -m orchestrator.dns``: the cluster DNS server (flags: orchestrator/dns/__main__.py)."""

    module: ClassVar[str] = "orchestrator.dns"
    kubeconfig: Path
    zone: str | None = None
    listen: tuple[str, ...] = ()  # host:port, one flag each
    cluster_dns_ip: str | None = None


# The component each ``docker/entrypoint.sh`` word starts (docker-compose.yml's ``command:``).
BY_ENTRYPOINT: dict[str, type[Component]] = {
    "apiserver": ApiServer,
    "relay": Relay,
    "scheduler": Scheduler,
    "controllers": ControllerManager,
    "nodeagent": NodeAgent,
    "proxy": Proxy,
    "dns": Dns,
}
