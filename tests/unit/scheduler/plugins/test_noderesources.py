import pytest

from orchestrator.api.errors import Invalid
from orchestrator.scheduler.framework.interfaces import Code, CycleState
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.noderesources import BalancedAllocation, Fit
from tests.unit.scheduler.builders import make_node, make_pod


def node_with(*pods, **node_kwargs) -> NodeInfo:
    info = NodeInfo(make_node("n", **node_kwargs))
    for pod in pods:
        info.add_pod(pod)
    return info


def fit_filter(pod, node_info):
    plugin, state = Fit(), CycleState()
    plugin.pre_filter(state, pod)
    return plugin.filter(state, pod, node_info)


def test_pod_fits_in_what_is_left():
    assert fit_filter(make_pod("p", cpu="1", memory="1Gi"), node_with(make_pod("x", cpu="3", memory="7Gi"))).is_success()


def test_insufficient_cpu():
    status = fit_filter(make_pod("p", cpu="1500m"), node_with(make_pod("x", cpu="3")))
    assert (status.code, status.reasons) == (Code.UNSCHEDULABLE, ("Insufficient cpu",))


def test_insufficient_memory():
    status = fit_filter(make_pod("p", memory="2Gi"), node_with(make_pod("x", memory="7Gi")))
    assert status.reasons == ("Insufficient memory",)


def test_too_many_pods_and_every_other_reason_are_all_reported():
    status = fit_filter(make_pod("p", cpu="8", memory="16Gi"), node_with(make_pod("x"), pods=1))
    assert status.reasons == ("Too many pods", "Insufficient cpu", "Insufficient memory")


def test_init_container_requests_count_by_the_max_rule():
    pod = make_pod("p", cpu="1")
    pod["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "5"}}}]
    assert fit_filter(pod, node_with()).reasons == ("Insufficient cpu",)


def test_a_pod_without_requests_fits_a_full_node():
    assert fit_filter(make_pod("p"), node_with(make_pod("x", cpu="4", memory="8Gi"))).is_success()


def score(plugin, pod, node_info):
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, pod)
    return plugin.score(state, pod, node_info)


def test_least_allocated_worked_example():
    # cpu (4000 - 2000) * 100 / 4000 = 50, memory (8 - 4) * 100 / 8 = 50
    assert score(Fit(), make_pod("p", cpu="1", memory="2Gi"), node_with(make_pod("x", cpu="1", memory="2Gi"))) == 50


def test_most_allocated_worked_example():
    plugin = Fit({"scoringStrategy": {"type": "MostAllocated"}})
    # cpu 3000 * 100 / 4000 = 75, memory 2 * 100 / 8 = 25 -> 50
    assert score(plugin, make_pod("p", cpu="1", memory="1Gi"), node_with(make_pod("x", cpu="2", memory="1Gi"))) == 50


def test_least_allocated_weights_resources():
    plugin = Fit({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}]}})
    # cpu 25 * 3 + memory 75 * 1 = 150 / 4 = 37
    assert score(plugin, make_pod("p", cpu="3", memory="2Gi"), node_with()) == 37


def test_pods_without_requests_are_scored_as_100m_and_200mi():
    # cpu (4000 - 100) * 100 / 4000 = 97, memory (8192 - 200) * 100 / 8192 = 97
    assert score(Fit(), make_pod("p"), node_with()) == 97


def test_unknown_scoring_strategy_lists_the_allowed_ones():
    with pytest.raises(Invalid, match="allowed: LeastAllocated, MostAllocated"):
        Fit({"scoringStrategy": {"type": "Packed"}})


def test_balanced_allocation_worked_example():
    # after the pod: cpu 2000/4000 = 0.5, memory 2Gi/8Gi = 0.25 -> std 0.125 -> 87
    assert score(BalancedAllocation(), make_pod("p", cpu="1", memory="1Gi"), node_with(make_pod("x", cpu="1", memory="1Gi"))) == 87


def test_balanced_allocation_is_100_when_fractions_are_equal():
    assert score(BalancedAllocation(), make_pod("p", cpu="2", memory="4Gi"), node_with()) == 100
