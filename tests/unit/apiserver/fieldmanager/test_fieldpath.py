"""Field paths: FieldsV1 both ways, the conflict spelling, membership without decoding."""

from __future__ import annotations

import pytest

from orchestrator.apiserver.fieldmanager import fieldpath

CONTAINER = ("f:spec", "f:containers", 'k:{"name":"app"}')


def test_fields_v1_marks_a_member_with_children_by_a_dot() -> None:
    paths = {CONTAINER, (*CONTAINER, "f:image"), ("f:spec", "f:replicas")}
    tree = fieldpath.to_fields_v1(paths)
    assert tree == {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}, "f:replicas": {}}}
    assert fieldpath.from_fields_v1(tree) == paths


def test_fields_v1_is_written_in_upstream_order_dot_fields_keys_values() -> None:
    tree = fieldpath.to_fields_v1({("f:b",), ("f:a",), ("f:l", 'v:"x"'), ("f:l",), ("f:l", 'k:{"name":"a"}')})
    assert list(tree) == ["f:a", "f:b", "f:l"]
    assert list(tree["f:l"]) == [".", 'k:{"name":"a"}', 'v:"x"']


def test_a_path_inserted_below_an_existing_leaf_turns_it_into_a_member_with_children() -> None:
    tree = fieldpath.to_fields_v1([("f:a",), ("f:a", "f:b")])
    assert tree == {"f:a": {".": {}, "f:b": {}}}


@pytest.mark.parametrize("bad", [[], {"x:y": {}}, {"f:a": "leaf"}])
def test_malformed_fields_v1_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        fieldpath.from_fields_v1(bad)


def test_keys_are_sorted_compact_json_and_print_as_upstream() -> None:
    element = fieldpath.key({"protocol": "TCP", "containerPort": 80})
    assert element == 'k:{"containerPort":80,"protocol":"TCP"}'
    path = ("f:spec", "f:ports", element, "f:name")
    assert fieldpath.to_string(path) == '.spec.ports[containerPort=80,protocol="TCP"].name'
    assert fieldpath.to_string(("f:metadata", "f:finalizers", fieldpath.value("a/b"))) == '.metadata.finalizers[="a/b"]'


def test_has_any_finds_members_but_not_paths_only_passed_through() -> None:
    tree = fieldpath.to_fields_v1({(*CONTAINER, "f:image")})
    assert fieldpath.has_any(tree, {(*CONTAINER, "f:image")})
    assert not fieldpath.has_any(tree, {CONTAINER})  # on the way to image, not owned itself
    assert not fieldpath.has_any(tree, {("f:spec", "f:replicas")})


def test_named_parents_are_added_but_list_items_on_the_way_are_not() -> None:
    out = fieldpath.with_named_parents({(*CONTAINER, "f:image")})
    assert ("f:spec",) in out and ("f:spec", "f:containers") in out
    assert CONTAINER not in out
