from orchestrator.scheduler.framework.nodeinfo import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    NodeInfo,
    Snapshot,
    pod_requests,
)
from tests.unit.scheduler.builders import make_node, make_pod

GI = 1024**3


def test_pod_requests_sum_the_app_containers():
    pod = make_pod("p", cpu="200m", memory="1Gi")
    pod["spec"]["containers"].append({"name": "b", "resources": {"requests": {"cpu": "300m", "memory": "1Gi"}}})
    req = pod_requests(pod)
    assert (req.milli_cpu, req.memory) == (500, 2 * GI)


def test_pod_requests_take_the_larger_of_app_sum_and_each_init_container():
    pod = make_pod("p", cpu="500m", memory="1Gi")
    pod["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "800m", "memory": "512Mi"}}}]
    req = pod_requests(pod)
    assert (req.milli_cpu, req.memory) == (800, GI)


def test_sidecar_init_containers_add_to_everything_started_after_them():
    pod = make_pod("p", cpu="500m")
    pod["spec"]["initContainers"] = [
        {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
        {"name": "init", "resources": {"requests": {"cpu": "700m"}}},
    ]
    assert pod_requests(pod).milli_cpu == 800  # max(500 + 100, 100 + 700)


def test_pod_overhead_is_added_on_top():
    pod = make_pod("p", cpu="500m")
    pod["spec"]["overhead"] = {"cpu": "250m"}
    assert pod_requests(pod).milli_cpu == 750


def test_containers_without_requests_count_defaults_only_for_scoring():
    req = pod_requests(make_pod("p"))
    assert (req.milli_cpu, req.memory) == (0, 0)
    assert (req.non_zero_milli_cpu, req.non_zero_memory) == (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)


def test_node_info_totals_follow_pods_added_and_removed():
    info = NodeInfo(make_node("n1", cpu="4", memory="8Gi", pods=10))
    assert (info.allocatable_milli_cpu, info.allocatable_memory, info.allowed_pod_number) == (4000, 8 * GI, 10)
    info.add_pod(make_pod("a", cpu="1", memory="1Gi", owner_uid="rs1", host_ports=[80]))
    info.add_pod(make_pod("b", cpu="500m", memory="1Gi", owner_uid="rs1"))
    assert (info.requested_milli_cpu, info.requested_memory, info.pod_count) == (1500, 2 * GI, 2)
    assert info.owner_counts == {"rs1": 2}
    assert info.remove_pod("default/a") is True
    assert (info.requested_milli_cpu, info.pod_count, info.used_ports, info.owner_counts) == (500, 1, {}, {"rs1": 1})
    assert info.remove_pod("default/a") is False


def test_adding_the_same_pod_twice_counts_it_once():
    info = NodeInfo(make_node("n1"))
    info.add_pod(make_pod("a", cpu="1"))
    info.add_pod(make_pod("a", cpu="2"))
    assert (info.requested_milli_cpu, info.pod_count) == (2000, 1)


def test_host_port_conflicts_follow_the_bind_all_rule():
    info = NodeInfo(make_node("n1"))
    pod = make_pod("a")
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]
    info.add_pod(pod)
    assert info.port_conflicts(("10.0.0.1", "TCP", 8080))
    assert info.port_conflicts(("0.0.0.0", "TCP", 8080))
    assert not info.port_conflicts(("10.0.0.2", "TCP", 8080))
    assert not info.port_conflicts(("10.0.0.1", "UDP", 8080))


def test_readiness_and_taints_are_parsed_once_from_the_node():
    info = NodeInfo(make_node("n1", ready=False, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]))
    assert info.ready is False
    assert info.taints == ({"key": "k", "value": "v", "effect": "NoSchedule"},)


def test_a_clone_does_not_see_later_changes():
    info = NodeInfo(make_node("n1"))
    clone = info.clone()
    info.add_pod(make_pod("a", cpu="1", host_ports=[80]))
    assert (clone.pod_count, clone.requested_milli_cpu, clone.used_ports) == (0, 0, {})


def test_snapshot_from_objects_places_pods_by_node_name():
    snapshot = Snapshot.from_objects(
        [make_node("n1"), make_node("n2")], [make_pod("a", cpu="1", node_name="n2"), make_pod("b")]
    )
    assert [ni.name for ni in snapshot] == ["n1", "n2"]
    assert snapshot.get("n2").requested_milli_cpu == 1000
    assert snapshot.get("n1").pod_count == 0
