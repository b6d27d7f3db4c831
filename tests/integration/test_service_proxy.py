"""Services on a real Docker lab: the proxy's iptables rules, traffic from a pod to a ClusterIP and a
NodePort, cluster DNS from a pod, the rules following endpoint changes, a kill -9 of the proxy, and
`labctl down` leaving no rule behind.

One lab for the module (`labctl up --runtime docker`, one node): the backends are two busybox
``httpd`` pods that answer with their own name, the client a busybox pod. The Service ``web`` has no
selector and its EndpointSlice is written by the test (the documented way to point a Service at
endpoints by hand), so what is proven here is the proxy and the DNS server, not the EndpointSlice
controller. Needs root (iptables) besides Docker and kubectl.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.up import docker_bridge
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.proxy.rules import chain_prefix
from tests.labctl import run_labctl

T = TypeVar("T")

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: httpd
    image: labkit/busybox:1.0
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: httpd
    image: labkit/busybox:1.0
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: main, image: labkit/busybox:1.0, command: ["sleep", "3600"]}
"""


def _require() -> None:
    required = os.environ.get("LABKIT_REQUIRE_DOCKER") == "1"
    missing = []
    if shutil.which("kubectl") is None:
        missing.append("kubectl")
    if os.geteuid() != 0 or shutil.which("iptables-restore") is None:
        missing.append("root with iptables (the proxy programs the host)")
    try:
        import docker

        docker.from_env().images.get("labkit/busybox:1.0")
    except Exception as err:  # no engine, no image: the same skip
        missing.append(f"a Docker engine with labkit/busybox:1.0 ({err})")
    if missing:
        message = "needs " + ", ".join(missing)
        if required:
            pytest.fail(message + " (LABKIT_REQUIRE_DOCKER=1 says the Docker tests must run)")
        pytest.skip(reason=message + " (set LABKIT_REQUIRE_DOCKER=1 to make this a failure)")


