"""The whole cluster as `labctl up` starts it — API server, relay, scheduler, controller manager and
simulated node agents, each its own process — driven with the real kubectl like a Kubernetes user
would: a Deployment is applied, scheduled, run, scaled, healed, rolled out and deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labctl import run_labctl, simulated_lab
from tests.support.kubectl import kubectl, kubectl_get
from tests.support.polling import wait_until

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: "busybox:1.36", command: ["sleep", "3600"]}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with simulated_lab(tmp_path_factory, "e2e", nodes=2) as home:
        yield home


def pods(home: Path) -> list[dict]:
    return kubectl_get(home, "pods", "-l", "app=web")["items"]


def running(items: list[dict]) -> list[dict]:
    return [p for p in items if (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def test_a_deployment_is_scheduled_run_scaled_healed_rolled_out_and_deleted(cluster: Path) -> None:
    home = cluster
    status = run_labctl(home, "status").stdout
    for component in ("apiserver", "relay", "scheduler", "controller-manager", "node-1", "node-2"):
        assert component in status, status
    nodes = kubectl(home, "get", "nodes").stdout
    assert "node-1" in nodes and "node-2" in nodes and "NotReady" not in nodes

    kubectl(home, "apply", "-f", "-", input=DEPLOYMENT, timeout=60)
    assert "successfully rolled out" in kubectl(home, "rollout", "status", "deploy/web", "--timeout=90s").stdout
    three = wait_until("3 running pods", lambda: len(running(pods(home))) == 3 and running(pods(home)), timeout=90)
    assert {p["spec"]["nodeName"] for p in three} <= {"node-1", "node-2"}
    assert len({p["spec"]["nodeName"] for p in three}) == 2, "pods of one owner spread over both nodes"
    events = kubectl(home, "get", "events", "-o", "json").stdout
    assert '"reason":"Scheduled"' in events.replace(" ", "")

    # self-healing: a deleted pod is replaced
    victim = three[0]["metadata"]["name"]
    kubectl(home, "delete", "pod", victim)
    wait_until("a replacement pod", lambda: len(running(pods(home))) == 3
               and victim not in {p["metadata"]["name"] for p in running(pods(home))}, timeout=90)

    # scale
    kubectl(home, "scale", "deploy/web", "--replicas=5")
    wait_until("5 running pods", lambda: len(running(pods(home))) == 5, timeout=90)

    # rolling update to a new template, then undo
    kubectl(home, "set", "image", "deploy/web", "main=busybox:1.37")
    assert "successfully rolled out" in kubectl(home, "rollout", "status", "deploy/web", "--timeout=120s").stdout
    wait_until("all pods on the new image", lambda: {c["image"] for p in running(pods(home))
                                                     for c in p["spec"]["containers"]} == {"busybox:1.37"}, timeout=90)
    kubectl(home, "rollout", "undo", "deploy/web")
    assert "successfully rolled out" in kubectl(home, "rollout", "status", "deploy/web", "--timeout=120s").stdout
    image = kubectl(home, "get", "deploy/web", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "busybox:1.36"

    # cascading deletion: the Deployment's ReplicaSets and pods go with it
    kubectl(home, "delete", "deploy/web")
    wait_until("no ReplicaSets and no pods", lambda: not pods(home)
               and not kubectl_get(home, "rs")["items"], timeout=120)
