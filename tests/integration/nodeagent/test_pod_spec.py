"""The pod spec in the node agent, one suite for both runtimes, against the real API server:
env from Secrets, ConfigMaps and the downward API; a missing ConfigMap (CreateContainerConfigError,
then Running once it exists); init containers in order with the STATUS kubectl shows; volumes
(configMap updated in a running pod, secret, downwardAPI, projected, emptyDir shared with an init
container); OOMKilled with 137.

What the containers see is read with ``kubectl exec`` — a real shell on Docker, the simulated
runtime's stand-in (``env``, ``cat FILE``: orchestrator/nodeagent/runtimes/simexec.py) otherwise.
The Docker side needs an engine with labkit/busybox:1.0 (LABKIT_REQUIRE_DOCKER=1 makes a missing
one a failure); the simulated node is node-2 with its own node token, so the Node authorizer's
rule for ConfigMaps and Secrets is exercised too. One pod checks many things, to keep the suite
lean.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.nodeagent.conftest import AgentProcess, ensure_node_object, wait_node_ready
from tests.support.lab import Lab
from tests.support.polling import eventually
from tests.support.skips import require_kubectl

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@dataclass
class Node:
    name: str
    runtime: str
    agent: AgentProcess


@pytest.fixture(scope="module", params=["simulated", pytest.param("docker", marks=pytest.mark.docker)])
def node(request: pytest.FixtureRequest, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    require_kubectl()
    if request.param == "docker":
        yield Node("node-1", "docker", request.getfixturevalue("docker_agent"))
        return
    ensure_node_object(lab, "node-2")
    workdir = tmp_path_factory.mktemp("sim-node")
    agent = AgentProcess(lab, kubeconfig=lab.kubeconfig_for("node-2"),
                         args=["--name", "node-2", "--runtime", "simulated", "--root-dir", str(workdir / "root")],
                         log_file=workdir / "node-2.log")
    agent.start()
    try:
        wait_node_ready(lab, "node-2", agent)
        yield Node("node-2", "simulated", agent)
    finally:
        agent.stop()


@pytest.fixture
async def ns(node: Node, api: httpx.AsyncClient) -> str:
    name = f"ps-{uuid.uuid4().hex[:8]}"
    r = await api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


def pod(name: str, node: Node, *, containers: list[dict[str, Any]], restart: str = "Always",
        annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"nodeName": node.name, "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "containers": containers, **spec}}


def busybox(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "labkit/busybox:1.0", "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script], **extra}


async def create(api: httpx.AsyncClient, ns: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"/api/v1/namespaces/{ns}/{kind}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def get_pod(api: httpx.AsyncClient, ns: str, name: str) -> dict[str, Any]:
    r = await api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    assert r.status_code == 200, r.text
    return r.json()


async def kubectl_status(api: httpx.AsyncClient, ns: str, name: str) -> str:
    """The STATUS cell of ``kubectl get pod`` (the API server's Table)."""
    r = await api.get(f"/api/v1/namespaces/{ns}/pods/{name}", headers={"Accept": TABLE})
    table = r.json()
    column = [c["name"] for c in table["columnDefinitions"]].index("Status")
    return str(table["rows"][0]["cells"][column])


async def wait_for(api: httpx.AsyncClient, ns: str, name: str, what: str, check: Any,
                   timeout: float = 60) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        p = await get_pod(api, ns, name)
        return p if check(p) else None

    return await eventually(probe, timeout=timeout, message=f"pod {name}: {what}")


def exec_in(lab: Lab, ns: str, name: str, *command: str, container: str | None = None) -> str:
    target = ["-c", container] if container else []
    return lab.kubectl("exec", "-n", ns, name, *target, "--", *command).stdout


def phase(p: dict[str, Any]) -> str:
    return str((p.get("status") or {}).get("phase"))


async def test_env_and_volumes_from_secrets_config_maps_and_the_downward_api_reach_the_container(
    node: Node, lab: Lab, api: httpx.AsyncClient, ns: str
) -> None:
    await create(api, ns, "secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                                      "data": {"password": base64.b64encode(b"s3cret").decode()}})
    await create(api, ns, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"},
                                         "data": {"MODE": "v1", "LEVEL": "3"}})
    await create(api, ns, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unused"},
                                         "data": {"x": "y"}})
    env = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
           {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
           {"name": "GREETING", "value": "hello $(POD_NAME)"}]
    volumes = [{"name": "config", "configMap": {"name": "app"}},
               {"name": "creds", "secret": {"secretName": "db", "items": [{"key": "password", "path": "db/pw"}]}},
               {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
               {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
               {"name": "scratch", "emptyDir": {}}]
    mounts = [{"name": "config", "mountPath": "/etc/app"}, {"name": "creds", "mountPath": "/creds"},
              {"name": "info", "mountPath": "/info"}, {"name": "mem", "mountPath": "/mem"},
              {"name": "scratch", "mountPath": "/ro", "readOnly": True},
              {"name": "config", "mountPath": "/level", "subPath": "LEVEL"}]
    main = busybox("main", "sleep 600", env=env, envFrom=[{"configMapRef": {"name": "app"}, "prefix": "CFG_"}],
                   volumeMounts=mounts, resources={"limits": {"memory": "64Mi"}})
    created = await create(api, ns, "pods", pod("env", node, containers=[main], volumes=volumes))
    await wait_for(api, ns, "env", "Running", lambda p: phase(p) == "Running")

    seen = dict(line.split("=", 1) for line in exec_in(lab, ns, "env", "env").splitlines() if "=" in line)
    assert seen["PASSWORD"] == "s3cret" and seen["CFG_MODE"] == "v1" and seen["CFG_LEVEL"] == "3"
    assert (seen["POD_NAME"], seen["POD_NAMESPACE"], seen["NODE_NAME"]) == ("env", ns, node.name)
    assert seen["MEMORY_MI"] == "64" and seen["GREETING"] == "hello env"
    assert exec_in(lab, ns, "env", "cat", "/etc/app/MODE") == "v1"
    assert exec_in(lab, ns, "env", "cat", "/creds/db/pw") == "s3cret"
    assert exec_in(lab, ns, "env", "cat", "/info/name") == "env"
    assert exec_in(lab, ns, "env", "cat", "/level") == "3"

    # The node reads what its pods reference, and nothing else (the Node authorizer).
    async with lab.client(f"system:node:{node.name}") as as_node:
        assert (await as_node.get(f"/api/v1/namespaces/{ns}/configmaps/app")).status_code == 200
        denied = await as_node.get(f"/api/v1/namespaces/{ns}/configmaps/unused")
        assert denied.status_code == 403 and "no relationship found" in denied.json()["message"]

    if node.runtime == "docker":
        mounts_seen = exec_in(lab, ns, "env", "cat", "/proc/mounts")
        assert any(line.split()[1] == "/mem" and line.split()[2] == "tmpfs" for line in mounts_seen.splitlines())
        assert "size=8192k" in next(line for line in mounts_seen.splitlines() if line.split()[1] == "/mem")
        denied_write = lab.kubectl("exec", "-n", ns, "env", "--", "touch", "/ro/x", check=False)
        assert denied_write.returncode != 0 and "Read-only file system" in denied_write.stderr
        assert "..data" in exec_in(lab, ns, "env", "ls", "-a", "/etc/app")

    # An update of the ConfigMap reaches the running container (the agents resync every second);
    # the subPath mount keeps the old content, as in Kubernetes.
    r = await api.patch(f"/api/v1/namespaces/{ns}/configmaps/app", json={"data": {"MODE": "v2", "LEVEL": "4"}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text

    async def updated() -> bool:
        return exec_in(lab, ns, "env", "cat", "/etc/app/MODE") == "v2"

    await eventually(updated, timeout=30, message="the configMap volume to show the update")
    assert exec_in(lab, ns, "env", "cat", "/level") == "3"
    assert (await get_pod(api, ns, "env"))["status"]["containerStatuses"][0]["restartCount"] == 0

    if node.runtime == "docker":
        import docker

        r = await api.delete(f"/api/v1/namespaces/{ns}/pods/env")
        assert r.status_code == 200
        uid = created["metadata"]["uid"]
        engine = docker.from_env()
        try:
            async def released() -> bool:
                return not engine.volumes.list(filters={"label": f"io.kubernetes.pod.uid={uid}"})

            await eventually(released, timeout=30, message="the pod's tmpfs volume to be removed")
        finally:
            engine.close()


async def test_a_missing_config_map_waits_in_create_container_config_error_then_runs(
    node: Node, api: httpx.AsyncClient, ns: str
) -> None:
    env = [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "mode"}}}]
    await create(api, ns, "pods", pod("waits", node, containers=[busybox("main", "sleep 600", env=env)]))

    def config_error(p: dict[str, Any]) -> bool:
        waiting = (((p.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting")
        return bool(waiting) and waiting.get("reason") == "CreateContainerConfigError"

    p = await wait_for(api, ns, "waits", "CreateContainerConfigError", config_error)
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == 'configmap "later" not found'
    assert phase(p) == "Pending" and await kubectl_status(api, ns, "waits") == "CreateContainerConfigError"
    await create(api, ns, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"},
                                         "data": {"mode": "on"}})
    await wait_for(api, ns, "waits", "Running once the ConfigMap exists", lambda p: phase(p) == "Running")


async def test_init_containers_run_in_order_and_share_an_empty_dir_with_the_app(
    node: Node, lab: Lab, api: httpx.AsyncClient, ns: str
) -> None:
    mount = [{"name": "work", "mountPath": "/work"}]
    inits = [busybox("fetch", "sleep 1; echo fetched > /work/msg", volumeMounts=mount),
             busybox("check", "sleep 1; grep -q fetched /work/msg && echo checked >> /work/msg", volumeMounts=mount)]
    app = busybox("app", "cat /work/msg; sleep 600", volumeMounts=mount)
    # On the simulated runtime the annotations say how long each init container runs.
    sim = {"sim.labkit.io/fetch.run-seconds": "1", "sim.labkit.io/check.run-seconds": "1"}
    await create(api, ns, "pods", pod("init", node, containers=[app], initContainers=inits,
                                      volumes=[{"name": "work", "emptyDir": {}}], annotations=sim))
    shown: list[str] = []

    async def running() -> bool:
        status = await kubectl_status(api, ns, "init")
        if not shown or shown[-1] != status:
            shown.append(status)
        return status == "Running"

    await eventually(running, timeout=60, message="the pod to run after its init containers")
    assert "Init:0/2" in shown or "Init:1/2" in shown, shown
    p = await get_pod(api, ns, "init")
    inits_done = p["status"]["initContainerStatuses"]
    assert [s["name"] for s in inits_done] == ["fetch", "check"]
    assert all(s["state"]["terminated"]["reason"] == "Completed" and s["ready"] for s in inits_done)
    assert inits_done[0]["state"]["terminated"]["finishedAt"] <= inits_done[1]["state"]["terminated"]["startedAt"]
    assert {c["type"]: c["status"] for c in p["status"]["conditions"]}["Initialized"] == "True"
    if node.runtime == "docker":
        assert exec_in(lab, ns, "init", "cat", "/work/msg") == "fetched\nchecked\n"


async def test_a_failed_init_container_fails_a_never_pod(node: Node, api: httpx.AsyncClient, ns: str) -> None:
    sim = {"sim.labkit.io/setup.exit-code": "3"}
    await create(api, ns, "pods", pod("broken", node, restart="Never", annotations=sim,
                                      initContainers=[busybox("setup", "exit 3")],
                                      containers=[busybox("app", "sleep 600")]))
    p = await wait_for(api, ns, "broken", "Failed", lambda p: phase(p) == "Failed")
    assert p["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    initialized = next(c for c in p["status"]["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
    assert await kubectl_status(api, ns, "broken") == "Init:Error"


async def test_a_container_over_its_memory_limit_is_oom_killed_with_137(
    node: Node, api: httpx.AsyncClient, ns: str
) -> None:
    # busybox's tail keeps the (newline-free) input in memory: past 16Mi the kernel kills it.
    hog = busybox("hog", "tail /dev/zero", resources={"limits": {"memory": "16Mi", "cpu": "500m"}})
    await create(api, ns, "pods", pod("hog", node, restart="Never", containers=[hog],
                                      annotations={"sim.labkit.io/oom-killed": "true"}))
    p = await wait_for(api, ns, "hog", "Failed", lambda p: phase(p) == "Failed")
    terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    assert await kubectl_status(api, ns, "hog") == "OOMKilled"


async def test_security_context_post_start_hook_and_termination_message(
    node: Node, lab: Lab, api: httpx.AsyncClient, ns: str
) -> None:
    script = ("echo uid=$(id -u) gid=$(id -g); touch /not-here 2>/dev/null || echo root-is-read-only; "
              "for i in $(seq 20); do test -f /scratch/hook && break; sleep 0.5; done; cat /scratch/hook; "
              "echo 'disk full' > /dev/termination-log; exit 3")
    main = busybox("main", script, volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}],
                   securityContext={"runAsGroup": 3000, "readOnlyRootFilesystem": True},
                   lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "echo hook-ran > /scratch/hook"]}}})
    sim = {"sim.labkit.io/exit-code": "3", "sim.labkit.io/termination-message": "disk full\n"}
    await create(api, ns, "pods", pod("secure", node, restart="Never", containers=[main], annotations=sim,
                                      securityContext={"runAsUser": 1000},
                                      volumes=[{"name": "scratch", "emptyDir": {}}]))
    p = await wait_for(api, ns, "secure", "Failed", lambda p: phase(p) == "Failed")
    terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["message"]) == (3, "disk full\n")
    if node.runtime == "docker":
        logs = lab.kubectl("logs", "-n", ns, "secure").stdout
        assert "uid=1000 gid=3000" in logs and "root-is-read-only" in logs
        assert "hook-ran" in logs  # the postStart hook ran in the container, as its user


