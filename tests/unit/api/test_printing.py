"""Tables print the columns and words kubectl shows against a real cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest
from orchestrator.api.printing import (
    human_duration,
    partial_object_metadata_list,
    selector_string,
    table_for,
    table_for_watch_event,
)
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry import strategy_for

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PODS = by_group_resource("pods")
NODES = by_group_resource("nodes")


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str = "web", *, phase: str = "Pending", statuses: list[dict[str, Any]] | None = None,
        containers: int = 1, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5),
                     "labels": {"app": "web"}, "resourceVersion": "7"},
        "spec": {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]},
        "status": {"phase": phase},
    }
    if statuses is not None:
        obj["status"]["containerStatuses"] = statuses
    for key, value in extra.items():
        obj[key] = {**obj.get(key, {}), **value}
    return obj


def cs(name: str = "c0", *, ready: bool = False, restarts: int = 0, **state: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "image": "nginx", "imageID": "",
            "state": state}


def row(info: Any, obj: dict[str, Any]) -> dict[str, str | int]:
    """The single row of obj's Table as {column name: cell}."""
    table = table_for(strategy_for(info), [obj], list_meta={"resourceVersion": "9"}, now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


# --- human_duration: upstream's duration_test.go ------------------------------------------------

@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (1, "1s"), (70, "70s"), (190, "3m10s"), (70 * 60, "70m"), (47 * 3600, "47h"), (49 * 3600, "2d1h"),
        ((8 * 24 + 2) * 3600, "8d"), (367 * 24 * 3600, "367d"), ((365 * 2 * 24 + 25) * 3600, "2y1d"),
        ((365 * 8 * 24 + 2) * 3600, "8y"),
    ],
)
def test_human_duration_matches_upstream_examples(seconds: float, want: str) -> None:
    assert human_duration(seconds) == want


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        (-2, "<invalid>"), (-1.999, "0s"), (0, "0s"), (0.999, "0s"), (119.999, "119s"), (120, "2m"),
        (121, "2m1s"), (599.999, "9m59s"), (600, "10m"), (601, "10m"), (3 * 3600 - 0.001, "179m"),
        (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (8 * 3600 - 0.001, "7h59m"), (8 * 3600, "8h"),
        (8 * 3600 + 59 * 60, "8h"), (48 * 3600 - 0.001, "47h"), (48 * 3600, "2d"), (49 * 3600, "2d1h"),
        (8 * 86400 - 0.001, "7d23h"), (8 * 86400, "8d"), (2 * 365 * 86400 - 0.001, "729d"),
        (2 * 365 * 86400, "2y"), (2 * 365 * 86400 + 86400 - 0.001, "2y"), (2 * 365 * 86400 + 86400, "2y1d"),
        (8 * 365 * 86400 - 0.001, "7y364d"), (8 * 365 * 86400, "8y"), (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_boundaries_match_upstream(seconds: float, want: str) -> None:
    assert human_duration(seconds) == want


# --- pods ----------------------------------------------------------------------------------------

def test_pod_columns_are_upstreams_with_wide_ones_at_priority_1() -> None:
    table = table_for(strategy_for(PODS), [], list_meta={"resourceVersion": "9"}, now=NOW)
    cols = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert cols == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                    ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "9"} and table["rows"] == []


def test_unscheduled_pod_is_pending_with_none_placeholders() -> None:
    r = row(PODS, pod())
    assert r == {"Name": "web", "Ready": "0/1", "Status": "Pending", "Restarts": "0", "Age": "5m",
                 "IP": "<none>", "Node": "<none>", "Nominated Node": "<none>", "Readiness Gates": "<none>"}


def test_pulling_pod_shows_container_creating() -> None:
    p = pod(statuses=[cs(waiting={"reason": "ContainerCreating"})], spec={"nodeName": "node-1"})
    r = row(PODS, p)
    assert (r["Status"], r["Ready"], r["Node"]) == ("ContainerCreating", "0/1", "node-1")


def test_running_ready_pod_is_1_of_1_running_with_ip() -> None:
    p = pod(phase="Running", statuses=[cs(ready=True, running={"startedAt": ago(minutes=4)})])
    p["status"]["podIP"] = "10.0.0.5"
    r = row(PODS, p)
    assert (r["Ready"], r["Status"], r["IP"]) == ("1/1", "Running", "10.0.0.5")


def test_running_pod_with_one_of_two_ready() -> None:
    p = pod(phase="Running", containers=2, statuses=[
        cs("c0", ready=True, running={}), cs("c1", ready=False, running={}),
    ])
    assert row(PODS, p)["Ready"] == "1/2"


def test_crash_looping_pod_shows_reason_and_restarts_with_last_restart_age() -> None:
    p = pod(phase="Running", statuses=[{
        **cs(restarts=3, waiting={"reason": "CrashLoopBackOff"}),
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=40)}},
    }])
    r = row(PODS, p)
    assert (r["Status"], r["Restarts"], r["Ready"]) == ("CrashLoopBackOff", "3 (40s ago)", "0/1")


