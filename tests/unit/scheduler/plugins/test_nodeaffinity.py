import pytest

from orchestrator.scheduler.framework.interfaces import Code, CycleState
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.nodeaffinity import NodeAffinity
from tests.unit.scheduler.builders import make_node, make_pod

REASON = "node(s) didn't match Pod's node affinity/selector"


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def filter_status(pod, node):
    plugin, state = NodeAffinity(), CycleState()
    _, status = plugin.pre_filter(state, pod)
    return status if status.is_skip() else plugin.filter(state, pod, NodeInfo(node))


def test_node_selector_must_match_all_labels():
    pod = make_pod("p", nodeSelector={"disk": "ssd", "zone": "a"})
    assert filter_status(pod, make_node("n", labels={"disk": "ssd", "zone": "a", "x": "y"})).is_success()
    status = filter_status(pod, make_node("n", labels={"disk": "ssd"}))
    assert (status.code, status.reasons) == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (REASON,))


def test_pod_without_selector_or_affinity_skips_the_filter():
    assert filter_status(make_pod("p"), make_node("n")).is_skip()


@pytest.mark.parametrize(
    ("expression", "labels", "fits"),
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "In", "values": ["a"]}, {"zone": "c"}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "c"}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "gpu", "operator": "Exists"}, {"gpu": ""}, True),
        ({"key": "gpu", "operator": "Exists"}, {}, False),
        ({"key": "gpu", "operator": "DoesNotExist"}, {}, True),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"cores": "16"}, True),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"cores": "8"}, False),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"cores": "4"}, True),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"cores": "many"}, False),
    ],
)
def test_match_expression_operators(expression, labels, fits):
    pod = make_pod("p", affinity=required({"matchExpressions": [expression]}))
    assert filter_status(pod, make_node("n", labels=labels)).is_success() is fits


def test_terms_are_ored_and_requirements_inside_a_term_anded():
    pod = make_pod("p", affinity=required(
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "disk", "operator": "Exists"}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]},
    ))
    assert filter_status(pod, make_node("n1", labels={"zone": "a", "disk": "ssd"})).is_success()
    assert not filter_status(pod, make_node("n2", labels={"zone": "a"})).is_success()
    assert filter_status(pod, make_node("special")).is_success()


def test_empty_term_matches_nothing():
    assert not filter_status(make_pod("p", affinity=required({})), make_node("n")).is_success()


def test_preferred_terms_score_the_sum_of_matching_weights_normalized():
    pod = make_pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
        {"weight": 20, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
    ]}})
    nodes = [NodeInfo(make_node("a", labels={"zone": "a"})), NodeInfo(make_node("both", labels={"zone": "a", "disk": "ssd"})), NodeInfo(make_node("none"))]
    plugin, state = NodeAffinity(), CycleState()
    assert plugin.pre_score(state, pod, nodes).is_success()
    raw = [plugin.score(state, pod, n) for n in nodes]
    assert raw == [80, 100, 0]
    assert plugin.normalize_score(state, pod, [40, 80, 0]) == [50, 100, 0]


def test_pod_without_preferred_terms_skips_scoring():
    assert NodeAffinity().pre_score(CycleState(), make_pod("p"), []).is_skip()
