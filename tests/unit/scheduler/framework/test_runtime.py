import random

import pytest

from orchestrator.scheduler.config import build_framework, default_config
from orchestrator.scheduler.framework.interfaces import SUCCESS, CycleState, Status
from orchestrator.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from orchestrator.scheduler.framework.runtime import (
    Diagnosis,
    Framework,
    fit_error_message,
    num_feasible_nodes_to_find,
)
from orchestrator.scheduler.plugins.noderesources import Fit
from tests.unit.scheduler.builders import make_node, make_pod


def default_framework(**kwargs) -> Framework:
    return build_framework(default_config().profiles[0], **kwargs)


@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [
        (50, None, 50),  # fewer than 100 nodes: all of them
        (100, None, 100),
        (1000, None, 420),  # 50 - 1000/125 = 42%
        (5000, None, 500),  # 50 - 40 = 10%
        (6000, None, 300),  # 50 - 48 = 2% -> floor 5%
        (1500, 5, 100),  # 75 < minimum of 100 nodes
        (1000, 100, 1000),
        (1000, 30, 300),
    ],
)
def test_num_feasible_nodes_to_find_follows_the_upstream_formula(nodes, percentage, expected):
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def test_fit_error_message_counts_reasons_and_sorts_them_as_upstream():
    diagnosis = Diagnosis(
        node_statuses={
            "n1": Status.unschedulable("Insufficient cpu"),
            "n2": Status.unschedulable("Insufficient cpu"),
            "n3": Status.unresolvable("node(s) had untolerated taint {dedicated: gpu}"),
        }
    )
    assert fit_error_message(3, diagnosis) == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
    )


def test_fit_error_message_counts_each_reason_of_a_node_and_appends_post_filter():
    diagnosis = Diagnosis(
        node_statuses={"n1": Status.unschedulable("Insufficient cpu", "Insufficient memory")},
        post_filter_msg="preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling",
    )
    assert fit_error_message(1, diagnosis) == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )


def test_schedule_one_picks_the_least_allocated_node():
    snapshot = Snapshot.from_objects(
        [make_node("busy"), make_node("idle"), make_node("half")],
        [make_pod("x", cpu="3", memory="6Gi", node_name="busy"), make_pod("y", cpu="2", memory="4Gi", node_name="half")],
    )
    result = default_framework().schedule_one(make_pod("p", cpu="500m", memory="512Mi"), snapshot)
    assert result.scheduled
    assert result.suggested_host == "idle"
    assert (result.feasible_nodes, result.evaluated_nodes, result.num_all_nodes) == (3, 3, 3)


def test_schedule_one_explains_why_no_node_fits():
    snapshot = Snapshot.from_objects(
        [
            make_node("small-1", cpu="1"),
            make_node("small-2", cpu="1"),
            make_node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        ]
    )
    result = default_framework().schedule_one(make_pod("p", cpu="2"), snapshot)
    assert not result.scheduled
    assert result.status.is_rejected()
    assert result.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
    )
    assert result.diagnosis.node_statuses["gpu"].plugin == "TaintToleration"
    assert result.diagnosis.node_statuses["small-1"].plugin == "NodeResourcesFit"
    assert result.diagnosis.unschedulable_plugins == {"TaintToleration", "NodeResourcesFit"}


def test_schedule_one_with_no_nodes():
    result = default_framework().schedule_one(make_pod("p"), Snapshot([]))
    assert result.message == "no nodes available to schedule pods"


def test_filtering_stops_at_enough_feasible_nodes_and_rotates_the_start():
    framework = default_framework(percentage_of_nodes_to_score=None)
    framework.percentage_of_nodes_to_score = 10
    snapshot = Snapshot.from_objects([make_node(f"n{i:04}") for i in range(1000)])
    first = framework.schedule_one(make_pod("a"), snapshot)
    assert (first.feasible_nodes, first.evaluated_nodes) == (100, 100)
    assert framework.next_start_node_index == 100
    framework.schedule_one(make_pod("b"), snapshot)
    assert framework.next_start_node_index == 200


def test_rejected_nodes_count_towards_the_evaluated_nodes_and_the_next_start():
    framework = default_framework()
    framework.percentage_of_nodes_to_score = 5
    nodes = [make_node(f"n{i:03}", cpu="1" if i % 2 else "4") for i in range(200)]
    result = framework.schedule_one(make_pod("p", cpu="2"), Snapshot.from_objects(nodes))
    assert result.feasible_nodes == 100
    assert result.evaluated_nodes == 199  # 100 fit, 99 odd-numbered nodes in between did not
    assert framework.next_start_node_index == 199


class ConstantScore:
    name = "ConstantScore"

    def __init__(self, value: int) -> None:
        self.value = value

    def score(self, state, pod, node_info):
        return self.value


def test_ties_go_to_the_first_node_without_an_rng_and_spread_with_one():
    snapshot = Snapshot.from_objects([make_node("a"), make_node("b"), make_node("c")])
    fixed = Framework(plugins={"score": [ConstantScore(10)]})
    assert {fixed.explain(make_pod("p"), snapshot).chosen_node for _ in range(5)} == {"a"}
    randomized = Framework(plugins={"score": [ConstantScore(10)]}, rng=random.Random(7))
    chosen = set()
    for _ in range(60):
        randomized.next_start_node_index = 0  # same order every time: only the rng varies
        chosen.add(randomized.schedule_one(make_pod("p"), snapshot).suggested_host)
    assert chosen == {"a", "b", "c"}


