"""Where a DaemonSet's pods belong, and the pod it creates for a node (pure functions of
controllers/daemonset.py); the controller itself runs against a whole lab in
tests/integration/test_daemonset_kubectl.py."""

from __future__ import annotations

from typing import Any

from orchestrator.controllers.daemonset import (
    DEFAULT_TOLERATIONS,
    new_daemon_pod,
    node_should_run,
    target_node,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.nodeaffinity import pod_matches_node
from tests import factories


def daemonset(**pod_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default", "uid": "u-1",
                         "annotations": {"deprecated.daemonset.template.generation": "3"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "a", "image": "busybox"}], **pod_spec}}}}


def tainted(name: str, *taints: dict[str, str], **labels: str) -> dict[str, Any]:
    node = factories.node(name, labels=labels)
    node["spec"]["taints"] = list(taints)
    return node


def test_a_node_selector_or_required_affinity_that_does_not_match_keeps_the_pod_away() -> None:
    assert node_should_run(daemonset(nodeSelector={"disk": "ssd"}), tainted("n1", disk="ssd")) == (True, True)
    assert node_should_run(daemonset(nodeSelector={"disk": "ssd"}), tainted("n2")) == (False, False)
    zone_a = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
    assert node_should_run(daemonset(affinity=zone_a), tainted("n1", zone="a"))[0]
    assert not node_should_run(daemonset(affinity=zone_a), tainted("n1", zone="b"))[0]


def test_no_schedule_keeps_new_pods_away_but_only_no_execute_removes_running_ones() -> None:
    no_schedule = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    no_execute = {"key": "dedicated", "value": "db", "effect": "NoExecute"}
    assert node_should_run(daemonset(), tainted("n1", no_schedule)) == (False, True)
    assert node_should_run(daemonset(), tainted("n1", no_execute)) == (False, False)
    tolerating = daemonset(tolerations=[{"key": "dedicated", "operator": "Exists"}])
    assert node_should_run(tolerating, tainted("n1", no_schedule, no_execute)) == (True, True)


def test_daemon_pods_tolerate_cordons_pressure_and_an_unreachable_node() -> None:
    cordoned = tainted("n1", {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                       {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"})
    assert node_should_run(daemonset(), cordoned) == (True, True)


def test_the_pod_for_a_node_is_pinned_by_match_fields_labelled_with_its_revision_and_owned() -> None:
    pod = new_daemon_pod(daemonset(tolerations=[{"key": "x", "operator": "Exists"}]), "n2", revision_hash="abc")
    assert pod["metadata"]["generateName"] == "agent-"
    assert pod["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "abc",
                                         "pod-template-generation": "3"}
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("DaemonSet", "u-1", True)
    assert pod["spec"]["tolerations"] == [{"key": "x", "operator": "Exists"}, *DEFAULT_TOLERATIONS]
    assert target_node(pod) == "n2" and "nodeName" not in pod["spec"]
    # The scheduler's NodeAffinity filter lets it onto n2 only.
    assert pod_matches_node(pod, NodeInfo(factories.node("n2")))
    assert not pod_matches_node(pod, NodeInfo(factories.node("n1")))
