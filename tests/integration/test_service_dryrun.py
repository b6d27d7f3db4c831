"""On a simulated lab the proxy is a dry run: it says so, computes kube-proxy's rules for the
Services and serves them, and changes nothing on the host; the cluster DNS answers on loopback.

Runs without Docker or root (the labs CI runs where Docker is absent take this path)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from labs.lab import Lab
from orchestrator.client.rest import ApiClient
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.proxy.rules import chain_prefix
from tests.labctl import run_labctl


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("svc-dryrun")
    up = run_labctl(home, "up", "--nodes", "1", "--runtime", "simulated", "--port", str(free_port()),
                    "--skip", "scheduler")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield home
    finally:
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def component_address(home: Path, name: str) -> tuple[str, int]:
    state = json.loads((home / "run" / "state.json").read_text())
    host, _, port = next(c["address"] for c in state["components"] if c["name"] == name).rpartition(":")
    return host, int(port)


def test_the_dry_run_proxy_says_so_and_shows_the_rules_it_would_apply(lab: Path) -> None:
    async def create() -> str:
        async with ApiClient.from_kubeconfig(lab / "admin.kubeconfig") as client:
            svc = await client.create("services", {"metadata": {"name": "web", "namespace": "default"},
                                                   "spec": {"ports": [{"name": "http", "port": 80}]}})
            await client.create("endpointslices", {
                "metadata": {"name": "web-1", "namespace": "default",
                             "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": True}}]})
            return svc["spec"]["clusterIP"]

    cluster_ip = asyncio.run(create())
    host, port = component_address(lab, "proxy")
    deadline = time.monotonic() + 10
    while "10.244.0.5:8080" not in (rules := httpx.get(f"http://{host}:{port}/rules", timeout=5).text):
        assert time.monotonic() < deadline, rules
        time.sleep(0.1)
    assert rules.startswith("# labkit proxy") and "DRY RUN" in rules
    assert f"-d {cluster_ip}/32 --dport 80" in rules
    assert "DRY RUN" in (lab / "logs" / "proxy.log").read_text()
    # What a notebook shows: the one Service's rules, from the lab home (labs/lab.py).
    web = Lab(settings=LabSettings(home=LabHome(lab)), runtime="simulated").proxy_rules("web")
    assert "DRY RUN" in web.splitlines()[0] and "10.244.0.5:8080" in web and "default/kubernetes" not in web
    assert httpx.get(f"http://{host}:{port}/status", timeout=5).json()["mode"] == "dry-run"
    prefix = chain_prefix(cluster_id(lab / "admin.kubeconfig"))
    if shutil.which("iptables-save"):  # nothing of this lab on the host (readable as root only)
        assert prefix not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def test_cluster_dns_answers_on_loopback(lab: Path) -> None:
    host, port = component_address(lab, "dns")
    deadline = time.monotonic() + 10
    while True:
        reply = DNSRecord.parse(DNSRecord.question("kubernetes.default.svc.cluster.local").send(host, port, timeout=5))
        if reply.header.rcode == RCODE.NOERROR or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # SERVFAIL until its informers have synced
    assert reply.header.rcode == RCODE.NOERROR
    assert [QTYPE[rr.rtype] for rr in reply.rr] == ["A"]
    assert str(reply.rr[0].rdata).startswith("10.")
