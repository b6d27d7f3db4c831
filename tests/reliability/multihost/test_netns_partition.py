"""A node on another host, reached across a network link that the test cuts and restores.

Topology (all on this machine; the "remote host" is a network namespace of the test's own):

    host (root namespace)                            namespace lkmh-<pid>
    ───────────────────────────────                  ──────────────────────────────
    PostgreSQL, Redis, relay  (loopback)
    API server #1  127.0.0.1   <- scheduler, controller manager, node-1 (simulated runtime)
    API server #2  10.213.N.1  ── veth (lkh<pid>) ── 10.213.N.2  node-2 agent (Docker)

Both API servers serve the same store, as several kube-apiservers serve one etcd. node-2 talks
to API server #2 only, across the veth link; its containers are real Docker containers.

The story, checked step by step:
1. node-2 Ready; a Deployment's 3 pods run there (node-1 cordoned meanwhile), as Docker containers.
2. The link is cut (the host end of the veth goes down): node-2's lease stops, the node lifecycle
   controller marks it Ready=Unknown and taints it unreachable, evicts its pods, and the
   ReplicaSet's replacements run on node-1. node-2's containers still run: it cannot hear.
3. The link is restored: node-2 reports Ready again, the taint goes, the evicted pods' deletion
   is confirmed, and node-2 removes their now-stale containers.

Needs root (ip netns) and a Docker engine; LABKIT_REQUIRE_NETNS=1 / LABKIT_REQUIRE_DOCKER=1 turn
the skips into failures (CI sets both).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from orchestrator.lab.components import ApiServer, ControllerManager, NodeAgent
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.embedded.postgres import database_url
from orchestrator.lab.embedded.redis import redis_url
from orchestrator.lab.home import LabHome
from orchestrator.nodeagent.runtimes.base import LABEL_NODE, LABEL_POD_UID
from tests.labctl import run_labctl

T = TypeVar("T")
NAMESPACE = "default"
UNREACHABLE = "node.kubernetes.io/unreachable"
# Short lab timings so the story takes a minute, not upstream's 40 s grace + 300 s eviction.
GRACE_SECONDS = 6
EVICTION_SECONDS = 3


def _require(env: str, ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get(env) == "1":
        pytest.fail(f"{why}, and {env}=1 says this test must run")
    pytest.skip(reason=f"{why} (set {env}=1 to make this a failure)")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


def _eventually(check: Callable[[], T | None], *, what: str, timeout: float = 90,
                state: Callable[[], Any] | None = None) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"waited {timeout:.0f}s for {what}; last seen: {state() if state else last!r}")


@dataclass
class Link:
    """A veth pair from the root namespace into a namespace of the test's own."""

    netns: str
    host_if: str
    host_ip: str
    remote_ip: str

    def cut(self) -> None:
        _run("ip", "link", "set", self.host_if, "down")

    def restore(self) -> None:
        _run("ip", "link", "set", self.host_if, "up")