def test_weights_multiply_normalized_scores():
    snapshot = Snapshot.from_objects([make_node("a"), make_node("b")])
    framework = Framework(plugins={"score": [ConstantScore(10)]}, weights={"ConstantScore": 3})
    explanation = framework.explain(make_pod("p"), snapshot)
    plugin_score = explanation.scores[0].plugin_scores[0]
    assert (plugin_score.raw, plugin_score.normalized, plugin_score.weight, plugin_score.weighted) == (10, 10, 3, 30)
    assert explanation.scores[0].total == 30


def test_a_score_outside_0_to_100_is_an_error_status():
    snapshot = Snapshot.from_objects([make_node("a"), make_node("b")])
    result = Framework(plugins={"score": [ConstantScore(101)]}).schedule_one(make_pod("p"), snapshot)
    assert not result.scheduled
    assert result.status.plugin == "ConstantScore"
    assert "invalid score 101" in result.message


class RejectAll:
    name = "RejectAll"

    def pre_filter(self, state, pod):
        return None, Status.unresolvable("pod is not allowed anywhere")


def test_a_pre_filter_rejection_becomes_the_whole_message():
    snapshot = Snapshot.from_objects([make_node("a"), make_node("b")])
    result = Framework(plugins={"preFilter": [RejectAll()]}).schedule_one(make_pod("p"), snapshot)
    assert result.message == "0/2 nodes are available: pod is not allowed anywhere."


def test_explain_reports_every_verdict_and_score_without_moving_the_start_index():
    snapshot = Snapshot.from_objects(
        [make_node("small", cpu="1"), make_node("a"), make_node("b")],
        [make_pod("x", cpu="2", memory="4Gi", node_name="a")],
    )
    framework = default_framework()
    explanation = framework.explain(make_pod("p", cpu="2", memory="1Gi"), snapshot)
    assert [(v.node_name, v.code, v.plugin, v.reasons) for v in explanation.verdicts] == [
        ("small", "Unschedulable", "NodeResourcesFit", ("Insufficient cpu",)),
        ("a", "Success", "", ()),
        ("b", "Success", "", ()),
    ]
    assert [s.node_name for s in explanation.scores] == ["a", "b"]
    fit = {s.node_name: next(p for p in s.plugin_scores if p.plugin == "NodeResourcesFit") for s in explanation.scores}
    # a: cpu (4000-4000)*100/4000 = 0, memory (8-5)/8 -> 37 -> mean 18; b: cpu 50, memory 87 -> 68
    assert (fit["a"].raw, fit["b"].raw) == (18, 68)
    assert explanation.chosen_node == "b"
    assert framework.next_start_node_index == 0


def test_reserve_failure_unreserves_in_reverse_order():
    calls = []

    class Recorder:
        def __init__(self, name, ok=True):
            self.name, self.ok = name, ok

        def reserve(self, state, pod, node_name):
            calls.append(("reserve", self.name))
            return SUCCESS if self.ok else Status.error("no")

        def unreserve(self, state, pod, node_name):
            calls.append(("unreserve", self.name))

    framework = Framework(plugins={"reserve": [Recorder("a"), Recorder("b", ok=False)]})
    status = framework.run_reserve(CycleState(), make_pod("p"), "n1")
    assert status.plugin == "b"
    assert calls == [("reserve", "a"), ("reserve", "b"), ("unreserve", "b"), ("unreserve", "a")]


async def test_bind_goes_through_the_injected_handle():
    from orchestrator.scheduler.framework.interfaces import Handle

    bound = []

    async def bind_pod(pod, node_name):
        bound.append((pod["metadata"]["name"], node_name))

    framework = default_framework(handle=Handle(bind_pod=bind_pod))
    status = await framework.run_bind(CycleState(), make_pod("p"), "n1")
    assert status.is_success()
    assert bound == [("p", "n1")]


def test_schedule_one_over_1000_nodes_with_pods_places_every_pod_where_it_fits():
    nodes = [make_node(f"node-{i:04}", cpu="8", memory="32Gi", labels={"topology.kubernetes.io/zone": f"z{i % 3}"}) for i in range(1000)]
    snapshot = Snapshot.from_objects(nodes, [make_pod(f"old-{i}", cpu="4", node_name=f"node-{i:04}") for i in range(0, 1000, 2)])
    framework = default_framework()
    for i in range(20):
        pod = make_pod(f"web-{i}", cpu="6", memory="1Gi", owner_uid="rs-web")
        result = framework.schedule_one(pod, snapshot)
        assert result.scheduled
        node: NodeInfo = snapshot.get(result.suggested_host)
        assert node.requested_milli_cpu == 0  # only empty nodes have 6 cores left
        assert result.feasible_nodes == 420


def test_fit_filter_alone_can_run_without_pre_filter():
    status = Fit().filter(CycleState(), make_pod("p", cpu="8"), NodeInfo(make_node("n", cpu="4")))
    assert status.reasons == ("Insufficient cpu",)


class Broken:
    name = "Broken"

    def filter(self, state, pod, node_info):
        return Status.error("disk on fire") if node_info.name == "b" else SUCCESS


def test_a_filter_error_fails_the_attempt_with_that_error():
    snapshot = Snapshot.from_objects([make_node("a"), make_node("b"), make_node("c")])
    result = Framework(plugins={"filter": [Broken()]}, percentage_of_nodes_to_score=100).schedule_one(make_pod("p"), snapshot)
    assert not result.scheduled
    assert (result.status.plugin, result.message) == ("Broken", "disk on fire")
