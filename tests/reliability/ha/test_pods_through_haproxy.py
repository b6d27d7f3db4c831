"""Pods reach two API servers through HAProxy at ``https://kubernetes.default.svc``, and keep
reaching the API when one is killed.

The lab is `labctl up --apiservers 2 --nodes 1 --runtime docker`: HAProxy listens on loopback and on
the Docker bridge gateway, same port; both API servers advertise ``<gateway>:<HAProxy's port>``, so
the `kubernetes` Service's EndpointSlice names HAProxy and the proxy DNATs the ClusterIP there
(orchestrator/lab/haproxy.py). A ``labkit/python-client`` pod runs the official client's
``load_incluster_config()`` with ``KUBERNETES_SERVICE_HOST=kubernetes.default.svc`` (the node agent
sets it to its own forwarder otherwise, nodeagent/credentials.py) and lists ConfigMaps its
ServiceAccount is granted, verifying the API server's certificate with the pod's ``ca.crt``.
HAProxy's log (one line per connection: client address, ``backend/server``) shows which API server
served each of the pod's connections.

Its own lab rather than the failover test's: that one is simulated and nodeless so that it runs
without Docker; this one needs Docker, root (iptables) and the python-client image. Needs
Debian's haproxy too; LABKIT_REQUIRE_HAPROXY=1, LABKIT_REQUIRE_DOCKER=1,
LABKIT_REQUIRE_KUBECTL=1 and LABKIT_REQUIRE_PYTHON_IMAGE=1 turn the skips into failures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from orchestrator.lab import haproxy
from orchestrator.lab.embedded.ports import LOOPBACK, free_port, pid_alive
from orchestrator.lab.home import LabHome
from orchestrator.lab.supervisor import Supervisor
from orchestrator.lab.up import docker_bridge
from tests.labctl import run_labctl

pytestmark = pytest.mark.reliability

PYTHON_IMAGE = "labkit/python-client:1.0"
APISERVERS = ("apiserver-1", "apiserver-2")
POD = "incluster"
MARKER = "seen-from-a-pod"  # a ConfigMap the pod must list

# Run in the pod: the official client, configured as every in-cluster client is, but aimed at the
# Service's DNS name so that the connection takes the ClusterIP -> HAProxy path. Two fresh clients:
# two connections, which round robin sends to both API servers while both are up.
IN_CLUSTER = """
import os
os.environ["KUBERNETES_SERVICE_HOST"] = "kubernetes.default.svc"
os.environ["KUBERNETES_SERVICE_PORT"] = "443"
from kubernetes import client, config
config.load_incluster_config()
for _ in range(2):
    with client.ApiClient() as api:
        items = client.CoreV1Api(api).list_namespaced_config_map("default", _request_timeout=10).items
        print(" ".join(sorted(cm.metadata.name for cm in items)))