def test_image_pull_failure_shows_err_image_pull() -> None:
    p = pod(statuses=[cs(waiting={"reason": "ErrImagePull"})])
    assert row(PODS, p)["Status"] == "ErrImagePull"


def test_finished_pod_shows_completed_and_a_completed_row_condition() -> None:
    p = pod(phase="Succeeded", statuses=[cs(terminated={"exitCode": 0, "reason": "Completed"})])
    table = table_for(strategy_for(PODS), [p], list_meta={}, now=NOW)
    assert table["rows"][0]["cells"][2] == "Completed"
    assert table["rows"][0]["conditions"][0]["type"] == "Completed"


def test_failed_container_without_reason_shows_exit_code() -> None:
    p = pod(phase="Failed", statuses=[cs(terminated={"exitCode": 2})])
    assert row(PODS, p)["Status"] == "ExitCode:2"
    p = pod(phase="Failed", statuses=[cs(terminated={"exitCode": 1, "reason": "Error"})])
    assert row(PODS, p)["Status"] == "Error"


def test_pod_being_deleted_shows_terminating() -> None:
    p = pod(phase="Running", statuses=[cs(ready=True, running={})],
            metadata={"deletionTimestamp": ago(seconds=1)})
    assert row(PODS, p)["Status"] == "Terminating"


def test_deleted_pod_on_lost_node_shows_unknown() -> None:
    p = pod(phase="Running", metadata={"deletionTimestamp": ago(seconds=1)}, status={"reason": "NodeLost"})
    assert row(PODS, p)["Status"] == "Unknown"


def test_pod_with_pending_init_containers_shows_init_progress() -> None:
    p = pod(spec={"initContainers": [{"name": "i0"}, {"name": "i1"}]},
            status={"initContainerStatuses": [
                {**cs("i0"), "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {**cs("i1"), "state": {"running": {}}},
            ], "containerStatuses": [cs(waiting={"reason": "PodInitializing"})]})
    assert row(PODS, p)["Status"] == "Init:1/2"


def test_crashing_init_container_shows_init_reason() -> None:
    p = pod(spec={"initContainers": [{"name": "i0"}]},
            status={"initContainerStatuses": [{**cs("i0"), "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
    assert row(PODS, p)["Status"] == "Init:CrashLoopBackOff"


def test_row_object_is_partial_object_metadata_for_namespace_and_labels() -> None:
    table = table_for(strategy_for(PODS), [pod()], list_meta={}, now=NOW)
    obj = table["rows"][0]["object"]
    assert obj["kind"] == "PartialObjectMetadata" and obj["apiVersion"] == "meta.k8s.io/v1"
    assert obj["metadata"]["namespace"] == "default" and obj["metadata"]["labels"] == {"app": "web"}
    assert "spec" not in obj


def test_include_object_object_and_none_and_bad_value() -> None:
    full = table_for(strategy_for(PODS), [pod()], list_meta={}, include_object="Object", now=NOW)["rows"][0]["object"]
    assert full["kind"] == "Pod" and full["apiVersion"] == "v1" and "spec" in full
    assert table_for(strategy_for(PODS), [pod()], list_meta={}, include_object="None", now=NOW)["rows"][0]["object"] is None
    with pytest.raises(BadRequest):
        table_for(strategy_for(PODS), [pod()], list_meta={}, include_object="Everything", now=NOW)


def test_v1beta1_table_carries_v1beta1_row_objects() -> None:
    table = table_for(strategy_for(PODS), [pod()], list_meta={}, now=NOW, api_version="meta.k8s.io/v1beta1")
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_watch_event_is_a_one_row_table_at_the_objects_resource_version() -> None:
    first = table_for_watch_event(strategy_for(PODS), pod(), now=NOW)
    assert len(first["rows"]) == 1 and first["metadata"] == {"resourceVersion": "7"}
    assert first["columnDefinitions"]
    later = table_for_watch_event(strategy_for(PODS), pod(), include_column_definitions=False, now=NOW)
    assert later["columnDefinitions"] == [] and later["rows"][0]["cells"][0] == "web"


def test_missing_creation_timestamp_ages_as_unknown() -> None:
    p = pod()
    del p["metadata"]["creationTimestamp"]
    assert row(PODS, p)["Age"] == "<unknown>"


# --- nodes ---------------------------------------------------------------------------------------

def node(ready: str | None = "True", *, unschedulable: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "node-1", "creationTimestamp": ago(days=2, hours=3),
                     "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": [] if ready is None else [{"type": "Ready", "status": ready}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "n1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-labkit", "osImage": "Debian GNU/Linux 12",
                         "kernelVersion": "6.1.0", "containerRuntimeVersion": "docker://27.0.1"},
        },
    }
    return obj


def test_ready_node_row_with_roles_and_wide_cells() -> None:
    r = row(NODES, node())
    assert r == {"Name": "node-1", "Status": "Ready", "Roles": "control-plane,worker", "Age": "2d3h",
                 "Version": "v1.32.0-labkit", "Internal-IP": "172.18.0.2", "External-IP": "<none>",
                 "OS-Image": "Debian GNU/Linux 12", "Kernel-Version": "6.1.0",
                 "Container-Runtime": "docker://27.0.1"}


@pytest.mark.parametrize(
    ("ready", "unschedulable", "want"),
    [("True", False, "Ready"), ("False", False, "NotReady"), ("Unknown", False, "NotReady"),
     (None, False, "Unknown"), ("True", True, "Ready,SchedulingDisabled"),
     ("False", True, "NotReady,SchedulingDisabled")],
)
def test_node_status(ready: str | None, unschedulable: bool, want: str) -> None:
    assert row(NODES, node(ready, unschedulable=unschedulable))["Status"] == want


def test_node_without_roles_prints_none() -> None:
    n = node()
    n["metadata"]["labels"] = {}
    assert row(NODES, n)["Roles"] == "<none>"


# --- namespaces, deployments, replicasets, events, leases ----------------------------------------

def test_namespace_row() -> None:
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(hours=1)}, "status": {"phase": "Active"}}
    assert row(by_group_resource("namespaces"), ns) == {"Name": "default", "Status": "Active", "Age": "60m"}


DEPLOYMENT = {
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(seconds=190)},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]},
        "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"},
                                             {"name": "log", "image": "busybox"}]}},
    },
    "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2},
}


