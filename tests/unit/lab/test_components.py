"""orchestrator/lab/components.py against the components' own parsers and docker/docker-compose.yml.

Every flag a builder can emit must be one the component's argparse parser accepts (with a value
of the right type); every flag the compose file gives a component must be one its builder knows,
and the compose services run the lab's components with the flags `labctl up` gives them, except
the differences listed here with why.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.lab import components as c
from orchestrator.lab.home import LabHome
from orchestrator.lab.up import LabContext, control_plane

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker" / "docker-compose.yml"


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _parser_of(entry: Callable[[list[str]], Any], monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The argparse parser a component's entry point builds, taken as it starts parsing."""

    def capture(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Captured(self)

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", capture)
        try:
            entry([])
        except _Captured as captured:
            return captured.parser
    raise AssertionError(f"{entry} built no parser")


def _entry(module: str) -> Callable[[list[str]], Any]:
    if module == "orchestrator.apiserver":
        from orchestrator.apiserver.settings import Settings

        return Settings.from_args
    if module == "orchestrator.storage.relay":
        from orchestrator.storage.relay import main

        return main
    import importlib

    return importlib.import_module(f"{module}.__main__").parse_args


# One instance of each builder with every flag set, so every flag is put to the parser.
P = Path("/lab/x")
FULL: list[c.Component] = [
    c.ApiServer(database_url="postgresql://h/db", redis_url="redis://h/0", bind_address="0.0.0.0", secure_port=6443,
                tls_cert_file=P, tls_private_key_file=P, token_auth_file=P, client_ca_file=P, relay=False,
                advertise_port=16443, kubelet_client_token_file=P, proxy_client_token_file=P,
                kubelet_client_certificate=P, kubelet_client_key=P, kubelet_certificate_authority=P,
                extra_bind_address=("172.17.0.1",), advertise_address="172.17.0.1",
                service_cluster_ip_range="10.96.0.0/20",
                encryption_provider_config=P, service_account_signing_key_file=P, watch_bookmark_seconds=0.5),
    c.Relay(database_url="postgresql://h/db", redis_url="redis://h/0", watch_window=100),
    c.Scheduler(kubeconfig=P, config=P, leader_elect=True, lease_duration=4, renew_deadline=3, retry_period=0.5,
                lease_name="l", lease_namespace="kube-system", identity="s-2", bind_address="127.0.0.1",
                grpc_port=1, metrics_port=0, node_selector="a=b", max_concurrent_binds=8),
    c.ControllerManager(kubeconfig=P, leader_elect=True, lease_duration=4, renew_deadline=3, retry_period=0.5,
                        lease_name="l", lease_namespace="kube-system", identity="cm", bind_address="127.0.0.1",
                        grpc_port=0, metrics_port=0, workers=2, controllers="deployment", namespace="ns",
                        node_monitor_grace_period=8, node_monitor_period=1, pod_eviction_timeout=5,
                        podgc_period=2, terminated_pod_gc_threshold=10, job_backoff_base=1, local_volume_dir=P,
                        horizontal_pod_autoscaler_sync_period="1s",
                        horizontal_pod_autoscaler_downscale_stabilization="5s"),
    c.MetricsServer(kubeconfig=P, kubelet_token_file=P, kubelet_certificate_authority=P, requestheader_token_file=P, metric_resolution="15s",
                    bind_address="127.0.0.1", port=0),
    c.NodeAgent(kubeconfig=P, name="node-1", runtime="simulated", count=2, name_prefix="n-", first_index=3,
                straight_to_running=True, cpu="4", memory="8Gi", pods=10, labels={"a": "b", "c": "d"},
                taints=("k=v:NoSchedule", "x:NoExecute"), node_ip="10.0.0.1", log_port=0, log_bind="127.0.0.1",
                apiserver_token_file=P, lease_seconds=4, status_report_seconds=5, crashloop_base=1, crashloop_max=2, root_dir=P, volume_resync_seconds=1,
                relist_seconds=0.5, metrics_port=0,
                cluster_dns="169.254.20.10", tls_cert_file=P, tls_private_key_file=P, client_ca_file=P),
    c.Proxy(kubeconfig=P, mode="dry-run", cluster_cidr="172.17.0.0/16", bind_address="127.0.0.1", port=0, rules_file=P),
    c.Dns(kubeconfig=P, zone="cluster.local", listen=("127.0.0.1:53", "172.17.0.1:53"), cluster_dns_ip="169.254.20.10"),
]


def test_every_field_of_every_builder_is_set_above() -> None:
    for builder in FULL:
        unset = [f.name for f in dataclasses.fields(builder)
                 if f.name != "extra" and not f.metadata.get("off")
                 and (getattr(builder, f.name) is None or getattr(builder, f.name) is False
                      or getattr(builder, f.name) == ())]
        assert unset == [], f"{type(builder).__name__}: set {unset} so the parser sees them"


@pytest.mark.parametrize("builder", FULL, ids=lambda b: type(b).__name__)
def test_every_flag_a_builder_emits_is_accepted_by_the_component(builder: c.Component,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    parser = _parser_of(_entry(builder.module), monkeypatch)
    args = builder.args()
    parsed = vars(parser.parse_args(args))  # an unknown flag or a badly typed value exits here
    for f in dataclasses.fields(builder):
        if f.name == "extra" or f.metadata.get("off"):
            continue
        assert f.name in parsed, f"{builder.module} has no --{f.name.replace('_', '-')}"
    argv = builder.argv(python="python3")
    assert argv[:3] == ["python3", "-m", builder.module] and argv[3:] == args


def test_values_are_rendered_as_the_components_read_them() -> None:
    agent = c.NodeAgent(kubeconfig=P, runtime="docker", labels={"zone": "a", "disk": "ssd"},
                        taints=("t=1:NoSchedule", "u:NoExecute"), straight_to_running=False, extra=("-v",))
    assert agent.args() == ["--kubeconfig", "/lab/x", "--runtime", "docker", "--labels", "zone=a,disk=ssd",
                            "--taints", "t=1:NoSchedule,u:NoExecute", "-v"]
    assert "--no-relay" not in c.ApiServer(database_url="d", redis_url="r", token_auth_file=P).args()
    assert "--no-relay" in c.ApiServer(database_url="d", redis_url="r", token_auth_file=P, relay=False).args()
    assert c.Dns(kubeconfig=P, listen=("a:1", "b:2")).args() == ["--kubeconfig", "/lab/x", "--listen", "a:1",
                                                                  "--listen", "b:2"]


def _compose_flags(command: list[str]) -> dict[str, str | None]:
    """``--flag=value`` / ``--flag value`` / ``--switch`` words of a compose command, by flag."""
    out: dict[str, str | None] = {}
    words = [str(w) for w in command]
    i = 0
    while i < len(words):
        word = words[i]
        assert word.startswith("--"), f"{word!r} in {command}: expected a --flag"
        if "=" in word:
            flag, value = word.split("=", 1)
            out[flag] = value
        elif i + 1 < len(words) and not words[i + 1].startswith("--"):
            out[word] = words[i + 1]
            i += 1
        else:
            out[word] = None
        i += 1
    return out


def _builder_from_flags(kind: type[c.Component], flags: dict[str, str | None]) -> c.Component:
    by_flag = {f.metadata.get("off") or "--" + f.name.replace("_", "-"): f for f in dataclasses.fields(kind)
               if f.name != "extra"}
    kwargs: dict[str, Any] = {}
    for flag, value in flags.items():
        assert flag in by_flag, f"{kind.__name__} ({kind.module}) has no {flag}: add it to orchestrator/lab/components.py"
        f = by_flag[flag]
        kwargs[f.name] = (False if f.metadata.get("off") else True) if value is None else value
    return kind(**kwargs)  # a required flag missing from the compose file is a TypeError here


def _compose_services() -> dict[str, tuple[type[c.Component], dict[str, str | None]]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    out = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command and command[0] in c.BY_ENTRYPOINT:
            out[name] = (c.BY_ENTRYPOINT[command[0]], _compose_flags(command[1:]))
    return out


def test_the_compose_file_gives_each_component_only_flags_its_builder_knows() -> None:
    services = _compose_services()
    assert {"apiserver", "relay", "scheduler", "controller-manager", "node-1"} <= set(services)
    for name, (kind, flags) in services.items():
        builder = _builder_from_flags(kind, flags)
        assert _compose_flags(builder.args()) == flags, name


# Where the compose stack's flags differ from `labctl up`'s, and why.
COMPOSE_DIFFERS = {
    # Containers reach a node's log endpoint by its service name, not loopback.
    "--node-ip": "compose nodes are reached by hostname",
    # `labctl up` adds it only where its DNS server can DNAT to the lab's link-local address.
    "--cluster-dns": "the compose stack runs no cluster DNS server",
    # docker/credentials.py writes the CA, certificates, tokens and kubeconfigs, not (yet) the
    # encryption configuration and the ServiceAccount signing key `labctl up` makes (pki.py).
    "--encryption-provider-config": "not written by docker/credentials.py",
    "--service-account-signing-key-file": "not written by docker/credentials.py",
    # One API server: the `kubernetes` Service names its own port (`labctl up` passes HAProxy's
    # when there are several, and the same port when there is one).
    "--advertise-port": "one API server, its own port",
    # The compose stack runs no metrics server, so its API server proxies to no aggregated API.
    "--proxy-client-token-file": "no metrics server in the compose stack",
    # Lessons and tests shorten the HPA's timers through `labctl up`; the stack keeps the defaults.
    "--horizontal-pod-autoscaler-sync-period": "Kubernetes' default in the stack",
    "--horizontal-pod-autoscaler-downscale-stabilization": "Kubernetes' default in the stack",
    # The stack's node agents keep claims in their own volume; released ones stay (no reclaim dir).
    "--local-volume-dir": "claims' directories are not removed on reclaim in the stack",
    # `labctl up` gives node agents lab-CA serving certificates and the API server its client
    # certificate for them (docs/authentication.md); docker/credentials.py issues neither yet, so
    # the stack's API server -> node agent hop is the plain-HTTP one with the kubelet-client token.
    "--kubelet-client-certificate": "no node-agent certificates in the stack yet",
    "--kubelet-client-key": "no node-agent certificates in the stack yet",
    "--kubelet-certificate-authority": "no node-agent certificates in the stack yet",
    "--tls-cert-file": "no node-agent certificates in the stack yet",
    "--tls-private-key-file": "no node-agent certificates in the stack yet",
    "--client-ca-file": "no node-agent certificates in the stack yet",
    # Each lab's own ClusterIP range is derived from its CA; the stack keeps Kubernetes' default.
    "--service-cluster-ip-range": "the stack keeps 10.96.0.0/12",
    # Pods of the stack do not reach its API server (docs/compose.md).
    "--extra-bind-address": "pods do not reach the stack's API server",
    "--advertise-address": "pods do not reach the stack's API server",
}


def test_the_compose_services_run_the_components_with_the_flags_labctl_up_gives_them(tmp_path: Path) -> None:
    ctx = LabContext(home=LabHome(tmp_path), database_url="postgresql://h/db", redis_url="redis://h/0",
                     apiserver_port=6443, nodes=1, runtime="docker", ports={}, bridge=None, cluster_dns="")
    up = {spec.name: set(_compose_flags(list(spec.argv[3:]))) for spec in control_plane(ctx)}
    compared = 0
    for name, (_, flags) in _compose_services().items():
        if name not in up:
            continue
        differ = set(flags) ^ up[name]
        assert differ <= set(COMPOSE_DIFFERS), f"{name}: compose and `labctl up` differ in {sorted(differ)}"
        compared += 1
    assert compared >= 5
