"""The component shell (orchestrator/client/component.py): gRPC health, the metrics endpoint, the
parseable start line, and the elector the standard flags ask for."""

from __future__ import annotations

import argparse

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.client.component import leader_elector, new_identity, serving
from orchestrator.client.rest import ApiClient


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return answer.status


async def test_serving_reports_health_metrics_and_its_ports(capsys: pytest.CaptureFixture[str]) -> None:
    async with serving("demo", "demo-1", bind_address="127.0.0.1", grpc_port=0, metrics_port=0,
                       add_servicer=lambda server: None, service_name="demo.v1.Demo",
                       metrics=lambda: b"demo_total 3\n") as up:
        line = capsys.readouterr().out.strip()
        assert line == (f"demo demo-1 serving gRPC on 127.0.0.1:{up.grpc_port} "
                        f"metrics on 127.0.0.1:{up.metrics_port}")
        assert await _health(up.grpc_port, "") == health_pb2.HealthCheckResponse.SERVING
        assert await _health(up.grpc_port, "demo.v1.Demo") == health_pb2.HealthCheckResponse.NOT_SERVING
        await up.synced()
        assert await _health(up.grpc_port, "demo.v1.Demo") == health_pb2.HealthCheckResponse.SERVING
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{up.metrics_port}") as http:
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200 and metrics.text == "demo_total 3\n"
            assert metrics.headers["content-type"].startswith("text/plain; version=")  # the exposition format
            assert (await http.get("/healthz")).text == "ok"
            assert (await http.get("/nope")).status_code == 404
        ports = up.grpc_port, up.metrics_port
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{ports[1]}/healthz")


def test_identity_is_the_flag_or_unique_per_process() -> None:
    assert new_identity("sched-2") == "sched-2"
    first, second = new_identity(None), new_identity(None)
    assert first != second and "_" in first


async def test_the_elector_follows_the_standard_flags() -> None:
    args = argparse.Namespace(leader_elect=True, lease_name="kube-scheduler", lease_namespace="kube-system",
                              lease_duration=4.0, renew_deadline=3.0, retry_period=0.5)
    client = ApiClient("https://127.0.0.1:1", token="t")
    try:
        elector = leader_elector(client, args, identity="s-1", on_started_leading=lambda: None)
        assert elector is not None and elector.identity == "s-1"
        assert leader_elector(client, argparse.Namespace(leader_elect=False), identity="s-1",
                              on_started_leading=lambda: None) is None
    finally:
        await client.close()
