"""Scheduler integration fixtures: the session lab (tests/support/fixtures.py), an admin client, and a
`cluster` per test — its own namespace, its own schedulerName profile and its own nodes
(labelled, and seen by the scheduler through --node-selector), so tests do not see each
other's nodes or pods, nor whatever else the lab runs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.api.errors import NotFound
from orchestrator.client.rest import ApiClient
from orchestrator.lab.components import Scheduler
from orchestrator.proto import scheduler_pb2, scheduler_pb2_grpc
from tests import factories
from tests.support.lab import Lab

TEST_LABEL = "labkit.test/cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SchedulerProcess:
    """One `python -m orchestrator.scheduler` subprocess and its ports."""

    proc: subprocess.Popen[bytes]
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stub(self) -> scheduler_pb2_grpc.SchedulerStub:
        channel = grpc.insecure_channel(self.address)
        return scheduler_pb2_grpc.SchedulerStub(channel)

    def status(self) -> scheduler_pb2.GetStatusResponse:
        with grpc.insecure_channel(self.address) as channel:
            return scheduler_pb2_grpc.SchedulerStub(channel).GetStatus(scheduler_pb2.GetStatusRequest(), timeout=5)

    def explain(self, **request: str) -> scheduler_pb2.ExplainResponse:
        with grpc.insecure_channel(self.address) as channel:
            stub = scheduler_pb2_grpc.SchedulerStub(channel)
            return stub.Explain(scheduler_pb2.ExplainRequest(**request), timeout=10)

    def synced(self) -> bool:
        with grpc.insecure_channel(self.address) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="orchestrator.scheduler.v1.Scheduler"), timeout=1
                )
            except grpc.RpcError:
                return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    """A test's share of the lab."""

    lab: Lab
    admin: ApiClient
    namespace: str
    scheduler_name: str
    label: str
    tmp: Path
    processes: list[SchedulerProcess] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)

    # --- objects ---------------------------------------------------------------------------

    async def add_node(self, name: str, *, taints: list[dict[str, str]] | None = None, **kwargs: Any) -> dict[str, Any]:
        labels = {TEST_LABEL: self.label, **kwargs.pop("labels", {})}
        obj = factories.node(f"{self.label}-{name}", labels=labels, **kwargs)
        if taints:
            obj["spec"]["taints"] = taints
        self.nodes.append(obj["metadata"]["name"])
        return await self.admin.create("nodes", obj)

    def node_name(self, short: str) -> str:
        return f"{self.label}-{short}"

    def pod(self, name: str, **kwargs: Any) -> dict[str, Any]:
        extra_spec = kwargs.pop("spec", {})
        obj = factories.pod(name, namespace=self.namespace, **kwargs)
        obj["spec"]["schedulerName"] = self.scheduler_name
        obj["spec"].update(extra_spec)
        return obj

    async def create_pod(self, name: str, **kwargs: Any) -> dict[str, Any]:
        return await self.admin.create("pods", self.pod(name, **kwargs))

    async def get_pod(self, name: str) -> dict[str, Any]:
        return await self.admin.get("pods", name, namespace=self.namespace)

    async def wait_bound(self, name: str, *, timeout: float = 20) -> str:
        """The node the pod got, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            pod = await self.get_pod(name)
            node = pod["spec"].get("nodeName")
            if node:
                return str(node)
            if time.monotonic() > deadline:
                raise AssertionError(f"pod {name} not bound after {timeout}s: {pod.get('status')}\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def events(self, pod_name: str, reason: str | None = None) -> list[dict[str, Any]]:
        listed = await self.admin.list("events", namespace=self.namespace)
        return [
            e for e in listed["items"]
            if e["involvedObject"].get("name") == pod_name and (reason is None or e.get("reason") == reason)
        ]

    async def wait_event(self, pod_name: str, reason: str, *, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = await self.events(pod_name, reason)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {reason} event for {pod_name} after {timeout}s\n{self.logs()}")
            await asyncio.sleep(0.2)

    # --- scheduler processes ---------------------------------------------------------------

    def write_config(self, profile: dict[str, Any] | None = None, **top: Any) -> Path:
        config = {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "podInitialBackoffSeconds": 1,
            "podMaxBackoffSeconds": 2,
            **top,
            "profiles": [{"schedulerName": self.scheduler_name, **(profile or {})}],
        }
        path = self.tmp / f"config-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def start_scheduler(self, *extra: str, config: Path | None = None, wait: bool = True) -> SchedulerProcess:
        grpc_port, metrics_port = free_port(), free_port()
        log_path = self.tmp / f"scheduler-{len(self.processes)}.log"
        argv = Scheduler(kubeconfig=self.lab.kubeconfig_for("scheduler"), config=config or self.write_config(),
                         grpc_port=grpc_port, metrics_port=metrics_port, node_selector=f"{TEST_LABEL}={self.label}",
                         lease_name=f"sched-{self.label}", extra=extra).argv()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        process = SchedulerProcess(proc, grpc_port, metrics_port, log_path)
        self.processes.append(process)
        if wait:
            deadline = time.monotonic() + 30
            while not process.synced():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"scheduler did not start:\n{process.log()}")
                time.sleep(0.1)
        return process

    def logs(self) -> str:
        return "\n".join(f"--- scheduler {i} ---\n{p.log()[-4000:]}" for i, p in enumerate(self.processes))


@pytest.fixture
async def admin(lab: Lab) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(lab.kubeconfig) as client:
        yield client


@pytest.fixture
async def cluster(lab: Lab, admin: ApiClient, namespace: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    label = f"s{uuid.uuid4().hex[:6]}"
    c = Cluster(lab, admin, namespace, f"sched-{label}", label, tmp_path)
    try:
        yield c
    finally:
        for process in c.processes:
            process.kill()
        for name in c.nodes:
            try:
                await admin.delete("nodes", name)
            except NotFound:
                pass
