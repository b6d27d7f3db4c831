from orchestrator.scheduler.framework.interfaces import Code, CycleState
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.tainttoleration import TaintToleration, tolerates_taint
from tests.unit.scheduler.builders import make_node, make_pod

GPU = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


def test_untolerated_no_schedule_taint_rejects_with_upstream_message():
    status = TaintToleration().filter(CycleState(), make_pod("p"), NodeInfo(make_node("n", taints=[GPU])))
    assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == ("node(s) had untolerated taint {dedicated: gpu}",)


def test_no_execute_taint_rejects_and_prefer_no_schedule_does_not():
    node = NodeInfo(make_node("n", taints=[{"key": "soft", "effect": "PreferNoSchedule"}, {"key": "evict", "effect": "NoExecute"}]))
    status = TaintToleration().filter(CycleState(), make_pod("p"), node)
    assert status.reasons == ("node(s) had untolerated taint {evict: }",)


def test_tolerated_taint_fits():
    pod = make_pod("p", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    assert TaintToleration().filter(CycleState(), pod, NodeInfo(make_node("n", taints=[GPU]))).is_success()


def test_toleration_matching_rules():
    assert tolerates_taint({"operator": "Exists"}, GPU)  # empty key + Exists tolerates everything
    assert tolerates_taint({"key": "dedicated", "operator": "Exists"}, GPU)
    assert not tolerates_taint({"key": "dedicated", "value": "cpu"}, GPU)
    assert not tolerates_taint({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, GPU)


def test_score_prefers_nodes_with_fewer_intolerable_prefer_no_schedule_taints():
    soft = [{"key": f"k{i}", "effect": "PreferNoSchedule"} for i in range(2)]
    nodes = [NodeInfo(make_node("clean")), NodeInfo(make_node("one", taints=soft[:1])), NodeInfo(make_node("two", taints=soft))]
    plugin, state, pod = TaintToleration(), CycleState(), make_pod("p", tolerations=[{"key": "k1", "operator": "Exists", "effect": "NoSchedule"}])
    plugin.pre_score(state, pod, nodes)
    raw = [plugin.score(state, pod, n) for n in nodes]
    # k1 is tolerated only for NoSchedule, so it does not count as tolerated here
    assert raw == [0, 1, 2]
    assert plugin.normalize_score(state, pod, raw) == [100, 50, 0]


def test_score_ignores_tolerated_prefer_no_schedule_taints():
    node = NodeInfo(make_node("n", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    plugin, state, pod = TaintToleration(), CycleState(), make_pod("p", tolerations=[{"key": "k", "operator": "Exists"}])
    plugin.pre_score(state, pod, [node])
    assert plugin.score(state, pod, node) == 0
