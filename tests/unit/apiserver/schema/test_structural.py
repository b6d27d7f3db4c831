"""Structural schemas: pruning, defaulting and validation of custom objects, in Kubernetes' words."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.apiserver.schema import structural

CRONTAB: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                "image": {"type": "string", "minLength": 1, "maxLength": 20},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "size": {"type": "string", "enum": ["S", "M"]},
                "ports": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"x-kubernetes-int-or-string": True}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "options": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "retries": {"type": "integer", "format": "int32", "default": 3},
                        "mode": {"type": "string", "nullable": True, "default": "fast"},
                    },
                },
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
    },
}


def _messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def _crontab(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c"},
            "spec": {"image": "busybox", **spec}}


# --- validation messages --------------------------------------------------------------------------


def test_a_valid_object_has_no_causes() -> None:
    assert structural.validate(CRONTAB, _crontab(cronSpec="* * * * */5", replicas=3, size="S", ports=[80, "http"])) == []


def test_maximum_is_reported_with_the_value_and_the_bound() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(replicas=20))) == [
        "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"]


def test_minimum_and_exclusive_bounds() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(replicas=0))) == [
        "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"]
    schema = {"type": "object", "properties": {"x": {"type": "number", "minimum": 0, "exclusiveMinimum": True,
                                                     "maximum": 1, "exclusiveMaximum": True}}}
    assert _messages(structural.validate(schema, {"x": 0}, root=False)) == [
        "x: Invalid value: 0: x in body should be greater than 0"]
    assert _messages(structural.validate(schema, {"x": 1.0}, root=False)) == [
        "x: Invalid value: 1: x in body should be less than 1"]
    assert structural.validate(schema, {"x": 0.5}, root=False) == []


def test_enum_lists_the_supported_values() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(size="XL"))) == [
        'spec.size: Unsupported value: "XL": supported values: "S", "M"']


def test_a_missing_required_field_is_a_required_value() -> None:
    obj = _crontab()
    del obj["spec"]["image"]
    causes = structural.validate(CRONTAB, obj)
    assert _messages(causes) == ["spec.image: Required value"]
    assert causes[0].reason == "FieldValueRequired"


def test_a_wrong_type_names_the_expected_and_the_received_type() -> None:
    causes = structural.validate(CRONTAB, _crontab(replicas="three"))
    assert _messages(causes) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"']
    assert causes[0].reason == "FieldValueTypeInvalid"


def test_an_integral_float_is_an_integer_and_bool_is_not() -> None:
    assert structural.validate(CRONTAB, _crontab(replicas=2.0)) == []
    assert structural.validate(CRONTAB, _crontab(replicas=True))[0].message.endswith('must be of type integer: "boolean"')


def test_string_lengths_and_pattern() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(image=""))) == [
        'spec.image: Invalid value: "": spec.image in body should be at least 1 chars long']
    assert _messages(structural.validate(CRONTAB, _crontab(image="x" * 21))) == [
        "spec.image: Too long: may not be more than 20 bytes"]
    assert _messages(structural.validate(CRONTAB, _crontab(cronSpec="every minute"))) == [
        r'spec.cronSpec: Invalid value: "every minute": spec.cronSpec in body should match '
        r"'^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'"]


def test_item_counts_and_item_paths() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(ports=[1, 2, 3]))) == [
        "spec.ports: Too many: 3: must have at most 2 items"]
    assert _messages(structural.validate(CRONTAB, _crontab(ports=[]))) == [
        "spec.ports: Invalid value: 0: spec.ports in body should have at least 1 items"]
    assert _messages(structural.validate(CRONTAB, _crontab(ports=[80, True]))) == [
        'spec.ports[1]: Invalid value: "boolean": spec.ports[1] in body must be of type integer,string: "boolean"']


def test_unique_items_reports_the_first_duplicate() -> None:
    schema = {"type": "array", "uniqueItems": True, "items": {"type": "string"}}
    assert _messages(structural.validate(schema, ["a", "b", "a"], path="spec.tags", root=False)) == [
        'spec.tags: Duplicate value: "a"']


def test_additional_properties_are_validated_by_key() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(labels={"a": "x", "b": 2}))) == [
        'spec.labels.b: Invalid value: "integer": spec.labels.b in body must be of type string: "integer"']


def test_int32_format_bounds() -> None:
    causes = structural.validate(CRONTAB, _crontab(options={"retries": 2**31}))
    assert _messages(causes) == [
        'spec.options.retries: Invalid value: 2147483648: spec.options.retries in body must be of type int32: "2147483648"']


def test_string_formats() -> None:
    schema = {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
                                               "id": {"type": "string", "format": "uuid"}}}
    assert structural.validate(schema, {"when": "2026-01-02T03:04:05Z",
                                        "id": "6f1c8c2a-8e2b-4a57-9a57-3c9b8a0c3f11"}, root=False) == []
    assert [c.field for c in structural.validate(schema, {"when": "yesterday", "id": "x"}, root=False)] == ["when", "id"]


def test_null_is_allowed_only_where_nullable() -> None:
    assert structural.validate(CRONTAB, _crontab(options={"mode": None})) == []
    assert _messages(structural.validate(CRONTAB, _crontab(size=None))) == [
        'spec.size: Invalid value: "null": spec.size in body must be of type string: "null"']


def test_preserve_unknown_fields_accepts_anything_under_it() -> None:
    assert structural.validate(CRONTAB, _crontab(free={"a": [1, {"b": None}]})) == []


def test_embedded_resource_needs_api_version_and_kind() -> None:
    assert _messages(structural.validate(CRONTAB, _crontab(template={"metadata": {}}))) == [
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.kind: Required value: must not be empty",
    ]
    assert structural.validate(CRONTAB, _crontab(template={"apiVersion": "v1", "kind": "Pod", "spec": {}})) == []


def test_every_problem_is_collected() -> None:
    causes = structural.validate(CRONTAB, _crontab(replicas=20, size="XL", image=""))
    assert [c.field for c in causes] == ["spec.image", "spec.replicas", "spec.size"]


def test_metadata_is_left_to_object_meta_except_name_rules() -> None:
    schema = copy.deepcopy(CRONTAB)
    schema["properties"]["metadata"] = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}
    obj = _crontab()
    obj["metadata"] = {"name": "long-name", "labels": {"a": "b"}}
    assert _messages(structural.validate(schema, obj)) == ["metadata.name: Too long: may not be more than 3 bytes"]


def test_combinators() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]}}}
    assert structural.validate(schema, {"x": 11}, root=False) == []
    assert _messages(structural.validate(schema, {"x": 5}, root=False)) == [
        "x: Invalid value: 5: x in body must validate at least one schema (anyOf)"]


# --- defaulting -----------------------------------------------------------------------------------


def test_defaults_fill_absent_fields_recursively() -> None:
    obj = _crontab()
    structural.default(CRONTAB, obj)
    assert obj["spec"]["replicas"] == 1
    # options was absent: its default {} is set, then its own properties' defaults fill it
    assert obj["spec"]["options"] == {"retries": 3, "mode": "fast"}


def test_defaults_never_overwrite_a_value() -> None:
    obj = _crontab(replicas=5, options={"retries": 0})
    structural.default(CRONTAB, obj)
    assert obj["spec"]["replicas"] == 5
    assert obj["spec"]["options"] == {"retries": 0, "mode": "fast"}


def test_null_in_a_non_nullable_field_is_defaulted_or_dropped() -> None:
    obj = _crontab(replicas=None, size=None, options={"mode": None})
    structural.default(CRONTAB, obj)
    assert obj["spec"]["replicas"] == 1  # non-nullable with a default: defaulted
    assert "size" not in obj["spec"]  # non-nullable without default: dropped
    assert obj["spec"]["options"]["mode"] is None  # nullable: kept as null


def test_defaults_are_copies() -> None:
    a, b = _crontab(), _crontab()
    structural.default(CRONTAB, a)
    structural.default(CRONTAB, b)
    a["spec"]["options"]["retries"] = 9
    assert b["spec"]["options"]["retries"] == 3


def test_defaults_apply_inside_arrays_and_maps() -> None:
    schema = {"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "object", "properties": {"p": {"type": "integer", "default": 80}}}},
        "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"w": {"type": "integer", "default": 1}}}},
    }}
    obj: dict[str, Any] = {"list": [{}, {"p": 1}], "map": {"a": {}}}
    structural.default(schema, obj)
    assert obj == {"list": [{"p": 80}, {"p": 1}], "map": {"a": {"w": 1}}}


# --- pruning --------------------------------------------------------------------------------------


def test_unknown_fields_are_pruned_and_reported_in_document_order() -> None:
    obj = _crontab(foo=1, ports=[80])
    obj["spec"]["bar"] = {"x": 1}
    obj["extra"] = True
    assert structural.prune(CRONTAB, obj) == ["spec.foo", "spec.bar", "extra"]
    assert obj == {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c"},
                   "spec": {"image": "busybox", "ports": [80]}}


def test_preserve_unknown_fields_keeps_the_subtree() -> None:
    obj = _crontab(free={"anything": {"deep": [1, 2]}})
    assert structural.prune(CRONTAB, obj) == []
    assert obj["spec"]["free"] == {"anything": {"deep": [1, 2]}}


def test_metadata_is_pruned_to_object_meta() -> None:
    obj = _crontab()
    obj["metadata"]["color"] = "blue"
    assert structural.prune(CRONTAB, obj) == ["metadata.color"]
    assert obj["metadata"] == {"name": "c"}


def test_embedded_resources_keep_type_meta_and_prune_their_metadata() -> None:
    schema = {"type": "object", "properties": {"t": {"type": "object", "x-kubernetes-embedded-resource": True,
                                                     "properties": {"spec": {"type": "object"}}}}}
    obj = {"t": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bogus": 1}, "spec": {}, "other": 1}}
    assert structural.prune(schema, obj, root=False) == ["t.metadata.bogus", "t.other"]
    assert obj == {"t": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}


def test_object_without_properties_is_emptied_and_array_items_are_pruned() -> None:
    schema = {"type": "object", "properties": {
        "empty": {"type": "object"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }}
    obj = {"empty": {"x": 1}, "items": [{"a": "1", "b": 2}]}
    assert structural.prune(schema, obj, root=False) == ["empty.x", "items[0].b"]
    assert obj == {"empty": {}, "items": [{"a": "1"}]}


# --- the schema itself ----------------------------------------------------------------------------

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def test_the_crontab_schema_is_structural() -> None:
    assert structural.structural_errors(CRONTAB, ROOT) == []


def test_a_field_without_a_type_is_not_structural() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"foo": {}}}}}
    assert _messages(structural.structural_errors(schema, ROOT)) == [
        f"{ROOT}.properties[spec].properties[foo].type: Required value: must not be empty for specified object fields"]


def test_array_items_need_a_type_and_the_root_must_be_an_object() -> None:
    schema = {"type": "string"}
    assert _messages(structural.structural_errors(schema, ROOT)) == [
        f'{ROOT}.type: Invalid value: "string": must be object at the root']
    schema = {"type": "object", "properties": {"l": {"type": "array", "items": {"minimum": 1}}}}
    assert _messages(structural.structural_errors(schema, ROOT)) == [
        f"{ROOT}.properties[l].items.type: Required value: must not be empty for specified array items"]
    assert _messages(structural.structural_errors({}, ROOT)) == [f"{ROOT}.type: Required value: must not be empty at the root"]


@pytest.mark.parametrize("node", [{"x-kubernetes-preserve-unknown-fields": True}, {"x-kubernetes-int-or-string": True}])
def test_preserve_and_int_or_string_need_no_type(node: dict[str, Any]) -> None:
    assert structural.structural_errors({"type": "object", "properties": {"x": node}}, ROOT) == []


def test_forbidden_keywords_and_bad_types() -> None:
    schema = {"type": "object", "properties": {
        "a": {"$ref": "#/x"},
        "b": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
        "c": {"type": "thing"},
        "d": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": {"type": "string"}},
    }}
    fields = [c.field for c in structural.structural_errors(schema, ROOT)]
    assert fields == [
        f"{ROOT}.properties[a].$ref", f"{ROOT}.properties[a].type",
        f"{ROOT}.properties[b].uniqueItems",
        f"{ROOT}.properties[c].type",
        f"{ROOT}.properties[d].additionalProperties",
    ]


def test_metadata_may_only_restrict_name_and_generate_name() -> None:
    schema = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 10}, "labels": {"type": "object"}}}}}
    assert [c.field for c in structural.structural_errors(schema, ROOT)] == [f"{ROOT}.properties[metadata].properties[labels]"]


def test_a_default_must_be_valid_against_its_schema() -> None:
    schema = {"type": "object", "properties": {"r": {"type": "integer", "maximum": 5, "default": 9}}}
    assert _messages(structural.structural_errors(schema, ROOT)) == [
        f"{ROOT}.properties[r].default: Invalid value: 9: default in body should be less than or equal to 5"]


def test_value_validations_in_combinators_need_no_type() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer", "anyOf": [{"minimum": 1}, {"maximum": -1}]}}}
    assert structural.structural_errors(schema, ROOT) == []


# --- junk in, causes out: a CRD author can write anything under openAPIV3Schema ---------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False) | st.sampled_from(
        ["object", "array", "string", "integer", "x", "^a+$", "(", "int32", "date-time"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "properties", "items", "required", "enum", "default", "maximum", "minLength",
                         "pattern", "format", "additionalProperties", "nullable", "allOf", "anyOf", "not",
                         "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
                         "x-kubernetes-embedded-resource", "metadata", "spec", "a"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None)
@given(schema=st.dictionaries(st.sampled_from(["type", "properties", "items", "required", "default", "a"]), _json,
                              max_size=4), value=_json)
def test_no_schema_and_no_value_makes_it_raise(schema: dict[str, Any], value: Any) -> None:
    structural.structural_errors(schema, "s")
    structural.validate(schema, copy.deepcopy(value))
    structural.validate(schema, copy.deepcopy(value), root=False)
    obj = copy.deepcopy(value)
    if isinstance(obj, dict):
        structural.prune(schema, obj)
        structural.default(schema, obj)
