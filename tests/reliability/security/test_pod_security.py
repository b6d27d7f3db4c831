"""No container gets host access through the API: not privileged, no added capabilities beyond
the baseline, no host network, PID or IPC namespace, no hostPath volume — in a Pod or in the
template of a Deployment or ReplicaSet, by create, replace, any kind of patch, dry run or not.
Each refusal is a 422 Invalid Status whose cause names the field, as kube-apiserver's Pod
Security admission does.

And the node agent could not grant them even if a pod asked: it never reads those fields, its
ContainerSpec has nowhere to carry them, and the Docker runtime creates every container with the
same fixed host config (checked statically, and on a real engine).

Kubernetes equivalent: Pod Security Standards "baseline" (staging/src/k8s.io/pod-security-admission/policy)
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.nodeagent.runtimes.base import ContainerSpec
from tests import factories

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).parents[3]

# name -> (a change to a pod spec, the field path under the pod spec its refusal names)
ESCALATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "privileged": ({"containers": [{"name": "main", "image": "busybox", "securityContext": {"privileged": True}}]},
                   "containers[0].securityContext.privileged"),
    "privileged-init-container": (
        {"initContainers": [{"name": "init", "image": "busybox", "securityContext": {"privileged": True}}]},
        "initContainers[0].securityContext.privileged"),
    "cap-sys-admin": ({"containers": [{"name": "main", "image": "busybox",
                                       "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
                      "containers[0].securityContext.capabilities.add[0]"),
    "cap-all": ({"containers": [{"name": "main", "image": "busybox",
                                 "securityContext": {"capabilities": {"add": ["CHOWN", "ALL"]}}}]},
                "containers[0].securityContext.capabilities.add[1]"),
    "cap-net-admin-prefixed": ({"containers": [{"name": "main", "image": "busybox",
                                                "securityContext": {"capabilities": {"add": ["CAP_NET_ADMIN"]}}}]},
                               "containers[0].securityContext.capabilities.add[0]"),
    "host-network": ({"hostNetwork": True}, "hostNetwork"),
    "host-pid": ({"hostPID": True}, "hostPID"),
    "host-ipc": ({"hostIPC": True}, "hostIPC"),
    "host-path": ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                   "containers": [{"name": "main", "image": "busybox",
                                   "volumeMounts": [{"name": "root", "mountPath": "/host"}]}]},
                  "volumes[0].hostPath"),
    "host-path-docker-socket": ({"volumes": [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock",
                                                                          "type": "Socket"}}]},
                                "volumes[0].hostPath"),
}

# Which pod spec of an object a change goes into, and where its path starts.
KINDS = {
    "pods": ("/api/v1", "spec"),
    "deployments": ("/apis/apps/v1", "spec.template.spec"),
    "replicasets": ("/apis/apps/v1", "spec.template.spec"),
}


def base(kind: str, name: str, namespace: str) -> dict[str, Any]:
    if kind == "pods":
        return factories.pod(name, namespace=namespace)
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment" if kind == "deployments" else "ReplicaSet",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}


def pod_spec(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return obj["spec"] if kind == "pods" else obj["spec"]["template"]["spec"]


def with_escalation(obj: dict[str, Any], kind: str, escalation: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    pod_spec(out, kind).update(copy.deepcopy(ESCALATIONS[escalation][0]))
    return out


def collection(kind: str, namespace: str) -> str:
    return f"{KINDS[kind][0]}/namespaces/{namespace}/{kind}"


def assert_forbidden_field(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, f"expected 422 naming {field}, got {r.status_code}: {r.text[:400]}"
    status = r.json()
    assert status["kind"] == "Status" and status["reason"] == "Invalid", status
    causes = [(c["field"], c["reason"]) for c in status["details"]["causes"]]
    assert (field, "FieldValueForbidden") in causes, causes
    assert f"{field}: Forbidden: " in status["message"], status["message"]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("escalation", sorted(ESCALATIONS))
async def test_creating_an_object_that_asks_for_host_access_is_422(admin: httpx.AsyncClient, namespace: str,
                                                                   kind: str, escalation: str) -> None:
    name = f"esc-{uuid.uuid4().hex[:6]}"
    obj = with_escalation(base(kind, name, namespace), kind, escalation)
    field = f"{KINDS[kind][1]}.{ESCALATIONS[escalation][1]}"
    for params in ({}, {"dryRun": "All"}, {"fieldValidation": "Ignore"}):
        assert_forbidden_field(await admin.post(collection(kind, namespace), json=obj, params=params), field)
    assert (await admin.get(f"{collection(kind, namespace)}/{name}")).status_code == 404


def json_patch_ops(kind: str, escalation: str) -> list[dict[str, Any]]:
    prefix = "/spec" if kind == "pods" else "/spec/template/spec"
    return [{"op": "add", "path": f"{prefix}/{key}", "value": value}
            for key, value in ESCALATIONS[escalation][0].items()]


@pytest.mark.parametrize("kind", ["deployments", "pods"])
@pytest.mark.parametrize("escalation", ["privileged", "cap-sys-admin", "host-network", "host-pid", "host-path"])
async def test_no_update_or_patch_adds_host_access(admin: httpx.AsyncClient, namespace: str,
                                                   kind: str, escalation: str) -> None:
    name = f"upd-{uuid.uuid4().hex[:6]}"
    r = await admin.post(collection(kind, namespace), json=base(kind, name, namespace))
    assert r.status_code == 201, r.text
    stored = r.json()
    item = f"{collection(kind, namespace)}/{name}"
    field = f"{KINDS[kind][1]}.{ESCALATIONS[escalation][1]}"
    change = ESCALATIONS[escalation][0]
    nested = change if kind == "pods" else {"template": {"spec": change}}
    attempts = [
        ("PUT", "application/json", json.dumps(with_escalation(stored, kind, escalation))),
        ("PATCH", "application/merge-patch+json", json.dumps({"spec": nested})),
        ("PATCH", "application/strategic-merge-patch+json", json.dumps({"spec": nested})),
        ("PATCH", "application/json-patch+json", json.dumps(json_patch_ops(kind, escalation))),
    ]
    for method, ctype, body in attempts:
        r = await admin.request(method, item, content=body, headers={"Content-Type": ctype})
        if kind == "pods" and r.status_code == 422 and escalation != "privileged":
            # A pod's spec is immutable beyond images: refused either way, as long as it is refused.
            assert r.json()["reason"] == "Invalid", r.text
            continue
        assert_forbidden_field(r, field)
    after = (await admin.get(item)).json()
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


async def test_baseline_capabilities_may_be_added(admin: httpx.AsyncClient, namespace: str) -> None:
    obj = factories.pod("baseline-caps", namespace=namespace)
    obj["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["NET_BIND_SERVICE", "CAP_CHOWN"],
                                                                        "drop": ["ALL"]},
                                                       "privileged": False, "allowPrivilegeEscalation": False}
    obj["spec"]["hostNetwork"] = False
    r = await admin.post(collection("pods", namespace), json=obj)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(("field", "value"), [("privileged", "true"), ("privileged", 1)])
async def test_host_access_flags_of_the_wrong_type_are_400_not_accepted(admin: httpx.AsyncClient, namespace: str,
                                                                        field: str, value: Any) -> None:
    obj = factories.pod("wrong-type", namespace=namespace)
    obj["spec"]["containers"][0]["securityContext"] = {field: value}
    r = await admin.post(collection("pods", namespace), json=obj)
    assert r.status_code == 400, r.text


async def test_host_network_of_the_wrong_type_is_400(admin: httpx.AsyncClient, namespace: str) -> None:
    obj = factories.pod("wrong-type-net", namespace=namespace)
    obj["spec"]["hostNetwork"] = "yes"
    assert (await admin.post(collection("pods", namespace), json=obj)).status_code == 400


async def test_fields_the_lab_does_not_serve_never_reach_storage(admin: httpx.AsyncClient, namespace: str) -> None:
    """ephemeralContainers are not served: dropped with a warning (or refused with Strict), so a
    privileged one cannot slip in beside the validated containers."""
    obj = factories.pod("ephemeral", namespace=namespace)
    obj["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox",
                                           "securityContext": {"privileged": True}}]
    r = await admin.post(collection("pods", namespace), json=obj, params={"fieldValidation": "Strict"})
    assert r.status_code in (400, 422), r.text
    r = await admin.post(collection("pods", namespace), json=obj)
    if r.status_code == 201:
        assert "ephemeralContainers" not in r.json()["spec"]
        assert "ephemeralContainers" in r.headers.get("warning", "")
    else:
        assert r.status_code in (400, 422), r.text


# -- the node agent cannot grant host access ---------------------------------------------------------

# securityContext itself is read (runAsUser, runAsGroup, runAsNonRoot, readOnlyRootFilesystem:
# docs/pod-spec.md); its host-access fields, privileged and capabilities, never are.
HOST_ACCESS_WORDS = ("privileged", "hostNetwork", "hostPID", "hostIPC", "hostPath", "capabilities")


def test_the_node_agent_never_reads_the_host_access_fields_of_a_pod() -> None:
    """What it never reads it cannot pass on, whatever a stored pod says."""
    for path in sorted((ROOT / "orchestrator" / "nodeagent").rglob("*.py")):
        tree = ast.parse(path.read_text())
        strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not strings & set(HOST_ACCESS_WORDS), f"{path.relative_to(ROOT)} reads {strings & set(HOST_ACCESS_WORDS)}"


def test_a_container_spec_has_nowhere_to_carry_host_access() -> None:
    fields = {f.name for f in dataclasses.fields(ContainerSpec)}
    assert fields == {"pod_uid", "namespace", "pod_name", "container_name", "node_name", "image", "command", "args",
                      "env", "working_dir", "cpu_limit_millicores", "memory_limit_bytes", "restart_count",
                      "annotations", "files",
                      # The pod spec of issue 16 (docs/pod-spec.md): a user id and a read-only root make a
                      # container weaker, not stronger; dns is its resolv.conf; mounts and the termination
                      # log are directories and files the node agent made under its own root dir (hostPath
                      # volumes are refused by the API server; a persistentVolumeClaim is a directory
                      # <root-dir>/persistentvolumes/<handle> the agent makes, never a path from an
                      # object: a PersistentVolume may only be csi local-path.labkit.io), bound by
                      # `_mounts` below.
                      "user", "read_only_root_filesystem", "dns", "mounts", "termination_log",
                      "termination_message_path"}, \
        "a new ContainerSpec field: make sure it cannot carry host access, then add it here"
    # `files` is copied into the container's own filesystem (put_archive, never a bind mount); only
    # the node agent fills it, with the ServiceAccount token, CA and namespace under one fixed path.
    source = (ROOT / "orchestrator" / "nodeagent" / "podworker.py").read_text()
    assert "files=dict(projection.files)" in source and source.count("files=") == 1


# The keyword arguments of docker-py's create_host_config / create_container that grant host access.
DOCKER_HOST_ACCESS_KWARGS = {"privileged", "network_mode", "pid_mode", "ipc_mode", "uts_mode", "userns_mode",
                             "binds", "volumes", "mounts", "volumes_from", "cap_add", "devices", "device_requests",
                             "security_opt", "sysctls", "port_bindings", "publish_all_ports", "cgroupns",
                             "cgroup_parent", "device_cgroup_rules", "runtime", "use_config_proxy"}

# The docker-py calls that create or reconfigure a container (reading state back is not one).
DOCKER_CREATING_CALLS = {"create_host_config", "create_container", "create", "run", "update_container",
                         "create_networking_config", "create_endpoint_config", "connect_container_to_network"}


def test_the_docker_runtime_sets_host_access_only_to_fixed_safe_values() -> None:
    tree = ast.parse((ROOT / "orchestrator" / "nodeagent" / "runtimes" / "docker.py").read_text())
    seen: dict[str, Any] = {}
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr in DOCKER_CREATING_CALLS]
    assert [c.func.attr for c in calls if isinstance(c.func, ast.Attribute)].count("create_host_config") == 1
    for node in calls:
        assert all(k.arg is not None for k in node.keywords), \
            f"docker.py line {node.lineno}: **kwargs into the engine: host access could come from anywhere"
        for keyword in node.keywords:
            if keyword.arg == "mounts":
                # The one computed one: the node agent's own volume directories, nothing from the pod.
                assert ast.unparse(keyword.value) == "_mounts(spec, cluster=cluster) or None", ast.unparse(keyword.value)
                continue
            if keyword.arg in DOCKER_HOST_ACCESS_KWARGS:
                assert isinstance(keyword.value, ast.Constant), \
                    f"docker.py line {node.lineno}: {keyword.arg}= is computed, not a fixed value"
                seen[keyword.arg] = keyword.value.value
    assert seen == {"privileged": False, "network_mode": "bridge"}, seen
    mounts = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_mounts")
    sources = {ast.unparse(n) for n in ast.walk(mounts) if isinstance(n, ast.Attribute) and ast.unparse(n).startswith("spec.")}
    assert sources == {"spec.mounts", "spec.termination_log", "spec.termination_message_path", "spec.pod_uid",
                       "spec.node_name"}, sources


@pytest.mark.docker
async def test_a_container_the_docker_runtime_starts_has_no_host_access() -> None:
    from orchestrator.nodeagent.runtimes.docker import DockerRuntime
    from tests.support.skips import require_docker

    require_docker()
    import docker

    runtime = await DockerRuntime.connect()
    spec = ContainerSpec(pod_uid=str(uuid.uuid4()), namespace="security", pod_name="no-host-access",
                         container_name="main", node_name=f"security-{uuid.uuid4().hex[:6]}",
                         image="labkit/busybox:1.0", command=["sleep", "3600"],
                         annotations={"securityContext": "privileged"})  # annotations are data, never config
    state = await runtime.create_and_start(spec)
    client = docker.from_env()
    try:
        host = client.api.inspect_container(state.id)["HostConfig"]
        assert host["Privileged"] is False
        assert host["NetworkMode"] == "bridge"
        assert host["PidMode"] == "" and host["IpcMode"] in ("private", "shareable") and host["UTSMode"] == ""
        assert not host.get("Binds") and not host.get("Mounts") and not host.get("VolumesFrom")
        assert not host.get("CapAdd") and not host.get("Devices") and not host.get("SecurityOpt")
        assert not host.get("PortBindings")
    finally:
        await runtime.stop(state.id, grace_period_seconds=0)
        await runtime.remove(state.id)
        await runtime.close()
        client.close()