def kubectl(home: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
    result = subprocess.run(["kubectl", *args], env=env, input=input, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + (result.stderr if not check else "")


def wait_for(what: str, condition: Callable[[], T | None], timeout: float = 60.0, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def iptables_save() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True, timeout=30).stdout


def in_pod(home: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # Never `wget -T`: busybox 1.35's wget crashes (SIGSEGV) with it; `timeout 5 wget` bounds it instead.
    env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
    return subprocess.run(["kubectl", "exec", "client", "--", *command], env=env, capture_output=True, text=True,
                          timeout=60)


def slice_for(ips: list[str]) -> str:
    return json.dumps({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-manual", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    })


class Lab:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.prefix = chain_prefix(cluster_id(home / "admin.kubeconfig"))
        state = json.loads((home / "run" / "state.json").read_text())
        self.proxy_address = next(c["address"] for c in state["components"] if c["name"] == "proxy")
        self.pod_ips: dict[str, str] = {}
        self.cluster_ip = ""
        self.node_port = 0

    def proxy_status(self) -> dict[str, Any]:
        """The proxy's /status; {} while it does not answer (restarting)."""
        try:
            return httpx.get(f"http://{self.proxy_address}/status", timeout=5).json()
        except httpx.TransportError:
            return {}

    def proxy_pid(self) -> int:
        state = json.loads((self.home / "run" / "state.json").read_text())
        return int(next(c["pid"] for c in state["components"] if c["name"] == "proxy"))

    def our_rules(self) -> list[str]:
        return [line for line in iptables_save().splitlines() if self.prefix in line]

    def web_backends(self, rules: list[str] | None = None) -> set[str]:
        """The pod addresses the rules of Service ``web`` DNAT to."""
        return {r.split("--to-destination ")[1].split(":")[0] for r in (rules or self.our_rules())
                if "--to-destination" in r and "default/web:http" in r}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _require()
    home = tmp_path_factory.mktemp("svc-proxy")
    up = run_labctl(home, "up", "--nodes", "1", "--runtime", "docker", "--port", str(free_port()))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        lab = Lab(home)
        kubectl(home, "apply", "-f", "-", input=PODS)

        def running() -> dict[str, str] | None:
            items = json.loads(kubectl(home, "get", "pods", "-o", "json"))["items"]
            ips = {p["metadata"]["name"]: p["status"].get("podIP") for p in items
                   if p["status"].get("phase") == "Running" and p["status"].get("podIP")}
            return ips if len(ips) == 3 else None

        lab.pod_ips = wait_for("three running pods", running, timeout=120, every=0.5)
        kubectl(home, "create", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))
        kubectl(home, "create", "-f", "-", input=slice_for([lab.pod_ips["web-a"], lab.pod_ips["web-b"]]))
        svc = json.loads(kubectl(home, "get", "svc", "web", "-o", "json"))
        lab.cluster_ip, lab.node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        yield lab
    finally:
        remove_pods(home)
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def remove_pods(home: Path) -> None:
    """Delete the pods and wait until the node agent has removed their containers (`down` keeps them)."""
    if kubectl(home, "delete", "pods", "--all", "--now", "--wait=false", check=False).startswith("error"):
        return  # the lab is down already
    import docker

    engine = docker.from_env()
    label = f"labkit.cluster={cluster_id(home / 'admin.kubeconfig')}"
    wait_for("the pods' containers to be removed",
             lambda: not engine.api.containers(all=True, filters={"label": label}), timeout=60, every=0.5)


def test_the_rules_for_a_service_appear_with_one_dnat_per_endpoint(lab: Lab) -> None:
    a, b = lab.pod_ips["web-a"], lab.pod_ips["web-b"]
    rules = wait_for("the Service's DNAT rules", lambda: (r := lab.our_rules()) and lab.web_backends(r) == {a, b}
                     and r, timeout=15)
    text = "\n".join(rules)
    assert f"-d {lab.cluster_ip}/32" in text and f"--to-destination {a}:8080" in text
    assert f"--to-destination {b}:8080" in text and "--probability 0.5" in text
    assert f"--dport {lab.node_port}" in text
    for hook in ("PREROUTING", "OUTPUT", "POSTROUTING"):
        assert any(line.startswith(f"-A {hook} ") and f"-j {lab.prefix}" in line for line in rules), hook
    status = lab.proxy_status()
    assert status["mode"] == "iptables" and status["prefix"] == lab.prefix and status["last_error"] is None
    assert "applied with iptables-restore" in (lab.home / "run" / "proxy-rules.txt").read_text()


def test_a_pod_reaches_both_endpoints_through_the_cluster_ip(lab: Lab) -> None:
    seen: set[str] = set()
    for _ in range(30):
        result = in_pod(lab.home, "timeout", "5", "wget", "-qO-", f"http://{lab.cluster_ip}:80/")
        assert result.returncode == 0, result.stderr
        seen.add(result.stdout.strip())
        if len(seen) == 2:
            break
    assert seen == {"web-a", "web-b"}


def test_a_pod_finds_the_service_by_name(lab: Lab) -> None:
    lookup = in_pod(lab.home, "nslookup", "web.default.svc.cluster.local")
    assert lookup.returncode == 0 and lab.cluster_ip in lookup.stdout, lookup.stdout + lookup.stderr
    # The short name works through the search path (ndots:5) written by the node agent.
    short = in_pod(lab.home, "timeout", "5", "wget", "-qO-", "http://web/")
    assert short.returncode == 0 and short.stdout.strip() in {"web-a", "web-b"}, short.stderr


def test_a_service_with_a_selector_reaches_every_pod_it_selects_by_name(lab: Lab) -> None:
    # The EndpointSlice controller fills this one; `kubectl expose` would write the same Service.
    kubectl(lab.home, "create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}))
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while seen != {"web-a", "web-b"} and time.monotonic() < deadline:
        result = in_pod(lab.home, "timeout", "5", "wget", "-qO-", "http://shop/")
        if result.returncode == 0:
            seen.add(result.stdout.strip())
        else:
            time.sleep(0.2)  # the slice, the rules or the DNS answer are not there yet
    assert seen == {"web-a", "web-b"}


def test_the_node_port_answers_on_the_host(lab: Lab) -> None:
    bridge = docker_bridge()
    assert bridge is not None
    # From the host, to one of its own addresses: nat OUTPUT -> SERVICES -> NODEPORTS -> EXT -> SVC -> SEP.
    answer = httpx.get(f"http://{bridge.gateway}:{lab.node_port}/", timeout=5)
    assert answer.status_code == 200 and answer.text.strip() in {"web-a", "web-b"}


def test_rules_follow_the_endpoint_slice_and_no_endpoint_rejects(lab: Lab) -> None:
    a = lab.pod_ips["web-a"]
    t0 = time.monotonic()
    kubectl(lab.home, "replace", "-f", "-", input=slice_for([a]))
    wait_for("one DNAT left", lambda: lab.web_backends() == {a}, timeout=5, every=0.05)
    assert time.monotonic() - t0 < 3
    for _ in range(5):
        assert in_pod(lab.home, "timeout", "5", "wget", "-qO-", f"http://{lab.cluster_ip}/").stdout.strip() == "web-a"
    kubectl(lab.home, "replace", "-f", "-", input=slice_for([]))
    wait_for("the REJECT rule", lambda: any("default/web:http has no endpoints" in r and "REJECT" in r for r in lab.our_rules()),
             timeout=5, every=0.05)
    refused = in_pod(lab.home, "timeout", "5", "wget", "-qO-", f"http://{lab.cluster_ip}/")
    assert refused.returncode != 0 and "refused" in refused.stderr.lower(), refused.stderr
    kubectl(lab.home, "replace", "-f", "-", input=slice_for([a, lab.pod_ips["web-b"]]))


def test_a_proxy_killed_with_sigkill_is_restarted_and_removes_stale_chains(lab: Lab) -> None:
    kubectl(lab.home, "create", "service", "clusterip", "gone", "--tcp=81:8080")
    kubectl(lab.home, "create", "-f", "-", input=slice_for([lab.pod_ips["web-a"]]).replace(
        '"web-manual"', '"gone-manual"').replace('"service-name": "web"', '"service-name": "gone"'))
    gone_ip = json.loads(kubectl(lab.home, "get", "svc", "gone", "-o", "json"))["spec"]["clusterIP"]
    wait_for("rules for gone", lambda: any(f"-d {gone_ip}/32" in r for r in lab.our_rules()), timeout=10)
    gone_chains = {r.split()[-1] for r in lab.our_rules()
                   if f"-d {gone_ip}/32" in r and r.startswith(f"-A {lab.prefix}SERVICES")}
    old = lab.proxy_pid()
    os.kill(old, signal.SIGKILL)
    kubectl(lab.home, "delete", "service", "gone")
    kubectl(lab.home, "delete", "endpointslice", "gone-manual")
    assert any(c in r for r in lab.our_rules() for c in gone_chains), "a killed proxy removes nothing"
    wait_for("a restarted proxy", lambda: lab.proxy_pid() != old and lab.proxy_status().get("syncs", 0) >= 1, timeout=60,
             every=0.5)
    rules = lab.our_rules()
    assert not any(c in r for r in rules for c in gone_chains), "the stale chains survived the restart"
    assert lab.web_backends(rules) == {lab.pod_ips["web-a"], lab.pod_ips["web-b"]}
    # One jump per hook, not one more per restart.
    assert sum(r.startswith("-A PREROUTING ") and f"-j {lab.prefix}SERVICES" in r for r in rules) == 1


IN_CLUSTER_CHECK = """
import ssl, urllib.request
ctx = ssl.create_default_context(cafile="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
print(urllib.request.urlopen("https://kubernetes.default.svc/healthz", context=ctx, timeout=5).read().decode())
"""


def test_a_pod_reaches_the_api_server_at_kubernetes_default_svc(lab: Lab) -> None:
    # The `kubernetes` Service's endpoint is the bridge gateway, where the API server also listens
    # (as kube-apiserver's --advertise-address), and never anywhere else than there and loopback.
    bridge = docker_bridge()
    assert bridge is not None
    endpoints = json.loads(kubectl(lab.home, "get", "endpointslice", "kubernetes", "-o", "json"))["endpoints"]
    assert [e["addresses"] for e in endpoints] == [[bridge.gateway]]
    import psutil

    state = json.loads((lab.home / "run" / "state.json").read_text())
    apiserver = psutil.Process(next(c["pid"] for c in state["components"] if c["name"] == "apiserver"))
    listening = {c.laddr.ip for c in apiserver.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1", bridge.gateway}
    # From a pod, through cluster DNS, the proxy's DNAT of the ClusterIP:443 and the serving certificate's
    # in-cluster names, verified with the CA every pod gets (busybox's wget cannot do this TLS).
    kubectl(lab.home, "run", "incluster", "--image=labkit/python-client:1.0", "--image-pull-policy=IfNotPresent",
            "--restart=Never", "--command", "--", "sleep", "600")
    kubectl(lab.home, "wait", "--for=condition=Ready", "pod/incluster", "--timeout=120s")
    answer = kubectl(lab.home, "exec", "incluster", "--", "python3", "-c", IN_CLUSTER_CHECK)
    assert answer.strip() == "ok"


def test_labctl_down_leaves_no_rule_behind(lab: Lab) -> None:
    remove_pods(lab.home)
    down = run_labctl(lab.home, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    dns_chain = "LABDNS-" + lab.prefix.split("-")[1]
    leftovers = [line for line in iptables_save().splitlines() if lab.prefix in line or dns_chain in line]
    assert leftovers == []
