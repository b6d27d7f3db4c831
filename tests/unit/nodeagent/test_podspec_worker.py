"""The pod worker on the simulated runtime with an in-memory object source: env from ConfigMaps,
Secrets and the downward API, CreateContainerConfigError until an object appears, init containers
in order, volumes on disk (atomic layout) refreshed while the pod runs."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from orchestrator.nodeagent.apiobjects import config_map_payload, secret_payload
from orchestrator.nodeagent.podworker import PodWorker, WorkerConfig
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime


class Objects:
    """ConfigMaps and Secrets in dictionaries (the API-backed source is tested in integration)."""

    def __init__(self) -> None:
        self.config_maps: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self.config_maps.get((namespace, name))
        return None if obj is None else config_map_payload(obj)

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self.secrets.get((namespace, name))
        return None if obj is None else secret_payload(obj)

    async def token(self, pod: Mapping[str, Any], *, audience: str | None, expiration_seconds: int) -> str:
        return f"token-for-{pod['metadata']['name']}-{audience}-{expiration_seconds}"

    async def persistent_volume_claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.claims.get((namespace, name))

    async def persistent_volume(self, name: str) -> dict[str, Any] | None:
        return self.volumes.get(name)


class Sink:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    async def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        self.statuses.append(status)

    async def confirm_deletion(self, pod: Mapping[str, Any]) -> None:
        return None

    @property
    def last(self) -> dict[str, Any]:
        return self.statuses[-1]


def make_pod(spec: dict[str, Any], *, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": str(uuid.uuid4()), "labels": {"app": "web"},
                     "annotations": annotations or {}, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"restartPolicy": "Always", "serviceAccountName": "builder", **spec},
        "status": {"phase": "Pending"},
    }


def container(name: str = "c", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox:latest", "imagePullPolicy": "IfNotPresent", **extra}


@pytest.fixture
def objects() -> Objects:
    return Objects()


def config(runtime: SimulatedRuntime, sink: Sink, objects: Objects, root: Path, **kw: Any) -> WorkerConfig:
    return WorkerConfig(node_name="n1", runtime=runtime, sink=sink, runtime_scheme="labkit-sim", host_ip="10.0.0.9",
                        crashloop_base=0.1, crashloop_max=0.4, objects=objects, root_dir=root,
                        allocatable={"cpu": "4", "memory": "8Gi"}, **kw)


def read(path: str) -> str:
    return Path(path).read_text()


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def started_env(runtime: SimulatedRuntime, name: str = "c") -> dict[str, str]:
    [state] = [s for s in await runtime.list_containers(node="n1") if s.container_name == name]
    spec = runtime.spec_of(state.id)
    assert spec is not None
    return dict(spec.env)


async def test_env_from_config_maps_secrets_the_downward_api_and_resources(objects: Objects, tmp_path: Path) -> None:
    objects.config_maps[("ns", "app")] = {"data": {"MODE": "fast", "LEVEL": "3", "bad key": "x"}}
    objects.secrets[("ns", "db")] = {"data": {"password": base64.b64encode(b"s3cret").decode()}}
    env = [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "MODE_COPY", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "MODE"}}},
        {"name": "ABSENT", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "nope", "optional": True}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "GREETING", "value": "$(POD) in $(NS) costs $$(NOTHING) and $(UNKNOWN)"},
    ]
    c = container(env=env, envFrom=[{"configMapRef": {"name": "app"}, "prefix": "CM_"}],
                  resources={"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}})
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(make_pod({"containers": [c]}), config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    got = await started_env(runtime)
    assert got["PASSWORD"] == "s3cret" and got["MODE_COPY"] == "fast" and "ABSENT" not in got
    assert got["CM_MODE"] == "fast" and got["CM_LEVEL"] == "3" and "CM_bad key" not in got
    assert (got["POD"], got["NS"], got["APP"], got["NODE"], got["SA"], got["HOST"]) == \
        ("p", "ns", "web", "n1", "builder", "10.0.0.9")
    assert (got["MEM_MI"], got["CPU_M"], got["CPU_LIMIT"]) == ("64", "250", "4")  # no cpu limit: the allocatable
    assert got["GREETING"] == "p in ns costs $(NOTHING) and $(UNKNOWN)"


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "k"}}}], 'configmap "later" not found'),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}], 'secret "later" not found'),
])
async def test_a_missing_object_waits_in_create_container_config_error_then_starts(
    objects: Objects, tmp_path: Path, env: list[dict[str, Any]], message: str
) -> None:
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(make_pod({"containers": [container(env=env)]}), config=config(runtime, sink, objects, tmp_path))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and "waiting" in sink.last["containerStatuses"][0]["state"]
                    and sink.last["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError")
        assert sink.last["containerStatuses"][0]["state"]["waiting"]["message"] == message
        assert sink.last["phase"] == "Pending"
        objects.config_maps[("ns", "later")] = {"data": {"other": "1"}}
        objects.secrets[("ns", "later")] = {"data": {"other": base64.b64encode(b"1").decode()}}
        kind = "ConfigMap" if "configmap" in message else "Secret"
        await until(lambda: sink.last["containerStatuses"][0]["state"].get("waiting", {}).get("message")
                    == f"couldn't find key k in {kind} ns/later")
        objects.config_maps[("ns", "later")]["data"]["k"] = "v"
        objects.secrets[("ns", "later")]["data"]["k"] = base64.b64encode(b"v").decode()
        await until(lambda: sink.last["phase"] == "Running")
        assert (await started_env(runtime))["X"] == "v"
    finally:
        task.cancel()


async def test_init_containers_run_in_order_before_the_app_containers(objects: Objects, tmp_path: Path) -> None:
    annotations = {"sim.labkit.io/first.run-seconds": "0.2", "sim.labkit.io/second.run-seconds": "0.2"}
    the_pod = make_pod({"initContainers": [container("first"), container("second")], "containers": [container()]},
                       annotations=annotations)
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(the_pod, config=config(runtime, sink, objects, tmp_path))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and "running" in sink.last["initContainerStatuses"][0]["state"])
        first = sink.last
        assert first["phase"] == "Pending"
        assert first["initContainerStatuses"][1]["state"]["waiting"]["reason"] == "PodInitializing"
        assert first["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
        initialized = next(c for c in first["conditions"] if c["type"] == "Initialized")
        assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
        assert initialized["message"] == "containers with incomplete status: [first second]"
        for _ in range(40):  # the relist of the agent: wake the worker as containers change
            worker.notify()
            await asyncio.sleep(0.05)
            if sink.last["phase"] == "Running":
                break
        assert sink.last["phase"] == "Running"
        done = sink.last["initContainerStatuses"]
        assert [s["state"]["terminated"]["reason"] for s in done] == ["Completed", "Completed"]
        assert all(s["ready"] for s in done)
        assert next(c for c in sink.last["conditions"] if c["type"] == "Initialized")["status"] == "True"
        states = await runtime.list_containers(node="n1")
        order = [s.container_name for s in sorted(states, key=lambda s: s.started_at or "")]
        assert order[:2] == ["first", "second"] and set(order) == {"first", "second", "c"}
        second = next(s for s in states if s.container_name == "second")
        app = next(s for s in states if s.container_name == "c")
        assert (second.finished_at or "") <= (app.started_at or "")
    finally:
        task.cancel()


async def test_a_failing_init_container_fails_the_pod_under_never_and_is_retried_otherwise(
    objects: Objects, tmp_path: Path
) -> None:
    annotations = {"sim.labkit.io/setup.exit-code": "2"}
    spec = {"initContainers": [container("setup")], "containers": [container()]}
    runtime, sink = SimulatedRuntime(), Sink()
    never = make_pod({**spec, "restartPolicy": "Never"}, annotations=annotations)
    worker = PodWorker(never, config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    await worker.sync()
    assert sink.last["phase"] == "Failed"
    assert sink.last["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert [s.container_name for s in await runtime.list_containers(node="n1")] == ["setup"]

    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(make_pod(spec, annotations=annotations), config=config(runtime, sink, objects, tmp_path))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and sink.last["initContainerStatuses"][0]["restartCount"] >= 2)
        assert sink.last["phase"] == "Pending"
        reasons = {(s["initContainerStatuses"][0]["state"].get("waiting") or {}).get("reason") for s in sink.statuses}
        assert "CrashLoopBackOff" in reasons
        assert all(s.container_name == "setup" for s in await runtime.list_containers(node="n1"))
    finally:
        task.cancel()


async def test_volumes_are_written_with_the_atomic_layout_and_refreshed(objects: Objects, tmp_path: Path) -> None:
    objects.config_maps[("ns", "app")] = {"data": {"app.conf": "v1", "other": "x"}}
    objects.secrets[("ns", "db")] = {"data": {"password": base64.b64encode(b"s3cret").decode()}}
    volumes = [
        {"name": "cache", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "app", "items": [{"key": "app.conf", "path": "conf/app.conf",
                                                                    "mode": 0o600}]}},
        {"name": "creds", "secret": {"secretName": "db", "defaultMode": 0o400}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                 "divisor": "1Mi"}}]}},
        {"name": "all", "projected": {"sources": [
            {"configMap": {"name": "app", "items": [{"key": "other", "path": "other"}]}},
            {"serviceAccountToken": {"path": "token", "audience": "vault", "expirationSeconds": 600}}]}},
        {"name": "maybe", "configMap": {"name": "absent", "optional": True}},
    ]
    mounts = [{"name": "cache", "mountPath": "/cache"}, {"name": "config", "mountPath": "/etc/app"},
              {"name": "creds", "mountPath": "/creds", "readOnly": False},
              {"name": "info", "mountPath": "/info"}, {"name": "all", "mountPath": "/all"},
              {"name": "cache", "mountPath": "/sub", "subPath": "nested/dir"},
              {"name": "config", "mountPath": "/one.conf", "subPath": "conf/app.conf"},
              {"name": "cache", "mountPath": "/logs", "subPathExpr": "logs/$(POD)"}]
    c = container(volumeMounts=mounts, resources={"limits": {"memory": "32Mi"}},
                  env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
    runtime, sink = SimulatedRuntime(), Sink()
    the_pod = make_pod({"containers": [c], "volumes": volumes})
    worker = PodWorker(the_pod, config=config(runtime, sink, objects, tmp_path, volume_resync_seconds=0.2))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and sink.last["phase"] == "Running")
        base = tmp_path / "pods" / the_pod["metadata"]["uid"] / "volumes"
        config_dir = base / "kubernetes.io~configmap" / "config"
        assert (config_dir / "conf" / "app.conf").read_text() == "v1"
        assert os.readlink(config_dir / "conf") == "..data/conf" and (config_dir / "..data").is_symlink()
        assert not (config_dir / "other").exists()
        assert (os.stat(config_dir / "conf" / "app.conf").st_mode & 0o777) == 0o600
        secret_file = base / "kubernetes.io~secret" / "creds" / "password"
        assert secret_file.read_bytes() == b"s3cret" and (os.stat(secret_file).st_mode & 0o777) == 0o400
        info = base / "kubernetes.io~downward-api" / "info"
        assert (info / "labels").read_text() == 'app="web"' and (info / "mem").read_text() == "32"
        projected = base / "kubernetes.io~projected" / "all"
        assert (projected / "other").read_text() == "x"
        assert (projected / "token").read_text() == "token-for-p-vault-600"
        assert (base / "kubernetes.io~configmap" / "maybe").is_dir()
        assert (base / "kubernetes.io~empty-dir" / "cache" / "nested" / "dir").is_dir()
        assert (base / "kubernetes.io~empty-dir" / "cache" / "logs" / "p").is_dir()  # subPathExpr: logs/$(POD)
        [state] = await runtime.list_containers(node="n1")
        spec = runtime.spec_of(state.id)
        assert spec is not None
        by_path = {m.container_path: m for m in spec.mounts}
        assert by_path["/creds"].read_only and by_path["/etc/app"].read_only and not by_path["/cache"].read_only
        assert "volume-subpaths/config/c/6" in by_path["/one.conf"].host_path
        assert read(by_path["/one.conf"].host_path) == "v1"

        objects.config_maps[("ns", "app")]["data"]["app.conf"] = "v2"
        await until(lambda: (config_dir / "conf" / "app.conf").read_text() == "v2")
        # the old version is removed right after the switch
        await until(lambda: len([p for p in config_dir.iterdir() if p.name.startswith("..2")]) == 1)
        assert [s.container_name for s in await runtime.list_containers(node="n1")] == ["c"]  # not restarted
    finally:
        task.cancel()
    deleting = {**the_pod, "metadata": {**the_pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:30Z",
                                         "deletionGracePeriodSeconds": 0}}
    worker.update(deleting)
    await worker.sync()
    assert not (tmp_path / "pods" / the_pod["metadata"]["uid"]).exists()


async def test_a_missing_config_map_volume_keeps_the_pod_creating(objects: Objects, tmp_path: Path) -> None:
    the_pod = make_pod({"containers": [container(volumeMounts=[{"name": "v", "mountPath": "/v"}])],
                        "volumes": [{"name": "v", "configMap": {"name": "app"}}]})
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(the_pod, config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    waiting = sink.last["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ContainerCreating",
                       "message": 'MountVolume.SetUp failed for volume "v" : configmap "app" not found'}
    assert await runtime.list_containers(node="n1") == []
    objects.config_maps[("ns", "app")] = {"data": {"k": "v"}}
    await worker.sync()
    assert sink.last["phase"] == "Running"


async def test_a_claim_mounts_its_volume_directory_once_bound_and_the_data_outlives_the_pod(
        objects: Objects, tmp_path: Path) -> None:
    volumes_dir = tmp_path / "persistentvolumes"
    spec = {"containers": [container(volumeMounts=[{"name": "www", "mountPath": "/usr/share/nginx/html"}])],
            "volumes": [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]}
    objects.claims[("ns", "www-web-0")] = {"spec": {}, "status": {"phase": "Pending"}}
    runtime, sink = SimulatedRuntime(), Sink()
    first = make_pod(spec)
    worker = PodWorker(first, config=config(runtime, sink, objects, tmp_path / "n1",
                                            persistent_volumes_dir=volumes_dir))
    await worker.sync()
    assert sink.last["containerStatuses"][0]["state"]["waiting"] == {
        "reason": "ContainerCreating", "message": "error processing PVC ns/www-web-0: PVC is not bound"}
    objects.claims[("ns", "www-web-0")] = {"spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}}
    objects.volumes["pvc-1"] = {"spec": {"csi": {"driver": "local-path.labkit.io", "volumeHandle": "pvc-1"}}}
    await worker.sync()
    assert sink.last["phase"] == "Running"
    [state] = await runtime.list_containers(node="n1")
    started = runtime.spec_of(state.id)
    assert started is not None
    [mount] = started.mounts
    assert (mount.container_path, mount.host_path, mount.read_only) == (
        "/usr/share/nginx/html", str(volumes_dir / "pvc-1"), False)
    (volumes_dir / "pvc-1" / "index.html").write_text("web-0")
    deleting = {**first, "metadata": {**first["metadata"], "deletionTimestamp": "2026-01-01T00:01:00Z",
                                      "deletionGracePeriodSeconds": 0}}
    worker.update(deleting)
    await worker.sync()
    await worker.sync()
    assert not (tmp_path / "n1" / "pods" / first["metadata"]["uid"]).exists()
    assert (volumes_dir / "pvc-1" / "index.html").read_text() == "web-0"  # the claim's data stays


def terminated(status: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return status["containerStatuses"][index]["state"].get("terminated") or {}


async def test_the_termination_message_comes_from_the_file_or_the_log(objects: Objects, tmp_path: Path) -> None:
    runtime, sink = SimulatedRuntime(), Sink()
    spec = {"restartPolicy": "Never",
            "containers": [container("file"), container("logs", terminationMessagePolicy="FallbackToLogsOnError")]}
    annotations = {"sim.labkit.io/exit-code": "2", "sim.labkit.io/file.termination-message": "disk full"}
    worker = PodWorker(make_pod(spec, annotations=annotations), config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    await worker.sync()
    assert sink.last["phase"] == "Failed"
    by_name = {cs["name"]: cs["state"]["terminated"] for cs in sink.last["containerStatuses"]}
    assert by_name["file"]["message"] == "disk full"
    assert by_name["logs"]["message"].endswith("exited with code 2\n")  # the last lines of its log


async def test_security_context_reaches_the_runtime_and_root_is_refused_under_run_as_non_root(
    objects: Objects, tmp_path: Path
) -> None:
    runtime, sink = SimulatedRuntime(), Sink()
    c = container(securityContext={"runAsGroup": 3000, "readOnlyRootFilesystem": True})
    worker = PodWorker(make_pod({"containers": [c], "securityContext": {"runAsUser": 1000}}),
                       config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    [state] = await runtime.list_containers(node="n1")
    spec = runtime.spec_of(state.id)
    assert spec is not None and spec.user == "1000:3000" and spec.read_only_root_filesystem
    assert spec.termination_message_path == "/dev/termination-log" and spec.termination_log

    root = container(securityContext={"runAsUser": 0, "runAsNonRoot": True})
    worker = PodWorker(make_pod({"containers": [root]}), config=config(SimulatedRuntime(), sink, objects, tmp_path))
    await worker.sync()
    waiting = sink.last["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert waiting["message"].startswith("container's runAsUser breaks non-root policy")


async def test_a_startup_probe_holds_back_started_and_a_failing_one_restarts_the_container(
    objects: Objects, tmp_path: Path
) -> None:
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 0.05, "failureThreshold": 2}
    c = container(startupProbe=probe, readinessProbe={**probe, "failureThreshold": 1})
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(make_pod({"containers": [c]}), config=config(runtime, sink, objects, tmp_path))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and sink.last["containerStatuses"][0]["ready"])
        first_running = next(s for s in sink.statuses if "running" in s["containerStatuses"][0]["state"])
        assert first_running["containerStatuses"][0]["started"] is False  # before the startup probe passed
        assert sink.last["containerStatuses"][0]["started"] is True
    finally:
        task.cancel()

    runtime, sink = SimulatedRuntime(), Sink()
    failing = make_pod({"containers": [container(startupProbe=probe)]}, annotations={"sim.labkit.io/probe-fails": "true"})
    worker = PodWorker(failing, config=config(runtime, sink, objects, tmp_path))
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: sink.statuses and sink.last["containerStatuses"][0]["restartCount"] >= 1)
        assert all(not s["containerStatuses"][0]["started"] for s in sink.statuses)
    finally:
        task.cancel()


async def test_a_failed_post_start_hook_kills_the_container_and_pre_stop_runs_before_the_stop(
    objects: Objects, tmp_path: Path
) -> None:
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "exit 1"]}}}
    failing = make_pod({"restartPolicy": "Never", "containers": [container(lifecycle=hook)]},
                       annotations={"sim.labkit.io/probe-fails": "true"})  # every exec fails on the simulation
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(failing, config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    await worker.sync()
    assert sink.last["phase"] == "Failed" and terminated(sink.last)["exitCode"] == 143  # stopped after the hook

    waits = {"preStop": {"sleep": {"seconds": 1}}}
    the_pod = make_pod({"containers": [container(lifecycle=waits)], "terminationGracePeriodSeconds": 5})
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(the_pod, config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    deleting = {**the_pod, "metadata": {**the_pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:30Z",
                                         "deletionGracePeriodSeconds": 5}}
    worker.update(deleting)
    started = time.monotonic()
    await worker.sync()
    assert worker.finished and 0.9 <= time.monotonic() - started < 4


async def test_readiness_gates_hold_ready_until_their_condition_is_true_and_it_is_kept(
    objects: Objects, tmp_path: Path
) -> None:
    the_pod = make_pod({"containers": [container()], "readinessGates": [{"conditionType": "example.com/lb"}]})
    runtime, sink = SimulatedRuntime(), Sink()
    worker = PodWorker(the_pod, config=config(runtime, sink, objects, tmp_path))
    await worker.sync()
    ready = next(c for c in sink.last["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReadinessGatesNotReady")
    assert ready["message"] == 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'
    assert next(c for c in sink.last["conditions"] if c["type"] == "ContainersReady")["status"] == "True"
    gate = {"type": "example.com/lb", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}
    worker.update({**the_pod, "status": {**sink.last, "conditions": [*sink.last["conditions"], gate]}})
    await worker.sync()
    by_type = {c["type"]: c for c in sink.last["conditions"]}
    assert by_type["Ready"]["status"] == "True" and by_type["example.com/lb"] == gate


async def test_the_directory_of_a_pod_that_no_longer_exists_is_removed_at_the_second_orphan_check(
    tmp_path: Path
) -> None:
    from orchestrator.client.rest import ApiClient
    from orchestrator.nodeagent.agent import NodeAgent, NodeConfig
    from orchestrator.nodeagent.metrics import AgentMetrics
    from orchestrator.nodeagent.runtimes.base import RuntimeInfo

    runtime = SimulatedRuntime()
    client = ApiClient("https://127.0.0.1:1")  # never called: a relist only asks the runtime
    agent = NodeAgent(NodeConfig(name="n1", cpu="2", memory="4Gi", root_dir=tmp_path), client=client,
                      runtime=runtime, runtime_info=RuntimeInfo("labkit-sim", "1.0"), metrics=AgentMetrics(),
                      log_port=0)
    gone = tmp_path / "pods" / "uid-of-a-deleted-pod" / "volumes"
    gone.mkdir(parents=True)
    await agent.relist(remove_orphans=True)
    assert gone.exists()  # one check is not enough: its worker may be on its way
    await agent.relist(remove_orphans=True)
    assert not gone.parent.exists()
    await client.close()
