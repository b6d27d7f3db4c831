"""The docker compose stack, end to end: images built offline, `up`, kubectl, pods on its node agents, `down`.

docker/build-images.sh builds the images from Debian packages (nothing pulled from a registry;
cached, so a second run takes seconds), docker/docker-compose.yml starts PostgreSQL, Redis, the
API server, the relay, the scheduler, the controller manager and two node agents driving this
host's Docker engine. The real kubectl then sees both node agents Ready and a Deployment's pods
Running on them (their containers in the engine, labelled with the stack's node and cluster id),
reads a pod's log and runs an exec through the API server on the node agent (over HTTPS, the
agent's lab-CA certificate checked against its service name), and after the
Deployment is deleted and `down -v` nothing of the stack is left: no container, network or volume.

The project name is unique per run and the API server's host port a free one, so the test never
meets a developer's `labkit` stack. Needs root-level Docker, docker-compose (Debian's 1.29 or the
v2 plugin) and kubectl; skipped without them unless LABKIT_REQUIRE_COMPOSE=1 (CI) makes that a
failure. The first build (Debian root filesystem, wheels) takes minutes; .ci/run builds the images
before the tests.

Kubernetes equivalent: none (test/e2e runs against a cluster some tool stood up; here standing it
up is part of what is tested).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.lab.embedded.ports import free_port
from orchestrator.nodeagent.cluster import cluster_id

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "docker-compose.yml"
BUILD_SCRIPT = REPO / "docker" / "build-images.sh"
NODES = ("node-1", "node-2")
POD_IMAGE = "labkit/busybox:1.0"  # built offline by tests/images/build_busybox.sh (.ci/docker.sh)

pytestmark = [pytest.mark.docker, pytest.mark.kubectl, pytest.mark.timeout(1800)]

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "compose-web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "compose-web"}},
        "template": {
            "metadata": {"labels": {"app": "compose-web"}},
            "spec": {
                # sleep as PID 1 ignores SIGTERM: without a short grace period each pod takes 30 s to go.
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "web",
                    "image": POD_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "echo hello from the compose stack; exec sleep 3600"],
                }],
            },
        },
    },
}


def _require(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("LABKIT_REQUIRE_COMPOSE") == "1":
        pytest.fail(f"{why}, and LABKIT_REQUIRE_COMPOSE=1 says the compose test must run")
    pytest.skip(reason=f"{why} (set LABKIT_REQUIRE_COMPOSE=1 to make this a failure)")


def _compose_binary() -> list[str] | None:
    """Debian's docker-compose (1.29, Python), else the v2 `docker compose` plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return ["docker", "compose"]
    return None


def _engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, input=input)


def _wait_for(what: str, probe: Callable[[], Any], *, timeout: float, describe: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"{what} within {timeout:.0f} s; {describe()}")


