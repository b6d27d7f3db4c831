"""NodeUnschedulable, NodeName, NodeReady, NodePorts: fits / does not fit, with the exact reason."""

from orchestrator.scheduler.framework.interfaces import Code, CycleState
from orchestrator.scheduler.framework.nodeinfo import NodeInfo
from orchestrator.scheduler.plugins.nodename import NodeName
from orchestrator.scheduler.plugins.nodeports import NodePorts
from orchestrator.scheduler.plugins.nodeready import NodeReady
from orchestrator.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from tests.unit.scheduler.builders import make_node, make_pod


def run_filter(plugin, pod, node_info):
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        _, status = plugin.pre_filter(state, pod)
        if status.is_skip():
            return status
    return plugin.filter(state, pod, node_info)


def test_cordoned_node_rejects_pods():
    status = run_filter(NodeUnschedulable(), make_pod("p"), NodeInfo(make_node("n", unschedulable=True)))
    assert (status.code, status.reasons) == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) were unschedulable",))


def test_cordoned_node_accepts_pods_tolerating_the_unschedulable_taint():
    pod = make_pod("p", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}])
    assert run_filter(NodeUnschedulable(), pod, NodeInfo(make_node("n", unschedulable=True))).is_success()


def test_schedulable_node_fits():
    assert run_filter(NodeUnschedulable(), make_pod("p"), NodeInfo(make_node("n"))).is_success()


def test_node_name_fits_only_the_named_node():
    pod = make_pod("p", node_name="n1")
    assert run_filter(NodeName(), pod, NodeInfo(make_node("n1"))).is_success()
    status = run_filter(NodeName(), pod, NodeInfo(make_node("n2")))
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) didn't match the requested node name",)
    )


def test_pod_without_node_name_skips_the_node_name_filter():
    assert run_filter(NodeName(), make_pod("p"), NodeInfo(make_node("n1"))).is_skip()
    assert NodeName().filter(CycleState(), make_pod("p"), NodeInfo(make_node("n1"))).is_success()


def test_not_ready_node_rejects_pods():
    status = run_filter(NodeReady(), make_pod("p"), NodeInfo(make_node("n", ready=False)))
    assert (status.code, status.reasons) == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("node(s) were not ready",))


def test_node_without_conditions_is_not_ready():
    node = make_node("n")
    node["status"].pop("conditions")
    assert not run_filter(NodeReady(), make_pod("p"), NodeInfo(node)).is_success()


def test_not_ready_node_accepts_pods_tolerating_the_not_ready_taint():
    pod = make_pod("p", tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}])
    assert run_filter(NodeReady(), pod, NodeInfo(make_node("n", ready=False))).is_success()


def test_host_port_in_use_rejects_the_node():
    node = NodeInfo(make_node("n"))
    node.add_pod(make_pod("web", host_ports=[8080]))
    status = run_filter(NodePorts(), make_pod("p", host_ports=[8080]), node)
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE, ("node(s) didn't have free ports for the requested pod ports",)
    )


def test_free_host_port_fits():
    node = NodeInfo(make_node("n"))
    node.add_pod(make_pod("web", host_ports=[8080]))
    assert run_filter(NodePorts(), make_pod("p", host_ports=[9090]), node).is_success()


def test_pod_without_host_ports_skips_the_port_filter():
    assert run_filter(NodePorts(), make_pod("p"), NodeInfo(make_node("n"))).is_skip()