def test_deployment_row_ready_up_to_date_available_and_wide_cells() -> None:
    r = row(by_group_resource("deployments.apps"), DEPLOYMENT)
    assert r == {"Name": "web", "Ready": "2/3", "Up-to-date": 3, "Available": 2, "Age": "3m10s",
                 "Containers": "nginx,log", "Images": "nginx:1.26,busybox",
                 "Selector": "app=web,tier in (back,front)"}


def test_new_deployment_without_status_counts_zero() -> None:
    d = {**DEPLOYMENT, "status": {}}
    r = row(by_group_resource("deployments.apps"), d)
    assert (r["Ready"], r["Up-to-date"], r["Available"]) == ("0/3", 0, 0)


def test_replicaset_row() -> None:
    rs = {**DEPLOYMENT, "metadata": {"name": "web-5d8f", "creationTimestamp": ago(minutes=1)},
          "status": {"replicas": 3, "readyReplicas": 1}}
    r = row(by_group_resource("replicasets.apps"), rs)
    assert (r["Name"], r["Desired"], r["Current"], r["Ready"], r["Age"]) == ("web-5d8f", 3, 3, 1, "60s")
    assert r["Containers"] == "nginx,log"


def test_selector_string_orders_by_key_and_spells_operators() -> None:
    assert selector_string({"matchExpressions": [
        {"key": "z", "operator": "Exists"}, {"key": "b", "operator": "DoesNotExist"},
        {"key": "a", "operator": "NotIn", "values": ["y", "x"]},
    ]}) == "a notin (x,y),!b,z"
    assert selector_string(None) == "" and selector_string({}) == ""


def test_event_row_matches_kubectl_get_events() -> None:
    ev = {
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
        "reason": "Pulled", "type": "Normal", "message": "Successfully pulled image \"nginx\"\n",
        "firstTimestamp": ago(minutes=5), "lastTimestamp": ago(seconds=30), "count": 2,
        "source": {"component": "kubelet", "host": "node-1"},
    }
    r = row(by_group_resource("events"), ev)
    assert r == {"Last Seen": "30s", "Type": "Normal", "Reason": "Pulled", "Object": "pod/web",
                 "Subobject": "spec.containers{nginx}", "Source": "kubelet, node-1",
                 "Message": "Successfully pulled image \"nginx\"", "First Seen": "5m", "Count": 2,
                 "Name": "web.17a"}


def test_singleton_event_without_timestamps_uses_event_time_and_count_one() -> None:
    ev = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "reason": "Starting",
          "type": "Normal", "message": "", "eventTime": "2025-03-01T11:59:00.000000Z",
          "reportingComponent": "node-agent"}
    r = row(by_group_resource("events"), ev)
    assert (r["Last Seen"], r["First Seen"], r["Count"], r["Object"], r["Source"]) == (
        "60s", "60s", 1, "node", "node-agent")


def test_lease_row_shows_holder() -> None:
    lease = {"metadata": {"name": "kube-scheduler", "creationTimestamp": ago(seconds=5)},
             "spec": {"holderIdentity": "sched-1"}}
    assert row(by_group_resource("leases.coordination.k8s.io"), lease) == {
        "Name": "kube-scheduler", "Holder": "sched-1", "Age": "5s"}


def test_partial_object_metadata_list_keeps_list_meta_and_item_metadata() -> None:
    doc = partial_object_metadata_list([pod("a"), pod("b")], list_meta={"resourceVersion": "9"})
    assert doc["kind"] == "PartialObjectMetadataList" and doc["metadata"] == {"resourceVersion": "9"}
    assert [i["metadata"]["name"] for i in doc["items"]] == ["a", "b"]
    assert all(i["kind"] == "PartialObjectMetadata" and "spec" not in i for i in doc["items"])