def _stack_leftovers(project: str) -> dict[str, list[str]]:
    """Containers, networks and volumes compose labelled as this project's."""
    label = f"label=com.docker.compose.project={project}"
    found = {
        "containers": _run(["docker", "ps", "-aq", "--filter", label]).stdout.split(),
        "networks": _run(["docker", "network", "ls", "-q", "--filter", label]).stdout.split(),
        "volumes": _run(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split(),
    }
    return {kind: ids for kind, ids in found.items() if ids}


def _cluster_containers(cluster: str) -> list[str]:
    return _run(["docker", "ps", "-aq", "--filter", f"label=labkit.cluster={cluster}"]).stdout.split()


@pytest.fixture(scope="module")
def compose() -> list[str]:
    _require(_engine_answers(), "no Docker engine answers")
    binary = _compose_binary()
    _require(binary is not None, "neither docker-compose nor the `docker compose` plugin is installed")
    _require(shutil.which("kubectl") is not None, "kubectl is not installed")
    _require(_run(["docker", "image", "inspect", POD_IMAGE]).returncode == 0,
             f"the pod image {POD_IMAGE} is missing (tests/images/build_busybox.sh builds it offline)")
    assert binary is not None
    return binary


def test_compose_stack_runs_a_deployment_on_its_node_agents_and_down_leaves_nothing(
    compose: list[str], tmp_path: Path
) -> None:
    started = time.monotonic()
    build = _run(["bash", str(BUILD_SCRIPT)], timeout=1500,
                 env=dict(os.environ, LABKIT_BUILD_PYTHON=sys.executable))
    assert build.returncode == 0, f"docker/build-images.sh failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    built = time.monotonic()

    project = f"labkit-test-{os.getpid()}-{secrets.token_hex(3)}"
    port = free_port()
    nodes_dir = tmp_path / "nodes"  # --root-dir: the same path in the agents and on this host
    nodes_dir.mkdir()
    env = dict(os.environ, LABKIT_APISERVER_PORT=str(port), LABKIT_NODES_DIR=str(nodes_dir))
    dc = [*compose, "-p", project, "-f", str(COMPOSE_FILE)]
    kubeconfig = tmp_path / "kubeconfig"
    kenv = dict(os.environ, KUBECONFIG=str(kubeconfig))
    cluster = ""

    def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(["kubectl", *args], env=kenv, timeout=120, input=input)

    def logs() -> str:
        return _run([*dc, "logs", "--no-color", "--tail=30"], env=env).stdout[-6000:]

    try:
        up = _run([*dc, "up", "-d"], env=env, timeout=600)
        assert up.returncode == 0, f"up failed:\n{up.stderr[-3000:]}\n{logs()}"
        # `up -d` returns once the API server is healthy (the others wait for it through depends_on).
        host_kubeconfig = _run([*dc, "exec", "-T", "apiserver", "cat", "/lab/host-admin.kubeconfig"], env=env)
        assert host_kubeconfig.returncode == 0, host_kubeconfig.stderr
        kubeconfig.write_text(host_kubeconfig.stdout)
        cluster = cluster_id(kubeconfig)

        def ready_nodes() -> set[str]:
            out = kubectl("get", "nodes", "-o", "json")
            if out.returncode != 0:
                return set()
            return {n["metadata"]["name"] for n in json.loads(out.stdout)["items"]
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}

        _wait_for("both compose node agents Ready", lambda: ready_nodes() >= set(NODES), timeout=180,
                  describe=lambda: f"kubectl get nodes: {kubectl('get', 'nodes').stdout}\n{logs()}")
        table = kubectl("get", "nodes")
        assert table.returncode == 0 and all(re.search(rf"^{n}\s+Ready\s", table.stdout, flags=re.M) for n in NODES), (
            table.stdout)
        ready_at = time.monotonic()

        applied = kubectl("apply", "-f", "-", input=json.dumps(DEPLOYMENT))
        assert applied.returncode == 0, applied.stderr

        def running_pods() -> list[dict[str, Any]]:
            out = kubectl("get", "pods", "-l", "app=compose-web", "-o", "json")
            pods = json.loads(out.stdout)["items"] if out.returncode == 0 else []
            running = [p for p in pods if p["status"].get("phase") == "Running"
                       and all(c.get("ready") for c in p["status"].get("containerStatuses", []))]
            return running if len(running) == 2 else []

        pods = _wait_for("the Deployment's 2 pods Running", running_pods, timeout=180,
                         describe=lambda: f"{kubectl('get', 'pods', '-o', 'wide').stdout}\n{logs()}")
        for pod in pods:
            node = pod["spec"]["nodeName"]
            assert node in NODES, f"{pod['metadata']['name']} runs on {node}, not on a compose node agent"
            # The node agent ran it in this host's engine, labelled with its node and this stack's cluster.
            containers = _run(["docker", "ps", "-q", "--filter", f"label=labkit.cluster={cluster}",
                               "--filter", f"label=labkit.node={node}",
                               "--filter", f"label=io.kubernetes.pod.uid={pod['metadata']['uid']}"]).stdout.split()
            assert containers, f"no running container of {pod['metadata']['name']} on {node} in the engine"
            # pods/x/log: kubectl → API server → the node agent's log endpoint, found by its service name.
            log = kubectl("logs", pod["metadata"]["name"])
            assert log.returncode == 0 and "hello from the compose stack" in log.stdout, log.stdout + log.stderr
            # pods/x/exec over the same hop: HTTPS, the agent's lab-CA certificate checked against its name.
            run = kubectl("exec", pod["metadata"]["name"], "--", "echo", f"exec on {node}")
            assert run.returncode == 0 and run.stdout == f"exec on {node}\n", run.stdout + run.stderr
        running_at = time.monotonic()

        deleted = kubectl("delete", "deployment", "compose-web", "--wait=true")
        assert deleted.returncode == 0, deleted.stderr
        _wait_for("the node agents removing the pods' containers", lambda: not _cluster_containers(cluster),
                  timeout=120, describe=lambda: f"left: {_cluster_containers(cluster)}\n{logs()}")
    finally:
        down = _run([*dc, "down", "-v", "--remove-orphans", "--timeout", "5"], env=env, timeout=300)
        # Whatever the test reached: no pod container of this stack outlives it.
        if cluster and (left := _cluster_containers(cluster)):
            _run(["docker", "rm", "-f", *left])
    assert down.returncode == 0, down.stderr
    assert _stack_leftovers(project) == {}, "down -v left parts of the stack behind"
    finished = time.monotonic()
    print(f"compose stack: build {built - started:.0f} s, up to nodes Ready {ready_at - built:.0f} s, "
          f"pods Running {running_at - ready_at:.0f} s, delete + down {finished - running_at:.0f} s")
