"""Node agent tests against the real API server (a lab of this directory's own), with agents as subprocesses.

`AgentProcess` starts ``python -m orchestrator.nodeagent`` with shortened timers (lease 2 s,
CrashLoopBackOff 1 s doubling to 4 s), serving HTTPS with a lab-CA certificate and requiring the
API server's client certificate as `labctl up` starts agents, and stops it with SIGTERM — its containers keep running,
as when kubelet restarts. Each test works in its own namespace, so pods of one test never
disturb another's.

The lab is this directory's own, not the session lab of tests/support/fixtures.py: the agents here
run as node-1 (and node-2), and an agent runs every pod of the lab bound to its node — the API
server tests leave pods bound to node-1 and node-2 (tests/integration/apiserver/test_authz.py).
`api` and `namespace` follow this `lab`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.lab.components import NodeAgent
from tests.support.lab import Lab, start_lab
from tests.support.skips import require_docker

FAST_TIMERS = tuple(NodeAgent.flags(lease_seconds=2, crashloop_base=1, crashloop_max=4, relist_seconds=0.5,
                                     volume_resync_seconds=1))


class AgentProcess:
    """One ``python -m orchestrator.nodeagent`` subprocess."""

    def __init__(self, lab: Lab, *, kubeconfig: Path, args: list[str], log_file: Path) -> None:
        self.lab = lab
        self.kubeconfig = kubeconfig
        self.args = args
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from orchestrator.lab.home import LabHome

        # `args` names the runtime (and the node), as each test wants it.
        argv = [sys.executable, "-m", NodeAgent.module,
                *NodeAgent.flags(kubeconfig=self.kubeconfig, log_port=0, log_bind="127.0.0.1",
                                 apiserver_token_file=self.lab.home / "pki" / "kubelet-client.token",
                                 **NodeAgent.tls_for(LabHome(self.lab.home), f"test-{self.log_file.stem}")),
                *FAST_TIMERS, *self.args]
        if "--root-dir" not in self.args:  # pod directories beside the log, removed with the test's files
            argv += ["--root-dir", str(self.log_file.parent / "root")]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


def ensure_node_object(lab: Lab, name: str) -> None:
    """Create the Node as admin if missing.

    Workaround: the API server's node authorizer rejects a node's own POST /api/v1/nodes (it
    checks the name before reading the body), so self-registration fails with 403 today; the
    agent then updates the existing Node instead.
    """
    import ssl

    verify = ssl.create_default_context(cafile=str(lab.ca_file))
    with httpx.Client(base_url=lab.server, verify=verify, headers={"Authorization": f"Bearer {lab.tokens['admin']}"},
                      timeout=30) as client:
        r = client.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        assert r.status_code in (201, 409), r.text


def wait_node_ready(lab: Lab, name: str, agent: AgentProcess, timeout: float = 30) -> dict[str, Any]:
    import ssl

    verify = ssl.create_default_context(cafile=str(lab.ca_file))
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=lab.server, verify=verify, headers={"Authorization": f"Bearer {lab.tokens['admin']}"},
                      timeout=30) as client:
        while time.monotonic() < deadline:
            assert agent.process is not None and agent.process.poll() is None, f"the agent exited:\n{agent.log()}"
            r = client.get(f"/api/v1/nodes/{name}")
            if r.status_code == 200:
                node = r.json()
                ready = [c for c in (node.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
                port = (((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
                if ready and ready[0]["status"] == "True" and port:
                    return node
            time.sleep(0.3)
    raise AssertionError(f"node {name} did not become Ready in {timeout}s:\n{agent.log()}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with start_lab(tmp_path_factory, "nodeagent-lab") as started:
        yield started


@pytest.fixture(scope="session")
def docker_agent(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """node-1 on Docker, with its own node token."""
    require_docker()
    ensure_node_object(lab, "node-1")
    workdir = tmp_path_factory.mktemp("agent")
    agent = AgentProcess(lab, kubeconfig=lab.kubeconfig_for("node-1"),
                         args=["--name", "node-1", "--runtime", "docker", "--root-dir", str(workdir / "root")],
                         log_file=workdir / "node-1.log")
    agent.start()
    try:
        wait_node_ready(lab, "node-1", agent)
        yield agent
    finally:
        agent.stop()
        from orchestrator.nodeagent.cluster import cluster_id

        remove_node_containers("node-1", cluster=cluster_id(lab.kubeconfig_for("node-1")))


def remove_node_containers(node: str, *, cluster: str | None = None) -> None:
    """Remove `node`'s containers — of one lab's `cluster` only, when given: other test sessions
    on a shared engine have a node-1 too, and remove theirs at the same time."""
    import docker
    import docker.errors

    labels = [f"labkit.node={node}"] + ([f"labkit.cluster={cluster}"] if cluster else [])
    client = docker.from_env()
    try:
        for container in client.containers.list(all=True, filters={"label": labels}):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass  # removed meanwhile (by its agent, or by the session it belongs to)
        for volume in client.volumes.list(filters={"label": labels}):  # emptyDir medium: Memory
            try:
                volume.remove(force=True)
            except docker.errors.APIError:
                pass  # removed meanwhile, or still used by another session's container
    finally:
        client.close()


def pod_manifest(name: str, *, node: str, script: str | None = None, restart: str = "Always",
                 annotations: dict[str, str] | None = None, grace: int = 5, **container: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": container.pop("container_name", "main"), "image": "labkit/busybox:1.0",
                         "imagePullPolicy": "IfNotPresent", **container}
    if script is not None:
        c["command"] = ["sh", "-c", script]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"nodeName": node, "restartPolicy": restart, "containers": [c],
                 "terminationGracePeriodSeconds": grace},
    }
