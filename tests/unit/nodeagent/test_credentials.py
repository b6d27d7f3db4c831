"""In-pod credentials: what a container gets, and what happens when the token cannot be had."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from orchestrator.api.errors import NotFound
from orchestrator.nodeagent.credentials import (
    MOUNT_PATH,
    ApiServerForwarder,
    Projection,
    ServiceAccountCredentials,
)
from orchestrator.nodeagent.podworker import PodWorker, WorkerConfig
from orchestrator.nodeagent.runtimes.base import ContainerSpec, ContainerStartFailed, ContainerState
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime
from tests.unit.nodeagent.test_podworker import RecordingSink, until


class FakeClient:
    """Answers TokenRequests like the API server does, or fails like it when told to."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def request_json(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        self.requests.append((path, body))
        if self.error is not None:
            raise self.error
        return {"kind": "TokenRequest", "status": {"token": "header.claims.signature"}}


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "team", "uid": "pod-uid"},
            "spec": {"containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                                     "env": [{"name": "KUBERNETES_SERVICE_PORT", "value": "own"}]}], **spec}}


def creds(client: FakeClient) -> ServiceAccountCredentials:
    return ServiceAccountCredentials(client, ca_pem=b"-----BEGIN CERTIFICATE-----\n", service_host="172.17.0.1",
                                     service_port=40000)  # type: ignore[arg-type]


async def test_a_pod_gets_a_token_bound_to_it_the_ca_and_its_namespace() -> None:
    client = FakeClient()
    projection = await creds(client).for_pod(pod(serviceAccountName="builder"))
    [(path, body)] = client.requests
    assert path == "/api/v1/namespaces/team/serviceaccounts/builder/token"
    assert body["spec"]["boundObjectRef"] == {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "pod-uid"}
    assert projection.files == {f"{MOUNT_PATH}/token": b"header.claims.signature",
                                f"{MOUNT_PATH}/ca.crt": b"-----BEGIN CERTIFICATE-----\n",
                                f"{MOUNT_PATH}/namespace": b"team"}
    assert projection.env["KUBERNETES_SERVICE_HOST"] == "172.17.0.1"
    assert projection.env["KUBERNETES_SERVICE_PORT"] == "40000"


async def test_opting_out_gives_the_address_but_no_files_and_asks_for_no_token() -> None:
    client = FakeClient()
    projection = await creds(client).for_pod(pod(automountServiceAccountToken=False))
    assert projection.files == {} and projection.env["KUBERNETES_SERVICE_HOST"] == "172.17.0.1"
    assert client.requests == []


async def test_a_missing_named_account_fails_the_start_but_a_missing_default_does_not() -> None:
    client = FakeClient(NotFound('serviceaccounts "builder" not found'))
    with pytest.raises(ContainerStartFailed) as failed:
        await creds(client).for_pod(pod(serviceAccountName="builder"))
    assert failed.value.waiting_reason == "CreateContainerConfigError"
    assert (await creds(client).for_pod(pod())).files == {}


class RecordingRuntime(SimulatedRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.specs: list[ContainerSpec] = []

    async def create_and_start(self, spec: ContainerSpec) -> ContainerState:
        self.specs.append(spec)
        return await super().create_and_start(spec)


async def test_the_pod_worker_hands_the_projection_to_the_runtime_and_the_pods_env_wins() -> None:
    class Fixed:
        async def for_pod(self, p: Any) -> Projection:
            return Projection(env={"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"},
                              files={"/var/run/x": b"y"})

    runtime, sink = RecordingRuntime(), RecordingSink()
    p = pod()
    p["metadata"]["uid"] = str(uuid.uuid4())
    worker = PodWorker(p, config=WorkerConfig(node_name="n1", runtime=runtime, sink=sink, runtime_scheme="labkit-sim",
                                              credentials=Fixed()))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: runtime.specs)
        spec = runtime.specs[0]
        assert spec.files == {"/var/run/x": b"y"}
        assert spec.env == {"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "own"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_forwarder_relays_bytes_both_ways() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong:" + await reader.read(4))
        await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    forwarder = ApiServerForwarder(f"https://127.0.0.1:{port}", listen_host="127.0.0.1")
    try:
        local = await forwarder.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b"pong:ping"
        writer.close()
    finally:
        await forwarder.close()
        upstream.close()
