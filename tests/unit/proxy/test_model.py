"""Service + EndpointSlices → service ports with ready endpoints (orchestrator/proxy/model.py)."""

from __future__ import annotations

from orchestrator.proxy.model import Endpoint, service_ports, slice_service_key
from tests.unit.proxy.fixtures import endpoint, endpoint_slice, service


def test_one_service_port_per_spec_port_named_as_kube_proxy_names_it() -> None:
    svc = service("web", namespace="shop", ports=[
        {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}])
    ports = service_ports(svc, [])
    assert [(p.name, p.protocol, p.port) for p in ports] == [("shop/web:http", "TCP", 80), ("shop/web:dns", "UDP", 53)]


def test_unnamed_port_is_named_after_the_service_alone() -> None:
    svc = service("web", ports=[{"port": 80}])
    assert [p.name for p in service_ports(svc, [])] == ["default/web"]


def test_endpoints_are_the_ready_addresses_with_the_slice_port_of_the_same_name() -> None:
    svc = service("web")
    slices = [endpoint_slice("web", [endpoint("172.17.0.6"), endpoint("172.17.0.5"),
                                     endpoint("172.17.0.7", ready=False), endpoint("172.17.0.8", ready=None)]),
              # A pod briefly in two slices counts once.
              endpoint_slice("web", [endpoint("172.17.0.5")], name="web-xyz")]
    (port,) = service_ports(svc, slices)
    assert port.endpoints == (Endpoint("172.17.0.5", 8080), Endpoint("172.17.0.6", 8080), Endpoint("172.17.0.8", 8080))


def test_slice_port_of_another_name_or_protocol_gives_no_endpoint() -> None:
    svc = service("web")
    other_name = endpoint_slice("web", [endpoint("172.17.0.5")], ports=[{"name": "metrics", "port": 9090}])
    other_proto = endpoint_slice("web", [endpoint("172.17.0.6")], ports=[{"name": "http", "port": 8080,
                                                                          "protocol": "UDP"}])
    (port,) = service_ports(svc, [other_name, other_proto])
    assert port.endpoints == ()


def test_headless_and_external_name_services_are_not_proxied() -> None:
    headless = service("db", cluster_ip="None")
    external = service("ext", type_="ExternalName", cluster_ip="", externalName="example.com")
    slices = [endpoint_slice("db", [endpoint("172.17.0.5")])]
    assert service_ports(headless, slices) == []
    assert service_ports(external, []) == []


def test_node_port_only_for_node_port_services_and_affinity_timeout_defaults_to_three_hours() -> None:
    np = service("np", type_="NodePort", sessionAffinity="ClientIP",
                 ports=[{"name": "http", "port": 80, "nodePort": 30080}])
    cip = service("cip", ports=[{"name": "http", "port": 80, "nodePort": 30081}])
    (p1,), (p2,) = service_ports(np, []), service_ports(cip, [])
    assert (p1.node_port, p1.session_affinity_seconds) == (30080, 10800)
    assert (p2.node_port, p2.session_affinity_seconds) == (0, 0)


def test_slice_belongs_to_the_service_named_by_its_label() -> None:
    assert slice_service_key(endpoint_slice("web", [], namespace="shop")) == "shop/web"
    assert slice_service_key({"metadata": {"name": "x", "namespace": "shop"}}) is None
