"""labctl's everyday verbs against a live lab (`labctl up --nodes 1 --runtime simulated`): each verb's
output is checked against what the API server holds, and bad input to every verb is one error line.

The verbs run in-process through Typer's CliRunner (each subprocess would pay the import time
again), which fails the test if any exception escapes a command; a few bad-input cases and the
Ctrl-C of a watch also run as real subprocesses, so exit code and stderr are those a user sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.client.rest import ApiClient
from orchestrator.lab.embedded.ports import free_port
from tests.support.polling import wait_until as _wait_until

T = TypeVar("T")

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  minReadySeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: "busybox:1.36", command: ["sleep", "3600"]}
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "KUBECONFIG")}
    env.update({"LABKIT_HOME": str(home), "COLUMNS": "200"})
    return env


def _subprocess(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=_env(home),
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Lab:
    home: Path

    def labctl(self, *args: str, input: str | None = None) -> Result:
        result = CliRunner().invoke(app, list(args), env=_env(self.home), input=input, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"labctl {' '.join(args)} raised {result.exception!r}") from result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.labctl(*args, input=input)
        assert result.code == 0, f"labctl {' '.join(args)} exited {result.code}:\n{result.out}\n{result.err}"
        return result.out

    def api(self, call: Callable[[ApiClient], Any]) -> Any:
        async def main() -> Any:
            async with ApiClient.from_kubeconfig(self.home / "admin.kubeconfig") as client:
                return await call(client)

        return asyncio.run(main())

    def pods(self, selector: str = "app=web") -> list[dict[str, Any]]:
        items = self.api(lambda c: c.list("pods", namespace="default", label_selector=selector))["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def wait_until(what: str, condition: Callable[[], T], timeout: float = 90) -> T:
    return _wait_until(what, condition, timeout=timeout)  # labctl verbs are slower: a longer default


def rows(table: str) -> list[list[str]]:
    """A printed table split into cells (columns are at least three spaces apart)."""
    return [re.split(r"\s{3,}", line.strip()) for line in table.strip().splitlines()]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("verbs")
    up = _subprocess(home, "up", "--nodes", "1", "--runtime", "simulated", "--port", str(free_port()))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        lab = Lab(home)
        manifest = home / "web.yaml"
        manifest.write_text(WEB)
        assert lab.ok("apply", "-f", str(manifest)).strip() == "deployment.apps/web created"
        status = lab.ok("rollout", "status", "deploy/web", "--timeout", "90")
        assert 'Waiting for deployment "web" rollout to finish' in status, status
        assert status.strip().splitlines()[-1] == 'deployment "web" successfully rolled out'
        wait_until("3 running pods", lambda: len([p for p in lab.pods() if p["status"].get("phase") == "Running"]) == 3)
        yield lab
    finally:
        down = _subprocess(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


# --- get -----------------------------------------------------------------------------------------


def test_get_pods_prints_kubectl_columns_with_the_clusters_pods(lab: Lab) -> None:
    table = rows(lab.ok("get", "pods", "-l", "app=web"))
    assert table[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert {r[0] for r in table[1:]} == {p["metadata"]["name"] for p in lab.pods()}
    assert all(r[1:4] == ["1/1", "Running", "0"] for r in table[1:]), table

    wide = rows(lab.ok("get", "po", "-o", "wide", "-l", "app=web"))
    assert wide[0][5:7] == ["IP", "NODE"]
    by_name = {p["metadata"]["name"]: p for p in lab.pods()}
    for r in wide[1:]:
        assert r[5] == by_name[r[0]]["status"]["podIP"] and r[6] == "node-1"

    everywhere = rows(lab.ok("get", "pods", "-A"))
    assert everywhere[0][:2] == ["NAMESPACE", "NAME"]
    assert {(r[0], r[1]) for r in everywhere[1:]} >= {("default", name) for name in by_name}


def test_get_nodes_deployments_replicasets_events_and_namespaces(lab: Lab) -> None:
    nodes = rows(lab.ok("get", "nodes"))
    assert nodes[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1][:3] == ["node-1", "Ready", "<none>"]

    deployments = rows(lab.ok("get", "deploy"))
    assert deployments[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert ["web", "3/3", "3", "3"] in [r[:4] for r in deployments[1:]]

    replicasets = rows(lab.ok("get", "rs"))
    assert replicasets[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    rs_names = {rs["metadata"]["name"] for rs in
                lab.api(lambda c: c.list("replicasets.apps", namespace="default"))["items"]}
    assert {r[0] for r in replicasets[1:]} == rs_names

    events = lab.ok("get", "ev")
    assert rows(events)[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert re.search(r"Normal\s+Scheduled\s+pod/web-\S+\s+Successfully assigned default/web-", events), events

    assert {r[0] for r in rows(lab.ok("get", "namespaces"))[1:]} >= {"default", "kube-system"}

    both = rows(lab.ok("get", "deploy,rs"))
    assert any(r[0] == "deployment.apps/web" for r in both)
    assert any(r[0].startswith("replicaset.apps/web-") for r in both)


def test_get_yaml_and_json_print_the_objects_the_api_serves(lab: Lab) -> None:
    import yaml

    live = lab.api(lambda c: c.get("deployments.apps", "web", namespace="default"))
    as_yaml = yaml.safe_load(lab.ok("get", "deploy", "web", "-o", "yaml"))
    assert as_yaml["metadata"]["uid"] == live["metadata"]["uid"]
    assert as_yaml["spec"] == live["spec"] and as_yaml["kind"] == "Deployment"

    listed = json.loads(lab.ok("get", "pods", "-l", "app=web", "-o", "json"))
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    assert {p["metadata"]["uid"] for p in listed["items"]} == {p["metadata"]["uid"] for p in lab.pods()}
    assert all(p["kind"] == "Pod" for p in listed["items"])

    names = lab.ok("get", "pods", "-l", "app=web", "-o", "name").split()
    assert sorted(names) == sorted(f"pod/{p['metadata']['name']}" for p in lab.pods())


def test_get_a_named_object_and_a_missing_one(lab: Lab) -> None:
    name = lab.pods()[0]["metadata"]["name"]
    table = rows(lab.ok("get", "pod", name))
    assert [r[0] for r in table] == ["NAME", name]
    missing = lab.labctl("get", "pods", name, "nope")
    assert missing.code == 1 and name in missing.out
    assert missing.err.strip() == 'error: pods "nope" not found'


def test_get_watch_prints_changes_until_ctrl_c(lab: Lab) -> None:
    pod = lab.api(lambda c: c.create("pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "watched", "labels": {"app": "watched"}},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}},
        namespace="default"))
    wait_until("the pod to run", lambda: lab.pods("app=watched") and
               lab.pods("app=watched")[0]["status"].get("phase") == "Running")
    watcher = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "get", "pods", "-l", "app=watched",
                                "-w"], env=_env(lab.home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # A shell that ran the suite in the background (`make test &`) left SIGINT
                               # ignored, and children inherit that: give the watcher a real Ctrl-C.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # A watch that never prints what is awaited must fail the test, not hang it: readline then sees EOF.
    guard = threading.Timer(120, watcher.kill)
    guard.start()
    try:
        assert watcher.stdout is not None
        lines = [watcher.stdout.readline() for _ in range(2)]  # the header and the running pod
        assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert lines[1].split()[:3] == ["watched", "1/1", "Running"]
        deleted = lab.ok("delete", "pod", "watched")
        assert deleted.strip() == 'pod "watched" deleted'
        seen = []
        while not any("Terminating" in line for line in seen):
            line = watcher.stdout.readline()
            assert line, f"the watch ended early: {seen}"
            seen.append(line)
        assert seen[-1].split()[0] == pod["metadata"]["name"]
    finally:
        guard.cancel()
        watcher.send_signal(signal.SIGINT)
        _, stderr = watcher.communicate(timeout=30)
    assert watcher.returncode == 130
    assert "Traceback" not in stderr, stderr


# --- apply and delete ----------------------------------------------------------------------------


def test_apply_creates_configures_and_leaves_unchanged(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "1-namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    (tmp_path / "2-pods.yaml").write_text("\n---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {{app: shop, tier: fe}}}}\n"
        "spec:\n  terminationGracePeriodSeconds: 1\n"
        "  containers: [{name: main, image: 'busybox:1.36', command: [sleep, '3600']}]\n" for name in ("a", "b")))
    (tmp_path / "3-pod.json").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c", "namespace": "shop"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}))
    (tmp_path / "README.md").write_text("not a manifest")
    assert lab.ok("apply", "-f", str(tmp_path)).splitlines() == [
        "namespace/shop created", "pod/a created", "pod/b created", "pod/c created"]
    assert lab.ok("apply", "-f", str(tmp_path)).splitlines() == [
        "namespace/shop unchanged", "pod/a unchanged", "pod/b unchanged", "pod/c unchanged"]

    relabelled = (tmp_path / "2-pods.yaml").read_text().replace("tier: fe", "tier: be")
    assert lab.ok("apply", "-f", "-", input=relabelled).splitlines() == ["pod/a configured", "pod/b configured"]
    pod = lab.api(lambda c: c.get("pods", "a", namespace="shop"))
    assert pod["metadata"]["labels"] == {"app": "shop", "tier": "be"}

    deleted = lab.ok("delete", "-f", str(tmp_path / "3-pod.json"), "--wait")
    assert deleted.strip() == 'pod "c" deleted'
    assert lab.ok("delete", "pods", "-l", "app=shop", "-n", "shop").splitlines() == [
        'pod "a" deleted', 'pod "b" deleted']
    assert lab.api(lambda c: c.list("pods", namespace="shop"))["items"] == []


# --- describe ------------------------------------------------------------------------------------


def test_describe_a_deployment_and_a_pod_with_their_events(lab: Lab) -> None:
    text = lab.ok("describe", "deploy", "web")
    assert re.search(r"^Name:\s+web$", text, re.M) and re.search(r"^Namespace:\s+default$", text, re.M)
    assert re.search(r"^Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable$", text, re.M)
    assert re.search(r"^  Available\s+True\s+MinimumReplicasAvailable$", text, re.M), text
    assert re.search(r"^NewReplicaSet:\s+web-\S+ \(3/3 replicas created\)$", text, re.M), text
    assert re.search(r"^  Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set web-",
                     text, re.M), text

    pod = lab.pods()[0]
    text = lab.ok("describe", f"pod/{pod['metadata']['name']}")
    assert re.search(r"^Node:\s+node-1/", text, re.M)
    assert re.search(r"^Controlled By:\s+ReplicaSet/web-", text, re.M)
    assert re.search(r"^    State:\s+Running$", text, re.M) and re.search(r"^    Image:\s+busybox:1\.36$", text, re.M)
    assert re.search(r"^  Ready\s+True$", text, re.M)
    assert re.search(r"^  Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned "
                     f"default/{pod['metadata']['name']} to node-1$", text, re.M), text

    node = lab.ok("describe", "node", "node-1")
    assert re.search(r"^  Ready\s+True\s+", node, re.M) and f"{pod['metadata']['name']}" in node


# --- logs ----------------------------------------------------------------------------------------


def test_logs_of_a_pod_and_of_a_lab_component(lab: Lab) -> None:
    name = lab.pods()[0]["metadata"]["name"]
    expected = lab.api(lambda c: c.get_log("default", name))
    assert expected.strip(), "the simulated runtime writes a log"
    assert lab.ok("logs", name) == expected
    assert lab.ok("logs", name, "--tail", "1").strip() == expected.strip().splitlines()[-1]
    wrong = lab.labctl("logs", name, "-c", "nope")
    assert wrong.code == 1 and wrong.err.strip() == (
        f"error: container 'nope' is not in pod '{name}'; its containers: main")

    log_file = lab.home / "logs" / "apiserver.log"
    tail = lab.ok("logs", "--component", "apiserver", "--tail", "3").splitlines()
    assert len(tail) == 3 and all(line in log_file.read_text().splitlines() for line in tail)
    unknown = lab.labctl("logs", "--component", "apiservr")
    assert unknown.code == 1
    assert re.fullmatch(r"error: unknown component 'apiservr'; components with a log: .*apiserver.*scheduler.*\n",
                        unknown.err), unknown.err


# --- scale and rollout ---------------------------------------------------------------------------


def test_scale_then_roll_out_a_new_image_and_undo_it(lab: Lab) -> None:
    assert lab.ok("scale", "deploy/web", "--replicas", "2").strip() == "deployment.apps/web scaled"
    wait_until("2 pods", lambda: len(lab.pods()) == 2)
    assert lab.ok("scale", "deploy", "web", "--replicas", "3").strip() == "deployment.apps/web scaled"

    updated = lab.home / "web-1.37.yaml"
    # minReadySeconds 0 from now on: the two rollouts below need not wait 2 s per pod.
    updated.write_text(WEB.replace("busybox:1.36", "busybox:1.37").replace("minReadySeconds: 2", "minReadySeconds: 0"))
    assert lab.ok("apply", "-f", str(updated)).strip() == "deployment.apps/web configured"
    status = lab.ok("rollout", "status", "deploy/web", "--timeout", "90")
    assert status.strip().splitlines()[-1] == 'deployment "web" successfully rolled out'

    def image() -> str:
        d = lab.api(lambda c: c.get("deployments.apps", "web", namespace="default"))
        return str(d["spec"]["template"]["spec"]["containers"][0]["image"])

    assert image() == "busybox:1.37"
    history = rows(lab.ok("rollout", "history", "deploy/web"))
    assert history[1] == ["REVISION", "CHANGE-CAUSE"] and [r[0] for r in history[2:]] == ["1", "2"]

    assert lab.ok("rollout", "undo", "deploy/web").strip() == "deployment.apps/web rolled back"
    assert image() == "busybox:1.36"
    lab.ok("rollout", "status", "deploy/web", "--timeout", "90")
    wait_until("all pods back on busybox:1.36", lambda: {c["image"] for p in lab.pods()
                                                        for c in p["spec"]["containers"]} == {"busybox:1.36"})
    assert lab.ok("rollout", "undo", "deploy/web", "--to-revision", "3").strip() == (
        "deployment.apps/web skipped rollback (current template already matches revision 3)")


# --- bad input -----------------------------------------------------------------------------------


def test_bad_input_to_every_verb_is_one_error_line_and_exit_1(lab: Lab, tmp_path: Path) -> None:
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [broken\n")
    unknown_kind = tmp_path / "ingress.yaml"
    unknown_kind.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: s}\n")
    no_lab = tmp_path / "no-lab"
    no_lab.mkdir()
    cases: list[tuple[tuple[str, ...], str, Path]] = [
        (("apply", "-f", str(tmp_path / "missing.yaml")), "missing.yaml: no such file or directory", lab.home),
        (("apply", "-f", str(invalid)), r"invalid.yaml line \d: invalid YAML", lab.home),
        (("apply", "-f", str(unknown_kind)), "does not serve kind 'Ingress'", lab.home),
        (("delete", "-f", str(invalid)), r"invalid.yaml line \d: invalid YAML", lab.home),
        (("get", "pdos"), "unknown resource type 'pdos'; did you mean pods\\?", lab.home),
        (("describe", "deploymnet", "web"), "did you mean deployments\\?", lab.home),
        (("get", "pods", "-o", "table2"), "unknown -o 'table2'", lab.home),
        (("get", "pods", "nope"), 'pods "nope" not found', lab.home),
        (("describe", "deploy", "nope"), 'deployments.apps "nope" not found', lab.home),
        (("delete", "pod", "nope"), 'pods "nope" not found', lab.home),
        (("logs", "nope"), 'pods "nope" not found', lab.home),
        (("scale", "deploy/nope", "--replicas", "1"), 'deployments.apps "nope" not found', lab.home),
        (("scale", "pod/x", "--replicas", "1"), "cannot scale pods", lab.home),
        (("rollout", "status", "deploy/nope"), 'deployments.apps "nope" not found', lab.home),
        (("rollout", "undo", "deploy/web", "--to-revision", "99"), "unable to find revision 99", lab.home),
        (("logs", "--component", "nope"), "unknown component 'nope'", lab.home),
        (("get", "pods"), "run `labctl up` first", no_lab),
    ]
    for args, pattern, home in cases:
        result = Lab(home).labctl(*args)  # raises if a command let an exception escape
        what = f"labctl {' '.join(args)}: exit {result.code}, stderr {result.err!r}"
        assert result.code == 1, what
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), what
        assert re.search(pattern, lines[0]), what


@pytest.mark.parametrize(("args", "message"), [
    (("get", "pdos"), "error: unknown resource type 'pdos'; did you mean pods?"),
    (("describe", "pods", "nope"), 'error: pods "nope" not found'),
])
def test_a_real_labctl_process_prints_one_line_and_no_traceback(lab: Lab, args: tuple[str, ...], message: str) -> None:
    result = _subprocess(lab.home, *args, timeout=300)
    assert result.returncode == 1 and result.stderr.strip() == message, result.stderr
