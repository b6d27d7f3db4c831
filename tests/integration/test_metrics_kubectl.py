"""The metrics pipeline on a whole lab, read with the real kubectl and the official Python client.

One lab for the module: `labctl up --nodes 1` (Docker when an engine with labkit/busybox:1.0 answers,
else simulated) with the metrics server scraping every second (LABKIT_METRIC_RESOLUTION=1s), plus a
fleet process of two simulated nodes (sim-1, sim-2) started here, whose pods' usage the tests steer
with the ``sim.labkit.io/cpu-usage`` / ``memory-usage`` annotations (docs/metrics.md).

Path under test: node agent ``/stats/summary`` → metrics server scrape → APIService
``v1beta1.metrics.k8s.io`` → API server authentication, authorization and proxy → kubectl top.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.quantity import cpu_millis
from orchestrator.lab.components import NodeAgent
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome
from tests.labctl import run_labctl

pytestmark = pytest.mark.kubectl

STEERED = """
apiVersion: v1
kind: Pod
metadata:
  name: steered
  labels: {app: steered}
  annotations: {sim.labkit.io/cpu-usage: 250m, sim.labkit.io/memory-usage: 64Mi}
spec:
  nodeName: sim-1
  terminationGracePeriodSeconds: 0
  containers:
  - {name: app, image: "busybox:1.36"}
"""

BUSY = """
apiVersion: v1
kind: Pod
metadata: {name: busy, labels: {app: busy}}
spec:
  nodeName: node-1
  terminationGracePeriodSeconds: 0
  containers:
  - name: loop
    image: labkit/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "while :; do :; done"]
    resources: {limits: {cpu: 300m, memory: 32Mi}}
"""

BAD_APISERVICE = """
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.wrong.example.com}
spec:
  group: custom.example.com
  version: v1
  url: ftp://127.0.0.1:9
