from orchestrator.scheduler.framework.interfaces import CycleState
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.selectorspread import SelectorSpread
from tests.unit.scheduler.builders import make_node, make_pod


def nodes_with_replicas(counts, zones=None):
    infos = []
    for i, count in enumerate(counts):
        labels = {"topology.kubernetes.io/zone": zones[i]} if zones else {}
        info = NodeInfo(make_node(f"n{i}", labels=labels))
        for j in range(count):
            info.add_pod(make_pod(f"r{i}-{j}", owner_uid="rs-1"))
        info.add_pod(make_pod(f"other-{i}", owner_uid="rs-2"))
        infos.append(info)
    return infos


def scores(nodes):
    plugin, state, pod = SelectorSpread(), CycleState(), make_pod("new", owner_uid="rs-1")
    assert plugin.pre_score(state, pod, nodes).is_success()
    raw = [plugin.score(state, pod, n) for n in nodes]
    return raw, plugin.normalize_score(state, pod, raw)


def test_fewer_pods_of_the_same_controller_score_higher():
    assert scores(nodes_with_replicas([0, 1, 2])) == ([0, 1, 2], [100, 50, 0])


def test_zones_weigh_two_thirds():
    raw, normalized = scores(nodes_with_replicas([0, 2, 1], zones=["a", "a", "b"]))
    # zone totals a=2, b=1. n0: node 100, zone 0 -> 33; n1: 0, 0 -> 0; n2: node 50, zone 50 -> 50
    assert normalized == [33, 0, 50]


def test_pod_without_controller_skips_spreading():
    assert SelectorSpread().pre_score(CycleState(), make_pod("p"), []).is_skip()