async def test_bad_volume_and_env_references_are_422_naming_the_field(api: httpx.AsyncClient, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
            "spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "configMap": {"name": "app"}}],
                     "containers": [busybox("main", "true", volumeMounts=[{"name": "data", "mountPath": "/data"}],
                                            env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app"}}}])]}}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid"
    fields = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert fields == {"spec.volumes[1].name": 'Duplicate value: "v"',
                      "spec.containers[0].volumeMounts[0].name": 'Not found: "data"',
                      "spec.containers[0].env[0].valueFrom.configMapKeyRef.key": "Required value"}


async def test_a_readiness_gate_set_by_a_controller_makes_the_pod_ready(
    node: Node, api: httpx.AsyncClient, ns: str
) -> None:
    await create(api, ns, "pods", pod("gated", node, containers=[busybox("main", "sleep 600")],
                                      readinessGates=[{"conditionType": "example.com/lb"}]))

    def ready_is(p: dict[str, Any], value: str) -> bool:
        return any(c["type"] == "Ready" and c["status"] == value for c in (p.get("status") or {}).get("conditions") or [])

    p = await wait_for(api, ns, "gated", "Running but not Ready", lambda p: phase(p) == "Running")
    assert ready_is(p, "False") and next(c for c in p["status"]["conditions"]
                                         if c["type"] == "Ready")["reason"] == "ReadinessGatesNotReady"
    # What a load-balancer controller does: add its condition to the pod's status.
    gate = {"type": "example.com/lb", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    r = await api.patch(f"/api/v1/namespaces/{ns}/pods/gated/status",
                        json={"status": {"conditions": [*p["status"]["conditions"], gate]}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    p = await wait_for(api, ns, "gated", "Ready", lambda p: ready_is(p, "True"))
    assert any(c["type"] == "example.com/lb" and c["status"] == "True" for c in p["status"]["conditions"])