"""


def _require() -> None:
    missing: list[tuple[str, tuple[str, ...]]] = []  # what, and the LABKIT_REQUIRE_* that forbid its skip
    if shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"):
        missing.append(("haproxy (apt-get install haproxy)", ("LABKIT_REQUIRE_HAPROXY",)))
    if shutil.which("kubectl") is None:
        missing.append(("kubectl", ("LABKIT_REQUIRE_KUBECTL",)))
    if os.geteuid() != 0 or shutil.which("iptables-restore") is None:
        missing.append(("root with iptables (the proxy programs the host)", ("LABKIT_REQUIRE_DOCKER",)))
    try:
        import docker

        docker.from_env().images.get(PYTHON_IMAGE)
    except Exception as err:  # no engine, no image: the same skip
        missing.append((f"a Docker engine with {PYTHON_IMAGE} (tests/images/build_python_client.sh; {err})",
                        ("LABKIT_REQUIRE_DOCKER", "LABKIT_REQUIRE_PYTHON_IMAGE")))
    if not missing:
        return
    message = "needs " + ", ".join(what for what, _ in missing)
    variables = sorted({var for _, vars_ in missing for var in vars_})
    required = [var for var in variables if os.environ.get(var) == "1"]
    if required:
        pytest.fail(f"{message} ({', '.join(required)}=1 says this test must run)")
    pytest.skip(reason=f"{message} (set {', '.join(variables)}=1 to make this a failure)")


def kubectl(home: Path, *args: str, input: str | None = None) -> str:
    env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
    result = subprocess.run(["kubectl", *args], env=env, input=input, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Lab:
    home: Path
    port: int
    pod_ip: str = ""

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(LabHome(self.home))

    def pid(self, name: str) -> int:
        record = self.supervisor.record(name)
        assert record is not None and record.pid is not None, f"{name} is not recorded"
        return record.pid

    def in_pod(self) -> list[list[str]]:
        """The ConfigMaps the in-cluster client lists, once per connection."""
        return [line.split() for line in kubectl(self.home, "exec", POD, "--", "python3", "-c", IN_CLUSTER).splitlines()]

    def served(self) -> list[str]:
        """The API server of each of the pod's connections HAProxy has logged, in order: those that
        reached a server. A connect that HAProxy cut because the server was marked DOWN meanwhile
        (Tc = -1, state "DC": the client sees a closed connection and retries) served nothing."""
        log = (self.home / "logs" / "haproxy.log").read_text(errors="replace")
        return [server for server, connect in re.findall(
            rf"{re.escape(self.pod_ip)}:\d+ .*? {haproxy.BACKEND}/(\S+) -?\d+/(-?\d+)/", log) if connect != "-1"]


def _wait(what: str, condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting until {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _require()
    home = tmp_path_factory.mktemp("ha-pods")
    lab = Lab(home=home, port=free_port())
    up = run_labctl(home, "up", "--apiservers", "2", "--nodes", "1", "--runtime", "docker",
                    "--port", str(lab.port), "--skip", "metrics-server")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        # The pod's ServiceAccount may list ConfigMaps in its namespace, nothing more.
        kubectl(home, "create", "configmap", MARKER, "--from-literal=k=v")
        kubectl(home, "create", "role", "configmap-reader", "--verb=list", "--resource=configmaps")
        kubectl(home, "create", "rolebinding", "configmap-reader", "--role=configmap-reader",
                "--serviceaccount=default:default")
        kubectl(home, "run", POD, f"--image={PYTHON_IMAGE}", "--image-pull-policy=IfNotPresent",
                "--restart=Never", "--command", "--", "sleep", "600")
        kubectl(home, "wait", "--for=condition=Ready", f"pod/{POD}", "--timeout=120s")
        lab.pod_ip = kubectl(home, "get", "pod", POD, "-o", "jsonpath={.status.podIP}").strip()
        assert lab.pod_ip
        yield lab
    finally:
        env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
        subprocess.run(["kubectl", "delete", "pod", POD, "--now", "--wait=true", "--timeout=60s"], env=env,
                       capture_output=True, timeout=90, check=False)
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def test_the_kubernetes_endpoint_is_haproxy_on_the_bridge_gateway(lab: Lab) -> None:
    bridge = docker_bridge()
    assert bridge is not None
    slice_ = json.loads(kubectl(lab.home, "get", "endpointslice", "kubernetes", "-o", "json"))
    assert [e["addresses"] for e in slice_["endpoints"]] == [[bridge.gateway]]
    assert [p["port"] for p in slice_["ports"]] == [lab.port]

    def listening(name: str) -> set[tuple[str, int]]:
        conns = psutil.Process(lab.pid(name)).net_connections("tcp")
        return {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}

    assert listening("haproxy") == {(LOOPBACK, lab.port), (bridge.gateway, lab.port)}
    for name in APISERVERS:  # the API servers themselves stay on loopback
        assert {ip for ip, _ in listening(name)} == {LOOPBACK}, name


def test_a_pod_reaches_both_apiservers_through_haproxy_with_its_serviceaccount_token(lab: Lab) -> None:
    _wait("HAProxy finds both API servers UP", lambda: all(s.up for s in haproxy.backend_servers(
        LabHome(lab.home)).values()), timeout=30)
    answers = lab.in_pod()
    assert len(answers) == 2 and all(MARKER in names for names in answers), answers
    # HAProxy logs a connection when it ends: both of the pod's, balanced over both API servers.
    _wait("HAProxy logs the pod's two connections", lambda: len(lab.served()) >= 2, timeout=10)
    assert set(lab.served()) == set(APISERVERS), lab.served()


def test_with_one_apiserver_killed_the_pod_reaches_the_api_through_the_other(lab: Lab) -> None:
    home = LabHome(lab.home)
    victim, survivor = APISERVERS
    # Without the watchdog the killed API server stays dead, so every connection below is one that
    # HAProxy could only send to the survivor (the failover test covers the restart).
    lab.supervisor.stop_watchdog()
    victim_pid = lab.pid(victim)
    os.killpg(victim_pid, signal.SIGKILL)
    _wait(f"{victim} is dead", lambda: not pid_alive(victim_pid), timeout=10)
    before = len(lab.served())
    # At once, before HAProxy's checks notice: a connect refused by the dead server is redispatched.
    answers = lab.in_pod()
    assert len(answers) == 2 and all(MARKER in names for names in answers), answers
    _wait(f"HAProxy marks {victim} DOWN", lambda: haproxy.backend_servers(home)[victim].status.startswith("DOWN"),
          timeout=10)
    answers = lab.in_pod()
    assert len(answers) == 2 and all(MARKER in names for names in answers), answers
    _wait("HAProxy logs the pod's four connections", lambda: len(lab.served()) >= before + 4, timeout=10)
    assert lab.served()[before:] == [survivor] * 4, lab.served()[before:]
