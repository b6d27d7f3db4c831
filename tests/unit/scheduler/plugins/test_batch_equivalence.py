"""Every plugin's batch method (filter_nodes / score_nodes) returns what its per-node method does."""

import pytest

from orchestrator.scheduler.framework.interfaces import CycleState
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.registry import IN_TREE_REGISTRY
from tests.unit.scheduler.builders import make_node, make_pod


def varied_nodes() -> list[NodeInfo]:
    nodes = [
        make_node("plain"),
        make_node("cordoned", unschedulable=True),
        make_node("not-ready", ready=False),
        make_node("tainted", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        make_node("soft", taints=[{"key": "soft", "effect": "PreferNoSchedule"}], labels={"disk": "ssd"}),
        make_node("tiny", cpu="500m", memory="256Mi", pods=1, labels={"topology.kubernetes.io/zone": "a"}),
        make_node("zero", cpu="0", memory="0", labels={"topology.kubernetes.io/zone": "b"}),
        make_node("big", cpu="64", memory="256Gi", labels={"disk": "ssd", "topology.kubernetes.io/zone": "a"}),
    ]
    infos = [NodeInfo(n) for n in nodes]
    infos[0].add_pod(make_pod("a", cpu="3", memory="7Gi", owner_uid="rs", host_ports=[80]))
    infos[5].add_pod(make_pod("b", owner_uid="rs"))
    infos[7].add_pod(make_pod("c", cpu="60", memory="1Gi", owner_uid="rs"))
    return infos


PODS = {
    "small": make_pod("p", cpu="100m", memory="128Mi", owner_uid="rs"),
    "large": make_pod("p", cpu="8", memory="16Gi", owner_uid="rs", host_ports=[80]),
    "no-requests": make_pod("p", owner_uid="rs", nodeSelector={"disk": "ssd"}),
}
ARGS = [{}, {"scoringStrategy": {"type": "MostAllocated"}}]


@pytest.mark.parametrize("name", sorted(n for n, cls in IN_TREE_REGISTRY.items() if hasattr(cls, "filter_nodes")))
@pytest.mark.parametrize("pod_name", sorted(PODS))
def test_filter_nodes_equals_filter_per_node(name, pod_name):
    plugin, pod, nodes = IN_TREE_REGISTRY[name]({}, None), PODS[pod_name], varied_nodes()
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, pod)
    assert plugin.filter_nodes(state, pod, nodes) == [plugin.filter(state, pod, n) for n in nodes]


@pytest.mark.parametrize("name", sorted(n for n, cls in IN_TREE_REGISTRY.items() if hasattr(cls, "score_nodes")))
@pytest.mark.parametrize("pod_name", sorted(PODS))
@pytest.mark.parametrize("args", ARGS)
def test_score_nodes_equals_score_per_node(name, pod_name, args):
    plugin, pod, nodes = IN_TREE_REGISTRY[name](args if name == "NodeResourcesFit" else {}, None), PODS[pod_name], varied_nodes()
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, pod)
    if hasattr(plugin, "pre_score"):
        assert plugin.pre_score(state, pod, nodes).is_success()
    assert plugin.score_nodes(state, pod, nodes) == [plugin.score(state, pod, n) for n in nodes]
