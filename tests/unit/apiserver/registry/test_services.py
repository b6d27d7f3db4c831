"""The Service strategy: defaults per type, validation messages, update rules, the Table row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.api.errors import Invalid
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry import strategy_for
from orchestrator.apiserver.registry.rest import prepare_create, prepare_update

SERVICES = strategy_for(by_group_resource("services"))


def _create(**spec: Any) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec}
    return prepare_create(SERVICES, body, namespace="ns", field_validation="Strict").obj


def test_each_type_gets_the_defaults_kubernetes_gives_it() -> None:
    node_port = _create(type="NodePort", ports=[{"port": 80}])["spec"]
    assert node_port["externalTrafficPolicy"] == "Cluster" and node_port["ports"][0]["targetPort"] == 80
    lb = _create(type="LoadBalancer", ports=[{"port": 80}])
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True and lb["status"] == {"loadBalancer": {}}
    external = _create(type="ExternalName", externalName="db.example.com")["spec"]
    assert "ipFamilies" not in external and "internalTrafficPolicy" not in external
    sticky = _create(ports=[{"port": 80}], sessionAffinity="ClientIP")["spec"]
    assert sticky["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"type": "ExternalName"}, "spec.externalName", "Required value"),
    ({"type": "ExternalName", "externalName": "a.b", "clusterIP": "10.96.0.5"}, "spec.clusterIPs",
     "Forbidden: may not be set for ExternalName services"),
    ({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}, "spec.clusterIPs[0]",
     "Invalid value: \"None\": may not be set to 'None' for NodePort services"),
    ({"clusterIP": "10.96.0.300", "ports": [{"port": 80}]}, "spec.clusterIPs[0]",
     'Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ({"ports": [{"port": 80, "targetPort": "no_such-NAME"}]}, "spec.ports[0].targetPort",
     'Invalid value: "no_such-NAME": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'),
    ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "spec.ports[0].protocol",
     'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
])
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(Invalid) as invalid:
        _create(**spec)
    assert (field, message) in [(c.field, c.message) for c in invalid.value.causes]


def test_an_update_keeps_allocated_values_it_leaves_out_and_node_port_to_cluster_ip_drops_them() -> None:
    old = _create(type="NodePort", ports=[{"name": "http", "port": 80}])
    old["spec"].update(clusterIP="10.96.7.7", clusterIPs=["10.96.7.7"])
    old["spec"]["ports"][0]["nodePort"] = 30500
    old["metadata"]["resourceVersion"] = "5"
    renumbered = {**old, "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 81}]}}
    spec = prepare_update(SERVICES, old, renumbered, field_validation="Strict").obj["spec"]
    assert spec["clusterIP"] == "10.96.7.7" and spec["ports"][0]["nodePort"] == 30500
    cluster_ip = {**old, "spec": {**old["spec"], "type": "ClusterIP"}}
    spec = prepare_update(SERVICES, old, cluster_ip, field_validation="Strict").obj["spec"]
    assert "nodePort" not in spec["ports"][0] and "externalTrafficPolicy" not in spec


def test_the_row_shows_pending_for_a_load_balancer_and_node_ports_in_ports() -> None:
    lb = _create(type="LoadBalancer", selector={"b": "2", "a": "1"},
                 ports=[{"name": "a", "port": 80, "nodePort": 31000}, {"name": "b", "port": 53, "protocol": "UDP"}])
    cells, _ = SERVICES.row(lb, dt.datetime.now(dt.UTC))
    assert cells[1:5] == ["LoadBalancer", "<none>", "<pending>", "80:31000/TCP,53/UDP"] and cells[6] == "a=1,b=2"