@pytest.fixture
def link() -> Iterator[Link]:
    _require("LABKIT_REQUIRE_NETNS", shutil.which("ip") is not None, "iproute2's `ip` is not installed")
    _require("LABKIT_REQUIRE_NETNS", os.geteuid() == 0, "network namespaces need root")
    tag = os.getpid() % 100000
    subnet = 10 + os.getpid() % 240  # concurrent runs on one machine get different subnets
    lk = Link(netns=f"lkmh-{tag}", host_if=f"lkh{tag}", host_ip=f"10.213.{subnet}.1",
              remote_ip=f"10.213.{subnet}.2")
    peer = f"lkn{tag}"
    subprocess.run(["ip", "netns", "del", lk.netns], capture_output=True)  # left by a killed run
    _run("ip", "netns", "add", lk.netns)
    try:
        _run("ip", "link", "add", lk.host_if, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", lk.netns)
        _run("ip", "addr", "add", f"{lk.host_ip}/24", "dev", lk.host_if)
        _run("ip", "link", "set", lk.host_if, "up")
        _run("ip", "netns", "exec", lk.netns, "ip", "addr", "add", f"{lk.remote_ip}/24", "dev", peer)
        _run("ip", "netns", "exec", lk.netns, "ip", "link", "set", peer, "up")
        _run("ip", "netns", "exec", lk.netns, "ip", "link", "set", "lo", "up")
        yield lk
    finally:
        subprocess.run(["ip", "netns", "del", lk.netns], capture_output=True)  # takes the veth pair with it
        subprocess.run(["ip", "link", "del", lk.host_if], capture_output=True)


def _require_docker() -> None:
    try:
        ok = subprocess.run(["docker", "image", "inspect", "labkit/busybox:1.0"], capture_output=True,
                            timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    _require("LABKIT_REQUIRE_DOCKER", ok, "no Docker engine with the test image labkit/busybox:1.0 "
             "(bash .ci/docker.sh builds it)")


@dataclass
class Cluster:
    home: Path
    api: httpx.Client
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.home / "logs" / f"{name}.test.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.home / "logs" / f"{name}.test.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def pods(self) -> list[dict[str, Any]]:
        r = self.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods", params={"labelSelector": "app=web"})
        r.raise_for_status()
        return r.json()["items"]

    def node(self, name: str) -> dict[str, Any]:
        r = self.api.get(f"/api/v1/nodes/{name}")
        r.raise_for_status()
        return r.json()

    def cordon(self, name: str, on: bool) -> None:
        r = self.api.patch(f"/api/v1/nodes/{name}", json={"spec": {"unschedulable": on}},
                           headers={"Content-Type": "application/merge-patch+json"})
        r.raise_for_status()


@pytest.fixture
def cluster(link: Link, tmp_path: Path) -> Iterator[Cluster]:
    _require_docker()
    home = tmp_path / "lab"
    up = run_labctl(home, "up", "--nodes", "2", "--runtime", "simulated", "--port", str(free_port()),
                 "--san", link.host_ip, "--skip", "nodes", "--skip", "controller-manager")
    if up.returncode != 0:
        run_labctl(home, "down")
        raise AssertionError(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
    lh = LabHome(home)
    tokens = {row[1]: row[0] for row in csv.reader(lh.token_file.read_text().splitlines()) if row}
    server = yaml.safe_load(lh.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    verify = ssl.create_default_context(cafile=str(lh.ca_cert))
    api = httpx.Client(base_url=server, verify=verify, timeout=30,
                       headers={"Authorization": f"Bearer {tokens['admin']}"})
    c = Cluster(home=home, api=api)
    try:
        ports = json.loads(lh.state_file.read_text())["lab"]["ports"]
        remote_port = free_port()
        # As `labctl up` starts its own: the lab's certificate, tokens and keys, and HTTPS to node agents.
        c.spawn("apiserver-2", ApiServer.for_lab(
            lh, database_url=database_url(ports["postgres"]), redis_url=redis_url(ports["redis"]),
            bind_address=link.host_ip, port=remote_port, relay=False,
        ).argv())
        c.spawn("controller-manager", ControllerManager(
            kubeconfig=lh.kubeconfig_for("controller-manager"), grpc_port=0, metrics_port=0,
            node_monitor_period=1, node_monitor_grace_period=GRACE_SECONDS,
            pod_eviction_timeout=EVICTION_SECONDS, podgc_period=2,
        ).argv())
        # Both node agents renew their leases every second, well inside the short grace period.
        c.spawn("node-1", NodeAgent(
            kubeconfig=lh.kubeconfig_for("node-1"), name="node-1", runtime="simulated", log_bind="127.0.0.1",
            log_port=0, lease_seconds=1, **NodeAgent.tls_for(lh, "node-1"),
        ).argv())
        # node-2's kubeconfig, pointed across the link at API server #2.
        node_kubeconfig = yaml.safe_load(lh.kubeconfig_for("node-2").read_text())
        for entry in node_kubeconfig["clusters"]:
            entry["cluster"]["server"] = f"https://{link.host_ip}:{remote_port}"
        remote_kubeconfig = home / "node-2-remote.kubeconfig"
        remote_kubeconfig.write_text(yaml.safe_dump(node_kubeconfig))
        c.spawn("node-2", [
            "ip", "netns", "exec", link.netns, *NodeAgent(
                kubeconfig=remote_kubeconfig, name="node-2", runtime="docker", node_ip=link.remote_ip,
                log_bind=link.remote_ip, log_port=0, lease_seconds=1, relist_seconds=0.5,
                # What `labctl node-certificate node-2 --address <its IP>` issues for a worker machine.
                **NodeAgent.tls_for(lh, "node-2", addresses=(link.remote_ip,)),
            ).argv(),
        ])
        yield c
    finally:
        for proc in reversed(c.processes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in c.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        api.close()
        _remove_containers("node-2")
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def _containers(node: str) -> dict[str, str]:
    """pod uid -> container state, for the node's Docker containers."""
    import docker

    client = docker.from_env()
    try:
        return {c.labels.get(LABEL_POD_UID, "?"): c.status
                for c in client.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node}"}, ignore_removed=True)}
    finally:
        client.close()


def _remove_containers(node: str) -> None:
    import docker

    client = docker.from_env()
    try:
        for container in client.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node}"}, ignore_removed=True):
            container.remove(force=True)
    finally:
        client.close()


def _ready(node: dict[str, Any]) -> str | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status")
    return None


def _deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"terminationGracePeriodSeconds": 2,
                                           "containers": [{"name": "main", "image": "labkit/busybox:1.0",
                                                           "imagePullPolicy": "IfNotPresent",
                                                           "command": ["sleep", "3600"]}]}}}}


