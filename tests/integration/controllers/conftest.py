"""Controller-manager integration fixtures: a lab of this directory's own, an admin ApiClient, a
controller manager subprocess per test (acting only in the test's namespace, on its own Lease),
and `SimKubelet` — a stand-in for the scheduler and node agents (bind pods round-robin to the
test's nodes, report them Running and Ready, finish graceful deletions, renew node Leases) so
these tests do not depend on those components.

The lab is this directory's own, not the session lab of tests/support/fixtures.py: node-lifecycle
tests count every node of the lab in their zone (a lab other directories left NotReady nodes in puts
the zone in PartialDisruption, where a small cluster evicts nothing), and the persistent-volume
binder binds claims to any PersistentVolume of the lab. `api` and `namespace` follow this `lab`."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from orchestrator.api.errors import ApiError, Conflict, NotFound
from orchestrator.client.informer import Informer
from orchestrator.client.rest import ApiClient
from orchestrator.lab.components import ControllerManager
from orchestrator.proto import controllers_pb2, controllers_pb2_grpc
from tests import factories
from tests.support.lab import Lab, start_lab

SCHEDULER_NAME = "labkit-test-nobody"  # no real scheduler picks these pods up


def stamp(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ControllerManagerProcess:
    proc: subprocess.Popen[str]
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stub(self) -> tuple[grpc.Channel, controllers_pb2_grpc.ControllerManagerStub]:
        channel = grpc.insecure_channel(self.address)
        return channel, controllers_pb2_grpc.ControllerManagerStub(channel)

    def status(self) -> controllers_pb2.GetStatusResponse:
        channel, stub = self.stub()
        with channel:
            return stub.GetStatus(controllers_pb2.GetStatusRequest(), timeout=5)

    def controllers(self) -> dict[str, controllers_pb2.ControllerInfo]:
        channel, stub = self.stub()
        with channel:
            listed = stub.ListControllers(controllers_pb2.ListControllersRequest(), timeout=5)
        return {c.name: c for c in listed.controllers}

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_controller_manager(lab: Lab, namespace: str, log_dir: Path, *extra: str,
                             leader_elect: bool = False, identity: str | None = None) -> ControllerManagerProcess:
    identity = identity or f"cm-{uuid.uuid4().hex[:6]}"
    log_path = log_dir / f"{identity}.log"
    election = dict(leader_elect=True, lease_name=f"cm-{namespace}", lease_duration=4, renew_deadline=3,
                    retry_period=0.5) if leader_elect else {}
    argv = ControllerManager(kubeconfig=lab.kubeconfig_for("controller-manager"), namespace=namespace, grpc_port=0,
                             metrics_port=0, identity=identity, podgc_period=2, **election, extra=extra).argv()
    logf = open(log_path, "w")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=logf, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving gRPC on" not in line:
        proc.kill()
        raise AssertionError(f"controller manager did not start: {line!r}\n{log_path.read_text()}")
    words = line.split()
    grpc_port = int(words[words.index("gRPC") + 2].rsplit(":", 1)[1])
    metrics_port = int(words[words.index("metrics") + 2].rsplit(":", 1)[1])
    return ControllerManagerProcess(proc, grpc_port, metrics_port, log_path)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with start_lab(tmp_path_factory, "controllers-lab") as started:
        yield started


@pytest.fixture
async def admin(lab: Lab) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(lab.kubeconfig) as client:
        yield client


@pytest.fixture
def manager_factory(lab: Lab, namespace: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[ControllerManagerProcess] = []

    def start(*extra: str, **kwargs: Any) -> ControllerManagerProcess:
        cm = start_controller_manager(lab, namespace, tmp_path, *extra, **kwargs)
        started.append(cm)
        return cm

    yield start
    for cm in started:
        cm.kill(signal.SIGTERM)


@pytest.fixture
def manager(manager_factory: Callable[..., ControllerManagerProcess]) -> ControllerManagerProcess:
    return manager_factory()


@dataclass
class SimKubelet:
    """Pretends to be scheduler + node agents for the pods of one namespace."""

    client: ApiClient
    namespace: str
    nodes: list[str]
    ready_delay: float = 0.0  # seconds from bind to Ready (a slow start makes rollouts observable)
    silent: set[str] = field(default_factory=set)  # nodes that stopped heartbeating and running pods
    _rr: Any = None

    async def create_nodes(self) -> None:
        for name in self.nodes:
            try:
                await self.client.create("nodes", factories.node(name, labels={"labkit.test/ns": self.namespace}))
            except ApiError:
                pass
            await self._renew(name)

    async def delete_nodes(self) -> None:
        for name in self.nodes:
            for resource, ns in (("nodes", None), ("leases.coordination.k8s.io", "kube-node-lease")):
                try:
                    await self.client.delete(resource, name, namespace=ns)
                except NotFound:
                    pass

    async def _renew(self, name: str) -> None:
        try:
            lease = await self.client.get("leases.coordination.k8s.io", name, namespace="kube-node-lease")
            lease["spec"]["renewTime"] = micro()
            await self.client.update("leases.coordination.k8s.io", lease)
        except NotFound:
            body = {"metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro()}}
            await self.client.create("leases.coordination.k8s.io", body)
        except Conflict:
            pass

    async def _heartbeat(self) -> None:
        while True:
            for name in self.nodes:
                if name in self.silent:
                    continue
                try:
                    await self._renew(name)
                    node = await self.client.get("nodes", name)
                    conds = node.get("status", {}).get("conditions") or []
                    ready = next((c for c in conds if c.get("type") == "Ready"), None)
                    if ready is None or ready.get("status") != "True":
                        node["status"]["conditions"] = [c for c in conds if c.get("type") != "Ready"] + [
                            {"type": "Ready", "status": "True", "reason": "KubeletReady",
                             "lastHeartbeatTime": stamp(), "lastTransitionTime": stamp()}]
                        await self.client.update_status("nodes", node)
                except ApiError:
                    pass
            await asyncio.sleep(0.5)

    async def _handle(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        node = spec.get("nodeName")
        try:
            if meta.get("deletionTimestamp"):
                if node not in self.silent:  # a silent node cannot finish anything
                    await self.client.delete("pods", meta["name"], namespace=self.namespace, grace_period_seconds=0)
                return
            if not node:
                if self._rr is None:
                    self._rr = itertools.cycle(self.nodes)
                live = [n for n in self.nodes if n not in self.silent]
                target = next(self._rr)
                while target not in live and live:
                    target = next(self._rr)
                await self.client.bind(self.namespace, meta["name"], target)
                return
            if node in self.silent or status.get("phase") == "Running":
                return
            if self.ready_delay:
                await asyncio.sleep(self.ready_delay)
            fresh = await self.client.get("pods", meta["name"], namespace=self.namespace)
            if fresh["metadata"].get("deletionTimestamp"):
                return
            now = stamp()
            fresh["status"] = {
                **(fresh.get("status") or {}),
                "phase": "Running", "startTime": now, "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                               for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                                       "restartCount": 0, "started": True, "state": {"running": {"startedAt": now}}}
                                      for c in spec.get("containers") or []],
            }
            await self.client.update_status("pods", fresh)
        except (NotFound, Conflict):
            pass  # it moved on; the next event brings us back

    async def run(self) -> None:
        informer = Informer(self.client, "pods", namespace=self.namespace)
        pending: set[asyncio.Task[None]] = set()

        def kick(pod: dict[str, Any]) -> None:
            task = asyncio.create_task(self._handle(pod))
            pending.add(task)
            task.add_done_callback(pending.discard)

        informer.add_handler(on_add=kick, on_update=lambda old, new: kick(new))
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(informer.run())
                tg.create_task(self._heartbeat())
        finally:
            for task in pending:
                task.cancel()


@pytest.fixture
async def kubelet(admin: ApiClient, namespace: str) -> AsyncIterator[SimKubelet]:
    nodes = [f"{namespace}-n{i}" for i in range(3)]
    sim = SimKubelet(admin, namespace, nodes)
    await sim.create_nodes()
    task = asyncio.create_task(sim.run())
    try:
        yield sim
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.delete_nodes()


def rs_body(name: str, namespace: str, *, replicas: int, labels: dict[str, str], image: str = "busybox") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"schedulerName": SCHEDULER_NAME, "terminationGracePeriodSeconds": 1,
                                       "containers": [{"name": "main", "image": image}]}}},
    }


def deployment_body(name: str, namespace: str, *, replicas: int, image: str = "busybox:1",
                    strategy: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"schedulerName": SCHEDULER_NAME, "terminationGracePeriodSeconds": 1,
                                       "containers": [{"name": "main", "image": image}]}},
                 **spec},
    }
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    return body
