"""Objects through the kind's schema: what a configuration sets, what changed, merging, removal."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.apiserver.fieldmanager import typed

POD = typed.schema_for("Pod")
DEPLOYMENT = typed.schema_for("Deployment")
C = ("f:spec", "f:containers")


def app(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.25", **extra}


def test_field_set_names_list_items_by_key_and_ports_by_port_and_default_protocol() -> None:
    config = {"spec": {"containers": [app(ports=[{"containerPort": 80}])], "tolerations": [{"key": "k"}]},
              "metadata": {"finalizers": ["x/y"], "labels": {"a": "b"}}}
    got = typed.field_set(config, POD)
    item = (*C, 'k:{"name":"app"}')
    port = (*item, "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}')
    assert got == {
        item, (*item, "f:name"), (*item, "f:image"), port, (*port, "f:containerPort"),
        ("f:spec", "f:tolerations"),  # atomic upstream: owned as a whole
        ("f:metadata", "f:finalizers", 'v:"x/y"'), ("f:metadata", "f:labels", "f:a"),
    }


def test_field_set_owns_an_atomic_selector_as_one_field() -> None:
    got = typed.field_set({"spec": {"selector": {"matchLabels": {"app": "web"}}}}, DEPLOYMENT)
    assert got == {("f:spec", "f:selector")}


def test_a_configuration_with_an_element_without_its_key_is_refused() -> None:
    with pytest.raises(typed.SchemaError, match='omits key field "name"'):
        typed.field_set({"spec": {"containers": [{"image": "x"}]}}, POD)
    with pytest.raises(typed.SchemaError, match="duplicate entries"):
        typed.field_set({"spec": {"containers": [app(), app()]}}, POD)


def test_compare_reports_every_node_of_an_added_item_and_the_changed_scalar() -> None:
    old = {"spec": {"containers": [app()]}}
    new = {"spec": {"containers": [app(image="nginx:1.26"), {"name": "side", "image": "busybox"}]}}
    result = typed.compare(old, new, POD)
    side = (*C, 'k:{"name":"side"}')
    assert result.modified == {(*C, 'k:{"name":"app"}', "f:image")}
    assert result.added == {side, (*side, "f:name"), (*side, "f:image")}
    assert result.removed == set()


def test_compare_of_equal_objects_is_empty_and_a_reordered_keyed_list_is_no_change() -> None:
    a = {"spec": {"containers": [app(), {"name": "b", "image": "x"}]}}
    b = {"spec": {"containers": [{"name": "b", "image": "x"}, app()]}}
    assert typed.compare(a, b, POD).empty()


def test_unidentifiable_stored_lists_compare_as_atomic_instead_of_failing() -> None:
    old = {"spec": {"containers": [{"image": "a"}]}}
    new = {"spec": {"containers": [{"image": "b"}]}}
    assert typed.compare(old, new, POD).modified == {C}


def test_merge_matches_containers_by_name_keeps_live_only_fields_and_null_removes() -> None:
    live = {"spec": {"containers": [app(imagePullPolicy="Always"), {"name": "side", "image": "busybox"}],
                     "nodeName": "n1", "hostname": "h"}}
    config = {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}], "hostname": None}}
    merged = typed.merge(live, config, POD)
    assert merged["spec"]["containers"] == [
        {"name": "app", "image": "nginx:1.26", "imagePullPolicy": "Always"},
        {"name": "side", "image": "busybox"},
    ]
    assert merged["spec"]["nodeName"] == "n1" and "hostname" not in merged["spec"]
    assert live["spec"]["containers"][0]["image"] == "nginx:1.25"  # inputs untouched


def test_merge_orders_items_as_upstream_two_finger_walk() -> None:
    def names(*ns: str) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": n, "image": "i"} for n in ns]}}

    merged = typed.merge(names("a", "b", "c"), names("c", "a", "d"), POD)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["b", "c", "a", "d"]


def test_merge_replaces_atomic_lists_and_unions_sets() -> None:
    live = {"spec": {"tolerations": [{"key": "a"}]}, "metadata": {"finalizers": ["a"]}}
    config = {"spec": {"tolerations": [{"key": "b"}]}, "metadata": {"finalizers": ["b"]}}
    merged = typed.merge(live, config, POD)
    assert merged["spec"]["tolerations"] == [{"key": "b"}]
    assert merged["metadata"]["finalizers"] == ["a", "b"]


def test_remove_takes_a_list_item_by_key_and_a_field_with_its_subtree() -> None:
    obj = {"spec": {"containers": [app(), {"name": "side", "image": "x"}], "securityContext": {"runAsUser": 1}},
           "metadata": {"finalizers": ["a", "b"]}}
    typed.remove(obj, {(*C, 'k:{"name":"app"}'), ("f:spec", "f:securityContext"),
                       ("f:metadata", "f:finalizers", 'v:"a"'), ("f:spec", "f:absent", "f:x")}, POD)
    assert obj == {"spec": {"containers": [{"name": "side", "image": "x"}]}, "metadata": {"finalizers": ["b"]}}


@pytest.mark.parametrize("kind", ["Pod", "Deployment"])
def test_the_one_walk_creation_tree_equals_comparing_with_the_zero_object(kind: str) -> None:
    from orchestrator.apiserver.fieldmanager import fieldpath
    from orchestrator.apiserver.fieldmanager.manager import _ZERO

    spec = {"containers": [app(ports=[{"containerPort": 80}], env=[{"name": "A", "value": "1"}], resources={}),
                           {"name": "b", "image": "x", "args": ["a"]}],
            "tolerations": [{"key": "k"}], "nodeSelector": {"a": "b"}, "securityContext": {}}
    obj: dict[str, Any] = {"metadata": {"labels": {"a": "b"}, "finalizers": ["f"]}}
    if kind == "Pod":
        obj["spec"] = spec
    else:
        obj["spec"] = {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "strategy": {"type": "Recreate"},
                       "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}
    schema, zero = typed.schema_for(kind), _ZERO[kind]
    slow = typed.compare(zero, obj, schema)
    assert typed.creation_tree(obj, zero, schema) == fieldpath.to_fields_v1(slow.added | slow.modified)


def test_a_custom_resource_schema_comes_from_its_openapi_list_markers() -> None:
    schema = typed.schema_from_openapi({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "proto"],
                  "items": {"type": "object", "properties": {"port": {"type": "integer"},
                                                             "proto": {"type": "string", "default": "TCP"}}}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}},
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
    }}}})
    got = typed.field_set({"spec": {"ports": [{"port": 80}], "tags": ["a"], "args": ["x"],
                                    "selector": {"a": "b"}}, "metadata": {"finalizers": ["f"]}}, schema)
    port = ("f:spec", "f:ports", 'k:{"port":80,"proto":"TCP"}')
    assert got == {port, (*port, "f:port"), ("f:spec", "f:tags", 'v:"a"'), ("f:spec", "f:args"),
                   ("f:spec", "f:selector"), ("f:metadata", "f:finalizers", 'v:"f"')}