def _running_on(c: Cluster, node: str, count: int) -> list[dict[str, Any]] | None:
    pods = [p for p in c.pods() if p["spec"].get("nodeName") == node and not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") == "Running"]
    return pods if len(pods) >= count else None


@pytest.mark.timeout(420)
def test_cut_link_makes_node_unreachable_evicts_and_recovers(link: Link, cluster: Cluster) -> None:
    c = cluster
    # 1. node-2 joins across the link and runs the Deployment's pods as Docker containers.
    _eventually(lambda: _ready(c.node("node-2")) == "True" if _node_exists(c, "node-2") else None,
                what=f"node-2 (in {link.netns}) to register across the link and be Ready; agent log:\n"
                     f"{c.log('node-2')}")
    c.cordon("node-1", True)
    r = c.api.post(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", json=_deployment(3))
    assert r.status_code == 201, r.text
    remote_pods = _eventually(lambda: _running_on(c, "node-2", 3), what="3 pods Running on node-2", timeout=120)
    remote_uids = {p["metadata"]["uid"] for p in remote_pods}
    containers = _containers("node-2")
    assert remote_uids <= {uid for uid, state in containers.items() if state == "running"}, (
        f"each pod on node-2 should be a running Docker container labelled with its uid: {containers}")
    # Across the link the API server calls node-2 over HTTPS and checks its certificate names the
    # link address (its InternalIP): a pod's log (kubectl logs) comes back through that hop.
    name = remote_pods[0]["metadata"]["name"]
    log = c.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/log")
    assert log.status_code == 200, log.text
    c.cordon("node-1", False)

    # 2. Cut the link: node-2 goes silent.
    link.cut()
    _eventually(lambda: _ready(c.node("node-2")) == "Unknown",
                what="node-2's Ready condition to become Unknown after the link was cut")
    _eventually(lambda: any(t.get("key") == UNREACHABLE for t in (c.node("node-2")["spec"].get("taints") or [])),
                what="the unreachable taint on node-2")
    _eventually(lambda: _running_on(c, "node-1", 3), what="3 replacement pods Running on node-1", timeout=120,
                state=lambda: _summary(c))
    evicted = {p["metadata"]["uid"]: p for p in c.pods() if p["metadata"]["uid"] in remote_uids}
    assert all(p["metadata"].get("deletionTimestamp") for p in evicted.values()), (
        "every pod left on the unreachable node should be marked for deletion (evicted)")
    still = _containers("node-2")
    assert remote_uids <= {uid for uid, state in still.items() if state == "running"}, (
        f"node-2 cannot hear the API server, so its containers keep running until it can: {still}")
    _eventually(lambda: c.api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/web").json()["status"]
                .get("availableReplicas") == 3, what="the Deployment to count 3 available replicas again")

    # 3. Restore the link: node-2 recovers and cleans up its stale containers.
    link.restore()
    _eventually(lambda: _ready(c.node("node-2")) == "True", what="node-2 Ready again after the link came back",
                state=lambda: c.log("node-2"))
    _eventually(lambda: not any(t.get("key") == UNREACHABLE for t in (c.node("node-2")["spec"].get("taints") or [])),
                what="the unreachable taint to be removed")
    _eventually(lambda: not ({p["metadata"]["uid"] for p in c.pods()} & remote_uids),
                what="the evicted pods' deletion to be confirmed (gone from the API)")
    _eventually(lambda: not (set(_containers("node-2")) & remote_uids) or None,
                what=f"node-2 to remove the evicted pods' containers; agent log:\n{c.log('node-2')}")
    final = c.pods()
    assert len(final) == 3 and all(p["spec"].get("nodeName") == "node-1" for p in final), [
        (p["metadata"]["name"], p["spec"].get("nodeName")) for p in final]


def _summary(c: Cluster) -> str:
    rows = [f"{p['metadata']['name']} node={p['spec'].get('nodeName')} phase={p.get('status', {}).get('phase')} "
            f"deleting={bool(p['metadata'].get('deletionTimestamp'))}" for p in c.pods()]
    taints = c.node("node-2")["spec"].get("taints")
    return "\n".join([*rows, f"node-2 taints: {taints}", "controller-manager log:", c.log("controller-manager")])


def _node_exists(c: Cluster, name: str) -> bool:
    return c.api.get(f"/api/v1/nodes/{name}").status_code == 200