"""


@dataclass(frozen=True)
class Lab:
    home: Path
    runtime: str


def docker_ready() -> bool:
    try:
        import docker

        client = docker.from_env()
        try:
            client.images.get("labkit/busybox:1.0")
        finally:
            client.close()
        return True
    except Exception:  # no engine, no image: the lab runs simulated and the Docker test says why
        return False


def kubectl(lab: Lab, *args: str, input: str | None = None, check: bool = True, user: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    config = lab.home / "admin.kubeconfig" if user is None else lab.home / "kubeconfigs" / f"{user}.kubeconfig"
    env = dict(os.environ, KUBECONFIG=str(config), HOME=str(lab.home / f"home-{user or 'admin'}"))
    result = subprocess.run(["kubectl", *args], env=env, input=input, capture_output=True, text=True,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def wait_for(what: str, probe: Any, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def top_row(lab: Lab, *args: str, name: str) -> list[str] | None:
    """The row of `name` in `kubectl top ARGS`, or None while it has no metrics yet."""
    result = kubectl(lab, "top", *args, check=False)
    if result.returncode != 0:
        return None
    return next((line.split() for line in result.stdout.splitlines() if name in line.split()), None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if shutil.which("kubectl") is None:
        if os.environ.get("LABKIT_REQUIRE_KUBECTL") == "1":
            pytest.fail("kubectl is not installed, and LABKIT_REQUIRE_KUBECTL=1 says this test must run")
        pytest.skip(reason="kubectl is not installed (set LABKIT_REQUIRE_KUBECTL=1 to make this a failure)")
    home = tmp_path_factory.mktemp("metrics")
    runtime = "docker" if docker_ready() else "simulated"
    up = run_labctl(home, "up", "--nodes", "1", "--runtime", runtime, "--port", str(free_port()),
                    env={"LABKIT_METRIC_RESOLUTION": "1s"})
    fleet: subprocess.Popen[bytes] | None = None
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        # Two more nodes, simulated, in one fleet process (what `labctl up` runs for big labs):
        # the metrics server scrapes them at their shared port, naming each with ?node=.
        with open(home / "fleet.log", "wb") as log:
            # HTTPS with a lab-CA certificate, as `labctl up` starts node agents: the metrics server
            # scrapes them over TLS checked against the lab CA.
            fleet = subprocess.Popen(
                NodeAgent(runtime="simulated", count=2, name_prefix="sim-",
                          kubeconfig=home / "kubeconfigs" / "controller-manager.kubeconfig",
                          apiserver_token_file=home / "pki" / "kubelet-client.token", log_port=0,
                          log_bind="127.0.0.1", cpu="4", memory="8Gi",
                          **NodeAgent.tls_for(LabHome(home), "fleet-sim")).argv(),
                stdout=log, stderr=subprocess.STDOUT)
        lab = Lab(home, runtime)
        wait_for("the simulated nodes to be Ready", lambda: kubectl(
            lab, "wait", "--for=condition=Ready", "node/sim-1", "node/sim-2", "--timeout=5s", check=False
        ).returncode == 0)
        yield lab
    finally:
        if fleet is not None:
            fleet.send_signal(signal.SIGTERM)
            try:
                fleet.wait(timeout=15)
            except subprocess.TimeoutExpired:
                fleet.kill()
                fleet.wait()
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def test_the_apiservice_is_available_and_discovery_lists_the_metrics_group(lab: Lab) -> None:
    table = kubectl(lab, "get", "apiservices").stdout.splitlines()
    assert table[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    row = next(line.split() for line in table[1:] if line.startswith("v1beta1.metrics.k8s.io"))
    assert row[1].startswith("http://127.0.0.1:") and row[2] == "True"
    condition = json.loads(kubectl(lab, "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json").stdout)[
        "status"]["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Available", "True", "Passed")
    resources = kubectl(lab, "api-resources", "--api-group=metrics.k8s.io").stdout
    assert "NodeMetrics" in resources and "PodMetrics" in resources


def test_kubectl_top_shows_a_pod_s_steered_usage_and_follows_a_change(lab: Lab) -> None:
    kubectl(lab, "apply", "-f", "-", input=STEERED)
    row = wait_for("kubectl top pod steered", lambda: top_row(lab, "pods", name="steered"))
    assert row == ["steered", "250m", "64Mi"]
    kubectl(lab, "annotate", "pod", "steered", "--overwrite", "sim.labkit.io/cpu-usage=750m")
    wait_for("the new usage", lambda: top_row(lab, "pods", name="steered") == ["steered", "750m", "64Mi"])
    everywhere = kubectl(lab, "top", "pods", "-A").stdout.splitlines()
    assert everywhere[0].split() == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert ["default", "steered", "750m", "64Mi"] in [line.split() for line in everywhere]
    containers = kubectl(lab, "top", "pods", "--containers").stdout.splitlines()
    assert ["steered", "app", "750m", "64Mi"] in [line.split() for line in containers]
    # sim-1 runs only this pod, so its usage is the pod's: 750m of its 4 CPUs.
    node = wait_for("kubectl top node sim-1", lambda: (r := top_row(lab, "nodes", name="sim-1")) and r[1] == "750m"
                    and r)
    assert node[2] == "18%"
    selected = kubectl(lab, "top", "pods", "-l", "app=nothing-has-this", check=False)
    assert "No resources found" in selected.stdout + selected.stderr


def test_the_python_client_reads_pod_metrics_with_custom_objects_api(lab: Lab) -> None:
    from kubernetes import client, config

    kubectl(lab, "apply", "-f", "-", input=STEERED)
    wait_for("metrics of steered", lambda: top_row(lab, "pods", name="steered"))
    api = client.CustomObjectsApi(config.new_client_from_config(str(lab.home / "admin.kubeconfig")))
    listed = api.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods",
                                               label_selector="app=steered")
    assert listed["kind"] == "PodMetricsList" and [i["metadata"]["name"] for i in listed["items"]] == ["steered"]
    one = api.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods", "steered")
    assert one["metadata"]["labels"] == {"app": "steered"}
    assert one["metadata"]["annotations"]["metrics.labkit.io/source"] == "simulated"
    assert cpu_millis(one["containers"][0]["usage"]["cpu"]) in (250, 750)
    nodes = api.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert {"sim-1", "sim-2"} <= {i["metadata"]["name"] for i in nodes["items"]}


def test_a_viewer_reads_metrics_and_nobody_reaches_them_around_the_api_server(lab: Lab) -> None:
    kubectl(lab, "apply", "-f", "-", input=STEERED)
    wait_for("the viewer's kubectl top", lambda: top_row(lab, "pods", name="steered"))
    assert "steered" in kubectl(lab, "top", "pods", user="viewer").stdout  # view aggregates metrics reading
    refused = kubectl(lab, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", check=False,
                      user="kube-proxy")
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower()
    server = json.loads(kubectl(lab, "config", "view", "--raw", "-o", "json").stdout)["clusters"][0]["cluster"]["server"]
    anonymous = httpx.get(f"{server}/apis/metrics.k8s.io/v1beta1/pods",
                          verify=ssl.create_default_context(cafile=str(lab.home / "pki" / "ca.crt")))
    assert anonymous.status_code == 401
    # The metrics server itself answers only the API server's front-proxy token.
    url = json.loads(kubectl(lab, "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json").stdout)["spec"]["url"]
    direct = httpx.get(f"{url}/apis/metrics.k8s.io/v1beta1/pods",
                       headers={"X-Remote-User": "admin", "X-Remote-Group": "system:masters"})
    assert direct.status_code == 401


def test_a_bad_apiservice_is_refused_naming_each_field(lab: Lab) -> None:
    bad = kubectl(lab, "apply", "-f", "-", input=BAD_APISERVICE, check=False)
    assert bad.returncode != 0
    for field in ("metadata.name", "spec.groupPriorityMinimum", "spec.versionPriority", "spec.url"):
        assert field in bad.stderr, bad.stderr
    assert "v1.custom.example.com" in bad.stderr  # what the name should be


@pytest.mark.docker
def test_a_busy_container_on_docker_shows_cpu_in_kubectl_top(lab: Lab) -> None:
    if lab.runtime != "docker":
        if os.environ.get("LABKIT_REQUIRE_DOCKER") == "1":
            pytest.fail("no Docker engine with labkit/busybox:1.0, and LABKIT_REQUIRE_DOCKER=1 says this must run")
        pytest.skip(reason="no Docker engine with labkit/busybox:1.0 (set LABKIT_REQUIRE_DOCKER=1 to make this "
                           "a failure)")
    kubectl(lab, "apply", "-f", "-", input=BUSY)
    try:
        row = wait_for("a busy loop's CPU in kubectl top", lambda: (r := top_row(lab, "pods", name="busy"))
                       and cpu_millis(r[1]) >= 50 and r, timeout=60)
        assert cpu_millis(row[1]) <= 400  # its 300m CPU limit (Docker's CPU quota), with a sample's jitter
        pod = json.loads(kubectl(lab, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy").stdout)
        assert pod["metadata"]["annotations"]["metrics.labkit.io/source"] == "docker"
        node = wait_for("node-1's metrics", lambda: top_row(lab, "nodes", name="node-1"))
        assert cpu_millis(node[1]) >= 50
    finally:
        kubectl(lab, "delete", "pod", "busy", "--grace-period=0", "--wait=false", check=False)


MISSING_SERVICE = """
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.nothing.example.com}
spec:
  group: nothing.example.com
  version: v1
  service: {namespace: default, name: absent}
  groupPriorityMinimum: 100
  versionPriority: 10
"""


def test_an_apiservice_whose_service_is_missing_is_unavailable_and_its_group_answers_503(lab: Lab) -> None:
    kubectl(lab, "apply", "-f", "-", input=MISSING_SERVICE)
    try:
        def condition() -> dict[str, Any] | None:
            obj = json.loads(kubectl(lab, "get", "apiservice", "v1.nothing.example.com", "-o", "json").stdout)
            return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Available"),
                        None)

        available = wait_for("the Available condition", condition, timeout=20)
        assert (available["status"], available["reason"]) == ("False", "ServiceNotFound")
        assert "service/absent" in available["message"]
        row = next(line for line in kubectl(lab, "get", "apiservices").stdout.splitlines()
                   if line.startswith("v1.nothing.example.com"))
        assert "False (ServiceNotFound)" in row and "default/absent" in row
        answer = kubectl(lab, "get", "--raw", "/apis/nothing.example.com/v1/things", check=False)
        assert answer.returncode != 0 and "unable to handle the request" in answer.stderr
    finally:
        kubectl(lab, "delete", "apiservice", "v1.nothing.example.com", check=False)
