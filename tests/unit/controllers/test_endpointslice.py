"""The Endpoints and EndpointSlice controllers' pure part: endpoints per pod, ports per pod, slices of 100."""

from __future__ import annotations

from typing import Any

from orchestrator.controllers.endpoints import subsets_for
from orchestrator.controllers.endpointslice import desired_slices


def _service(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}}


def _pod(i: int, *, port: int = 8080, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"p{i:03}", "namespace": "ns", "uid": f"u{i}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta,
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"podIP": f"10.244.{i // 250}.{i % 250 + 1}",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_two_hundred_fifty_pods_make_three_slices_of_at_most_one_hundred() -> None:
    slices = desired_slices(_service(), [_pod(i) for i in range(250)])
    assert [len(endpoints) for _, endpoints in slices] == [100, 100, 50]
    assert all(ports == [{"name": "http", "port": 8080, "protocol": "TCP"}] for ports, _ in slices)


def test_a_named_target_port_splits_pods_by_the_number_they_serve_and_skips_pods_without_it() -> None:
    no_port = _pod(3)
    no_port["spec"]["containers"][0]["ports"] = []
    slices = desired_slices(_service(), [_pod(1), _pod(2, port=9090), no_port])
    # A pod without the port still is an endpoint, in a slice with no ports (as upstream's reconciler).
    assert sorted((ports[0]["port"] if ports else 0, len(e)) for ports, e in slices) == [(0, 1), (8080, 1), (9090, 1)]


def test_conditions_of_unready_and_terminating_pods() -> None:
    [(_, endpoints)] = desired_slices(_service(), [_pod(1, ready=False), _pod(2, deleting=True)])
    assert [e["conditions"] for e in endpoints] == [
        {"ready": False, "serving": False, "terminating": False},
        {"ready": False, "serving": True, "terminating": True}]
    [(_, published)] = desired_slices(_service(publishNotReadyAddresses=True), [_pod(1, ready=False)])
    assert published[0]["conditions"]["ready"] is True


def test_a_service_without_pods_gets_one_empty_placeholder_slice() -> None:
    assert desired_slices(_service(), []) == [([], [])]


def test_endpoints_put_unready_pods_in_not_ready_addresses_and_leave_terminating_ones_out() -> None:
    [subset] = subsets_for(_service(), [_pod(2), _pod(1, ready=False), _pod(3, deleting=True)])
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.0.3"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.0.2"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
