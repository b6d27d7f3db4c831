"""DaemonSets on a whole lab (`labctl up`: API server, scheduler, controller manager, three
simulated nodes), driven with the real kubectl: one pod per node placed by the scheduler through
``matchFields metadata.name``, a node that goes loses its pod and one that comes gets one, a
nodeSelector and a taint choose the nodes, a rolling update replaces every pod with at most
``maxUnavailable`` node without a ready pod while `kubectl rollout status ds/NAME` waits, and bad
input is a 422 naming the field.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch

from tests.labctl import run_labctl, simulated_lab
from tests.support.kubectl import kubectl, kubectl_get
from tests.support.polling import wait_until

pytestmark = pytest.mark.kubectl

NODES = {"node-1", "node-2", "node-3"}


def daemonset(name: str, *, image: str = "busybox:1.36", min_ready: int = 0, **pod_spec: Any) -> str:
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "minReadySeconds": min_ready,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "main", "image": image}], **pod_spec}}}}
    return json.dumps(body)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with simulated_lab(tmp_path_factory, "daemonsets", nodes=3) as home:
        yield home


def pods(home: Path, app: str) -> list[dict[str, Any]]:
    return [p for p in kubectl_get(home, "pods", "-l", f"app={app}")["items"] if not p["metadata"].get("deletionTimestamp")]


def nodes_of(home: Path, app: str) -> list[str]:
    return sorted(p["spec"].get("nodeName") or "" for p in pods(home, app))


def test_one_pod_per_node_a_deleted_node_loses_it_and_a_new_node_gets_one(lab: Path) -> None:
    kubectl(lab, "apply", "-f", "-", input=daemonset("agent"))
    done = kubectl(lab, "rollout", "status", "ds/agent", "--timeout=60s")
    assert 'daemon set "agent" successfully rolled out' in done.stdout
    assert nodes_of(lab, "agent") == sorted(NODES)
    pod = pods(lab, "agent")[0]
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                            "values": [pod["spec"]["nodeName"]]}]}]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    table = kubectl(lab, "get", "ds").stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR",
                                "AGE"]
    assert table[1].split()[:7] == ["agent", "3", "3", "3", "3", "3", "<none>"]
    described = kubectl(lab, "describe", "ds", "agent").stdout
    assert "Desired Number of Nodes Scheduled: 3" in described and "3 Running" in described

    # node-3 goes away: its agent stops and its Node is deleted; the pod garbage collector
    # removes the pod bound to it and the DaemonSet wants 2.
    assert run_labctl(lab, "stop", "node-3").returncode == 0
    kubectl(lab, "delete", "node", "node-3")
    wait_until("node-3's daemon pod gone", lambda: nodes_of(lab, "agent") == ["node-1", "node-2"], timeout=60)
    wait_until("desired 2", lambda: kubectl_get(lab, "ds/agent")["status"]["desiredNumberScheduled"] == 2)
    # It comes back (registers again): it gets its pod.
    assert run_labctl(lab, "start", "node-3").returncode == 0
    wait_until("node-3's new daemon pod", lambda: nodes_of(lab, "agent") == sorted(NODES), timeout=60)
    kubectl(lab, "rollout", "status", "ds/agent", "--timeout=60s")


def test_a_node_selector_and_a_taint_choose_the_nodes(lab: Path) -> None:
    kubectl(lab, "label", "node", "node-1", "node-2", "role=edge")
    kubectl(lab, "taint", "node", "node-2", "dedicated=db:NoSchedule")
    try:
        kubectl(lab, "apply", "-f", "-", input=daemonset("edge", nodeSelector={"role": "edge"}))
        kubectl(lab, "apply", "-f", "-", input=daemonset(
            "edge-tolerant", nodeSelector={"role": "edge"},
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]))
        kubectl(lab, "rollout", "status", "ds/edge", "--timeout=60s")
        kubectl(lab, "rollout", "status", "ds/edge-tolerant", "--timeout=60s")
        assert nodes_of(lab, "edge") == ["node-1"]  # node-2 is tainted, node-3 not labelled
        assert nodes_of(lab, "edge-tolerant") == ["node-1", "node-2"]
        row = kubectl(lab, "get", "ds", "edge").stdout.splitlines()[1].split()
        assert row[:7] == ["edge", "1", "1", "1", "1", "1", "role=edge"]
        # NoSchedule keeps new pods away but leaves running ones: "agent" keeps its pod on node-2.
        assert "node-2" in nodes_of(lab, "agent")
        kubectl(lab, "delete", "ds", "edge", "edge-tolerant")
        wait_until("the DaemonSets' pods gone (garbage collector)",
                   lambda: not pods(lab, "edge") and not pods(lab, "edge-tolerant"))
    finally:
        kubectl(lab, "taint", "node", "node-2", "dedicated-", check=False)
        kubectl(lab, "label", "node", "node-1", "node-2", "role-", check=False)


class PodWatch:
    """Follows the pods of one app through a watch and records, after every event, how many
    nodes had no ready pod that is not being deleted."""

    def __init__(self, home: Path, app: str) -> None:
        api = client.CoreV1Api(config.new_client_from_config(str(home / "admin.kubeconfig")))
        self.pods: dict[str, Any] = {}  # name -> V1Pod
        self.worst = 0
        self.error: Exception | None = None
        self._stopped = threading.Event()
        self.timeline: list[str] = []
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(api, app), daemon=True)
        self._thread.start()

    def _run(self, api: client.CoreV1Api, app: str) -> None:
        resource_version: str | None = None
        while not self._stopped.is_set():
            try:
                resource_version = self._follow(api, app, resource_version)
            except urllib3.exceptions.ProtocolError:
                continue  # the stream was cut: resume from the last resourceVersion, nothing is lost
            except Exception as err:  # noqa: BLE001 - reported by the test, not lost in a thread
                self.error = err
                return

    def _follow(self, api: client.CoreV1Api, app: str, resource_version: str | None) -> str | None:
        kwargs = {"resource_version": resource_version} if resource_version else {}
        for event in self._watch.stream(api.list_namespaced_pod, "default", label_selector=f"app={app}",
                                        timeout_seconds=120, **kwargs):
            pod = event["object"]
            resource_version = pod.metadata.resource_version
            if event["type"] == "DELETED":
                self.pods.pop(pod.metadata.name, None)
            else:
                self.pods[pod.metadata.name] = pod
            up = {p.spec.node_name for p in self.pods.values()
                  if p.metadata.deletion_timestamp is None and any(
                      c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))}
            self.worst = max(self.worst, len(NODES - up))
            self.timeline.append(f"{event['type']} {pod.metadata.name} {pod.spec.node_name} "
                                 f"deleting={pod.metadata.deletion_timestamp is not None} down={sorted(NODES - up)}")
        return resource_version

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()
        self._thread.join(timeout=10)


def test_a_rolling_update_replaces_every_pod_at_most_max_unavailable_at_a_time(lab: Path) -> None:
    kubectl(lab, "apply", "-f", "-", input=daemonset("roll", min_ready=1))
    kubectl(lab, "rollout", "status", "ds/roll", "--timeout=60s")
    before = {p["metadata"]["name"] for p in pods(lab, "roll")}
    watcher = PodWatch(lab, "roll")
    try:
        wait_until("the watch to list the pods", lambda: len(watcher.pods) == 3)
        watcher.worst = 0  # the initial ADDED events, one pod at a time, are not an outage
        watcher.timeline.clear()
        kubectl(lab, "set", "image", "ds/roll", "main=busybox:1.37")
        done = kubectl(lab, "rollout", "status", "ds/roll", "--timeout=90s", timeout=120)
        assert 'daemon set "roll" successfully rolled out' in done.stdout
        assert "out of 3 new pods have been updated" in done.stdout  # it waited, one node at a time
    finally:
        watcher.stop()
    after = pods(lab, "roll")
    assert sorted(p["spec"]["nodeName"] for p in after) == sorted(NODES)
    assert not before & {p["metadata"]["name"] for p in after}
    assert {p["spec"]["containers"][0]["image"] for p in after} == {"busybox:1.37"}
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in after} == {"2"}
    assert watcher.error is None, watcher.error
    assert watcher.worst == 1, "\n".join(watcher.timeline)  # maxUnavailable 1: never two nodes without a ready pod
    status = kubectl_get(lab, "ds/roll")["status"]
    assert status["updatedNumberScheduled"] == status["numberAvailable"] == 3
    assert status["observedGeneration"] == 2
    # Each template is a ControllerRevision named after the pods' controller-revision-hash.
    history = kubectl(lab, "rollout", "history", "ds/roll").stdout.split()
    assert history[-6:] == ["REVISION", "CHANGE-CAUSE", "1", "<none>", "2", "<none>"], history
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in after}
    revisions = {r["metadata"]["name"]: r["revision"] for r in kubectl_get(lab, "controllerrevisions")["items"]
                 if r["metadata"]["ownerReferences"][0]["name"] == "roll"}
    assert revisions[f"roll-{hashes.pop()}"] == 2 and len(revisions) == 2
    kubectl(lab, "delete", "ds", "roll")


def test_bad_input_is_a_422_naming_the_field(lab: Path) -> None:
    body = json.loads(daemonset("bad"))
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    result = kubectl(lab, "apply", "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert 'The DaemonSet "bad" is invalid' in result.stderr
    assert "spec.template.metadata.labels: Invalid value" in result.stderr
    never = json.loads(daemonset("bad", restartPolicy="Never"))
    result = kubectl(lab, "apply", "-f", "-", input=json.dumps(never), check=False)
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Never"' in result.stderr
    surge = json.loads(daemonset("bad"))
    surge["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}
    result = kubectl(lab, "apply", "-f", "-", input=json.dumps(surge), check=False)
    assert "spec.updateStrategy.rollingUpdate.maxUnavailable" in result.stderr
