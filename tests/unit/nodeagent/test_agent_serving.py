"""The node agent's HTTPS endpoint with lab-CA certificates on both sides (the API server → kubelet
path): who gets in, who is refused and how, and the API server's side checking the agent."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.errors import Unavailable
from orchestrator.apiserver.kubeletclient import KubeletClient
from orchestrator.apiserver.streaming.agent import open_stream
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import (
    ensure_kubelet_client_certificate,
    ensure_node_serving_certificate,
    ensure_pki,
    issue_client_certificate,
)
from orchestrator.nodeagent.logserver import LogServer
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime
from orchestrator.nodeagent.serving import server_context
from tests.unit.nodeagent.test_podworker import RecordingSink, config, pod


@dataclass
class Agent:
    home: LabHome
    other: LabHome  # a second lab: another CA
    port: int
    tmp: Path

    def client(self, cert: tuple[Path, Path] | None = None, *, ca: Path | None = None) -> httpx.AsyncClient:
        context = ssl.create_default_context(cafile=str(ca or self.home.ca_cert))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        return httpx.AsyncClient(base_url=f"https://127.0.0.1:{self.port}", verify=context, timeout=5)

    def user_cert(self, home: LabHome, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        cert, key = issue_client_certificate(home, user=user, groups=groups)
        paths = self.tmp / f"{user}-{home.root.name}.crt", self.tmp / f"{user}-{home.root.name}.key"
        paths[0].write_bytes(cert)
        paths[1].write_bytes(key)
        return paths


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    home, other = LabHome(tmp_path / "lab"), LabHome(tmp_path / "other")
    ensure_pki(home)
    ensure_pki(other)
    runtime = SimulatedRuntime()
    worker = PodWorker(pod(), config=config(runtime, RecordingSink()))
    await worker.sync()
    cert, key = ensure_node_serving_certificate(home, "node-1")
    server = LogServer(find_worker=lambda ns, name: worker if (ns, name) == ("ns", "p") else None,
                       tokens=["secret"], metrics=lambda: b"m 1\n", host="127.0.0.1",
                       ssl_context=server_context(cert, key, home.ca_cert))
    port = await server.start()
    try:
        yield Agent(home, other, port, tmp_path)
    finally:
        await server.close()


async def test_the_api_servers_certificate_reads_logs(agent: Agent) -> None:
    async with agent.client(ensure_kubelet_client_certificate(agent.home)) as client:
        r = await client.get("/containerLogs/ns/p/c")
        assert r.status_code == 200 and b"started busybox:latest as c in pod ns/p" in r.content
        assert (await client.get("/containerLogs/ns/other/c")).status_code == 404


async def test_no_certificate_is_401_even_with_the_token_and_health_needs_none(agent: Agent) -> None:
    async with agent.client() as client:
        for path in ("/containerLogs/ns/p/c", "/exec/ns/p/c?command=true", "/portForward/ns/p?port=80",
                     "/stats/summary"):
            r = await client.get(path, headers={"Authorization": "Bearer secret"})
            assert r.status_code == 401, (path, r.text)
            assert r.json()["reason"] == "Unauthorized" and "client certificate" in r.json()["message"]
        assert (await client.get("/healthz")).text == "ok"
        assert (await client.get("/metrics")).content == b"m 1\n"


async def test_a_users_lab_certificate_is_403(agent: Agent) -> None:
    async with agent.client(agent.user_cert(agent.home, "alice", ("dev",))) as client:
        r = await client.get("/containerLogs/ns/p/c")
        assert r.status_code == 403 and "user=alice" in r.json()["message"]
    async with agent.client(agent.user_cert(agent.home, "root", ("system:masters",))) as client:
        assert (await client.get("/containerLogs/ns/p/c")).status_code == 200


async def test_another_cas_certificate_and_plain_http_are_refused(agent: Agent) -> None:
    # The handshake itself fails: the lab CA did not sign it (nothing is served).
    async with agent.client(agent.user_cert(agent.other, "kube-apiserver-kubelet-client", ("system:masters",))) as c:
        with pytest.raises(httpx.HTTPError):
            await c.get("/containerLogs/ns/p/c")
    async with httpx.AsyncClient(timeout=5) as plain:
        with pytest.raises(httpx.HTTPError):
            await plain.get(f"http://127.0.0.1:{agent.port}/containerLogs/ns/p/c",
                            headers={"Authorization": "Bearer secret"})


class OneNode:
    """The store, as far as open_stream reads it: one Node naming the agent's endpoint."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                                                       "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}}}}


async def test_the_api_server_checks_the_agents_certificate(agent: Agent) -> None:
    client_cert, client_key = ensure_kubelet_client_certificate(agent.home)
    store: Any = OneNode(agent.port)
    good = KubeletClient(client_cert=client_cert, client_key=client_key, ca_file=agent.home.ca_cert)
    reader, writer = await open_stream(store, good, node_name="node-1", path="/exec/ns/p/c",
                                       params=[("command", "echo"), ("command", "hi"), ("stdout", "true")])
    frames = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert b"hi" in frames
    # An agent whose certificate the configured CA did not sign is not talked to.
    wrong = KubeletClient(client_cert=client_cert, client_key=client_key, ca_file=agent.other.ca_cert)
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await open_stream(store, wrong, node_name="node-1", path="/exec/ns/p/c", params=[("command", "true")])


def test_only_the_client_ca_verifies_callers(tmp_path: Path) -> None:
    # The system's CAs must not verify client certificates: a public CA's certificate named
    # kube-apiserver-kubelet-client would otherwise get in.
    home = LabHome(tmp_path)
    ensure_pki(home)
    cert, key = ensure_node_serving_certificate(home, "node-1")
    assert server_context(cert, key, home.ca_cert).cert_store_stats()["x509_ca"] == 1
