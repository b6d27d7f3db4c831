"""`labctl up`'s proxy and DNS components: iptables and the pods' nameserver on Docker, a dry run and
loopback DNS on simulated labs, neither without nodes (orchestrator/lab/up.py, network_specs)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.lab import up
from orchestrator.lab.home import LabHome
from orchestrator.lab.up import DockerBridge, LabContext, control_plane


def ctx(tmp_path: Path, **kwargs) -> LabContext:  # type: ignore[no-untyped-def]
    base = dict(home=LabHome(tmp_path), database_url="postgresql://x", redis_url="redis://x", apiserver_port=6443,
                nodes=1, runtime="docker")
    return LabContext(**{**base, **kwargs})


def specs(c: LabContext) -> dict[str, list[str]]:
    return {s.name: list(s.argv) for s in control_plane(c)}


def test_docker_lab_programs_iptables_and_gives_pods_the_cluster_nameserver(tmp_path: Path) -> None:
    argv = specs(ctx(tmp_path, bridge=DockerBridge("172.17.0.0/16", "172.17.0.1"), cluster_dns="169.254.150.7"))
    proxy, dns, node = argv["proxy"], argv["dns"], argv["node-1"]
    assert proxy[proxy.index("--mode") + 1] == "auto" and proxy[proxy.index("--cluster-cidr") + 1] == "172.17.0.0/16"
    assert proxy[proxy.index("--kubeconfig") + 1].endswith("kube-proxy.kubeconfig")
    listen = [dns[i + 1] for i, a in enumerate(dns) if a == "--listen"]
    assert listen[0].startswith("127.0.0.1:") and listen[1] == "172.17.0.1:" + listen[0].split(":")[1]
    assert dns[dns.index("--cluster-dns-ip") + 1] == "169.254.150.7"
    assert node[node.index("--cluster-dns") + 1] == "169.254.150.7"
    names = list(argv)
    assert names.index("proxy") < names.index("node-1") and names.index("dns") < names.index("node-1")


def test_simulated_lab_runs_the_proxy_as_a_dry_run_and_dns_on_loopback_only(tmp_path: Path) -> None:
    argv = specs(ctx(tmp_path, runtime="simulated"))
    assert argv["proxy"][argv["proxy"].index("--mode") + 1] == "dry-run"
    assert "--cluster-dns-ip" not in argv["dns"] and "--cluster-dns" not in argv["node-1"]


def test_no_proxy_or_dns_without_nodes(tmp_path: Path) -> None:
    assert not {"proxy", "dns"} & set(specs(ctx(tmp_path, nodes=0)))
    assert not {"proxy", "dns"} & set(specs(ctx(tmp_path, skip=frozenset({"nodes"}))))
    assert "dns" in specs(ctx(tmp_path, skip=frozenset({"proxy"})))
    assert "proxy" not in specs(ctx(tmp_path, skip=frozenset({"proxy"})))


def _inspect(monkeypatch: pytest.MonkeyPatch, config: dict[str, str]) -> None:
    network = [{"IPAM": {"Config": [config]}, "Options": {"com.docker.network.bridge.name": "docker0"}}]
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, json.dumps(network), ""))
    up.docker_bridge.cache_clear()


def test_the_bridge_gateway_comes_from_docker_or_else_from_the_bridge_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    _inspect(monkeypatch, {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"})
    assert up.docker_bridge() == DockerBridge("172.17.0.0/16", "172.17.0.1")
    # Some engines leave the gateway out of `docker network inspect`: the bridge's own address is it.
    interfaces = {"docker0": [SimpleNamespace(family=socket.AF_INET6, address="fe80::1"),
                              SimpleNamespace(family=socket.AF_INET, address="172.17.0.1")],
                  "eth0": [SimpleNamespace(family=socket.AF_INET, address="192.0.2.2")]}
    monkeypatch.setattr(up.psutil, "net_if_addrs", lambda: interfaces)
    _inspect(monkeypatch, {"Subnet": "172.17.0.0/16"})
    assert up.docker_bridge() == DockerBridge("172.17.0.0/16", "172.17.0.1")
    _inspect(monkeypatch, {"Subnet": "10.99.0.0/16"})  # no address of the bridge in its subnet: unknown
    assert up.docker_bridge() is None
    up.docker_bridge.cache_clear()
