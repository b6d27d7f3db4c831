"""Custom resources checked against their CRD's structural schema: prune, default, validate.

A CustomResourceDefinition carries an OpenAPI v3 schema per version. Kubernetes requires it to
be *structural* (every field has a ``type``, except under ``x-kubernetes-preserve-unknown-fields``
or ``x-kubernetes-int-or-string``), because the same schema drives three steps applied to every
custom object written, in this order:

1. ``prune``    fields the schema does not declare are dropped (``fieldValidation=Strict`` turns
                them into a 400 naming ``unknown field "spec.foo"``; ``Warn`` into warnings);
                ``x-kubernetes-preserve-unknown-fields: true`` keeps a subtree as it is.
2. ``default``  ``default`` values fill absent fields, top-down, so a defaulted object's own
                properties get their defaults too; a ``null`` in a non-nullable field counts as
                absent when the field has a default and is dropped when it has none.
3. ``validate`` types, ``required``, ``enum``, bounds, lengths, ``pattern``, item counts,
                ``format`` (int32/int64 ranges and a few string formats); each failure is a
                ``Cause`` with the field path and Kubernetes' wording, e.g.
                ``spec.replicas: Invalid value: 20: spec.replicas in body should be less than
                or equal to 10`` or ``spec.size: Unsupported value: "XL": supported values: "S", "M"``.

``structural_errors`` checks a schema itself (the CRD strategy's job): the rules above plus the
keywords Kubernetes forbids in CRDs (``$ref``, ``patternProperties``, ``uniqueItems: true``, ...).

Everything here is pure: documents in, documents or causes out. Paths are Kubernetes field
paths: ``spec.items[0].name`` for list items, ``spec.labels.app`` for map values.

Kubernetes equivalent: k8s.io/apiextensions-apiserver/pkg/apiserver/schema (structural.go,
validation.go, pruning/algorithm.go, defaulting/algorithm.go, defaulting/prunenulls.go),
k8s.io/apiextensions-apiserver/pkg/apiserver/validation/validation.go, k8s.io/kube-openapi/pkg/validation
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from orchestrator.api.errors import Cause
from orchestrator.api.models.meta import ObjectMeta
from orchestrator.api.models.meta import prune as prune_model
from orchestrator.api.models.meta import unknown_fields as unknown_model_fields

Schema = Mapping[str, Any]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
EMBEDDED = "x-kubernetes-embedded-resource"
TYPES = ("array", "boolean", "integer", "number", "object", "string")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Fields of every object the schema cannot take away: they are the API machinery's.
TYPE_META = ("apiVersion", "kind")


# --- small helpers --------------------------------------------------------------------------------------


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def type_name(value: Any) -> str:
    """The JSON type of a decoded value, as kube-openapi names it in type errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_type(value: Any, wanted: str) -> bool:
    actual = type_name(value)
    return actual == wanted or (wanted == "number" and actual == "integer")


def _num(value: Any) -> str:
    """Numbers as Go's %v prints them: 10, not 10.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: Any) -> str:
    """A bad value in a field error, Go-style: strings quoted, numbers bare, others as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _in_body(path: str) -> str:
    return f"{path or 'body'} in body"


@lru_cache(maxsize=512)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None


def _props(schema: Schema) -> Mapping[str, Any]:
    """``properties`` when it is an object of schemas (a bad one is reported by structural_errors)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {k: v for k, v in properties.items() if isinstance(v, Mapping)}


def _list(schema: Schema, key: str) -> list[Any]:
    value = schema.get(key)
    return value if isinstance(value, list) else []


def _int(schema: Schema, key: str) -> int | None:
    value = schema.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(schema: Schema, key: str) -> int | float | None:
    value = schema.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- 1. pruning -------------------------------------------------------------------------------------------


def prune(schema: Schema, obj: dict[str, Any], *, root: bool = True) -> list[str]:
    """Drop, in place, every field ``schema`` does not declare; return their paths in document
    order. At the root (``root=True``) apiVersion and kind are kept and metadata is pruned to
    ObjectMeta, as for every Kubernetes object."""
    found: list[str] = []
    if root:
        _prune_object(schema, obj, "", found, embedded=True)
    else:
        _prune(schema, obj, "", found)
    return found


def _prune(schema: Schema, value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, dict):
        _prune_object(schema, value, path, found, embedded=bool(schema.get(EMBEDDED)))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _prune(items, item, f"{path}[{i}]", found)


def _prune_object(schema: Schema, obj: dict[str, Any], path: str, found: list[str], *, embedded: bool) -> None:
    properties = _props(schema)
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get(PRESERVE))
    for key in list(obj):
        value = obj[key]
        here = join(path, key)
        if embedded and key in TYPE_META:
            continue
        if embedded and key == "metadata" and "metadata" not in properties:
            if isinstance(value, dict):
                found.extend(join(path, p) for p in unknown_model_fields(ObjectMeta, value, "metadata"))
                obj[key] = _prune_metadata(value)
            continue
        if key in properties:
            if embedded and key == "metadata" and isinstance(value, dict):
                found.extend(join(path, p) for p in unknown_model_fields(ObjectMeta, value, "metadata"))
                obj[key] = value = _prune_metadata(value)
            _prune(properties[key], value, here, found)
        elif isinstance(additional, Mapping):
            _prune(additional, value, here, found)
        elif additional is True or preserve:
            continue
        else:
            found.append(here)
            del obj[key]


def _prune_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    pruned = prune_model(ObjectMeta, meta)
    # prune_model drops nulls too; metadata keeps the keys it had otherwise.
    return pruned if isinstance(pruned, dict) else meta


# --- 2. defaulting ----------------------------------------------------------------------------------------


def default(schema: Schema, value: Any) -> None:
    """Fill ``default`` values into absent fields of ``value``, in place and top-down."""
    if isinstance(value, dict):
        _default_object(schema, value)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                default(items, item)


def _default_object(schema: Schema, obj: dict[str, Any]) -> None:
    properties = _props(schema)
    for key, prop in properties.items():
        if key not in obj:
            if "default" in prop:
                obj[key] = copy.deepcopy(prop["default"])
        elif obj[key] is None and not prop.get("nullable"):
            if "default" in prop:
                obj[key] = copy.deepcopy(prop["default"])
            else:
                del obj[key]  # a null where null is not allowed means "absent"
    additional = schema.get("additionalProperties")
    for key in list(obj):
        value = obj[key]
        prop = properties.get(key)
        if prop is None and isinstance(additional, Mapping):
            if value is None and not additional.get("nullable"):
                if "default" in additional:
                    obj[key] = value = copy.deepcopy(additional["default"])
                else:
                    del obj[key]
                    continue
            prop = additional
        if isinstance(prop, Mapping):
            default(prop, value)


# --- 3. validation ----------------------------------------------------------------------------------------


def validate(schema: Schema, obj: Any, *, path: str = "", root: bool = True) -> list[Cause]:
    """Every way ``obj`` breaks ``schema``, with field paths. At the root, ``metadata`` is left
    to ObjectMeta validation except for the name rules a schema may add."""
    causes: list[Cause] = []
    if root and isinstance(obj, dict):
        _validate_root(schema, obj, causes)
    else:
        _validate(schema, obj, path, causes)
    return causes


def _validate_root(schema: Schema, obj: dict[str, Any], causes: list[Cause]) -> None:
    # metadata: only name and generateName restrictions count (structural schemas may not say more).
    properties = dict(_props(schema))
    meta_schema = properties.pop("metadata", None)
    if isinstance(meta_schema, Mapping) and isinstance(obj.get("metadata"), dict):
        meta = obj["metadata"]
        for key in ("name", "generateName"):
            sub = _props(meta_schema).get(key)
            if isinstance(sub, Mapping) and key in meta:
                _validate(sub, meta[key], f"metadata.{key}", causes)
    rest = {k: v for k, v in obj.items() if k != "metadata"}
    required = [r for r in _list(schema, "required") if r != "metadata"]
    _validate({**schema, "properties": properties, "required": required}, rest, "", causes)


def _type_invalid(causes: list[Cause], path: str, value: Any, expected: str) -> None:
    actual = type_name(value)
    causes.append(Cause(path, f"Invalid value: {_shown(actual)}: {_in_body(path)} must be of type {expected}: {_shown(actual)}",
                        "FieldValueTypeInvalid"))


def _invalid(causes: list[Cause], path: str, value: Any, detail: str) -> None:
    causes.append(Cause(path, f"Invalid value: {_shown(value)}: {detail}", "FieldValueInvalid"))


def _validate(schema: Schema, value: Any, path: str, causes: list[Cause]) -> None:
    if value is None:
        if schema.get("nullable") or (schema.get(PRESERVE) and not schema.get("type")):
            return
        if schema.get("type") or schema.get(INT_OR_STRING):
            _type_invalid(causes, path, value, schema.get("type") or "integer,string")
        return
    if schema.get(INT_OR_STRING):
        if type_name(value) not in ("integer", "string"):
            _type_invalid(causes, path, value, "integer,string")
            return
    wanted = schema.get("type")
    if isinstance(wanted, str) and wanted in TYPES and not _is_type(value, wanted):
        _type_invalid(causes, path, value, wanted)
        return
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and not any(_equal(value, e) for e in enum):
        listed = ", ".join(_shown(e) for e in enum)
        causes.append(Cause(path, f"Unsupported value: {_shown(value)}: supported values: {listed}",
                            "FieldValueNotSupported"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(schema, value, path, causes)
    elif isinstance(value, str):
        _validate_string(schema, value, path, causes)
    elif isinstance(value, list):
        _validate_array(schema, value, path, causes)
    elif isinstance(value, dict):
        _validate_object(schema, value, path, causes)
    _validate_combinators(schema, value, path, causes)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _validate_number(schema: Schema, value: int | float, path: str, causes: list[Cause]) -> None:
    maximum, minimum = _number(schema, "maximum"), _number(schema, "minimum")
    if maximum is not None:
        if schema.get("exclusiveMaximum") and value >= maximum:
            _invalid(causes, path, value, f"{_in_body(path)} should be less than {_num(maximum)}")
        elif value > maximum:
            _invalid(causes, path, value, f"{_in_body(path)} should be less than or equal to {_num(maximum)}")
    if minimum is not None:
        if schema.get("exclusiveMinimum") and value <= minimum:
            _invalid(causes, path, value, f"{_in_body(path)} should be greater than {_num(minimum)}")
        elif value < minimum:
            _invalid(causes, path, value, f"{_in_body(path)} should be greater than or equal to {_num(minimum)}")
    multiple = _number(schema, "multipleOf")
    if multiple is not None and multiple > 0 and (value / multiple) % 1 != 0:
        _invalid(causes, path, value, f"{_in_body(path)} should be a multiple of {_num(multiple)}")
    fmt = schema.get("format")
    if fmt in ("int32", "int64") and schema.get("type") == "integer":
        low, high = INT32 if fmt == "int32" else INT64
        if not low <= value <= high:
            _invalid(causes, path, value, f"{_in_body(path)} must be of type {fmt}: {_shown(_num(value))}")


_FORMATS: dict[str, Any] = {}


def _format(name: str) -> Any:
    def register(check: Any) -> Any:
        _FORMATS[name] = check
        return check
    return register


@_format("date-time")
def _date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper()


@_format("date")
def _date(text: str) -> bool:
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None and _date_time(text + "T00:00:00Z")


@_format("uuid")
def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


@_format("ipv4")
def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@_format("ipv6")
def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


@_format("cidr")
def _cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


@_format("byte")
def _byte(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


def _validate_string(schema: Schema, value: str, path: str, causes: list[Cause]) -> None:
    max_length, min_length = _int(schema, "maxLength"), _int(schema, "minLength")
    length = len(value)
    if max_length is not None and length > max_length:
        causes.append(Cause(path, f"Too long: may not be more than {max_length} bytes", "FieldValueTooLong"))
    if min_length is not None and length < min_length:
        _invalid(causes, path, value, f"{_in_body(path)} should be at least {min_length} chars long")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        compiled = _pattern(pattern)
        if compiled is not None and compiled.search(value) is None:
            _invalid(causes, path, value, f"{_in_body(path)} should match '{pattern}'")
    fmt = schema.get("format")
    check = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    if check is not None and not check(value):
        _invalid(causes, path, value, f"{_in_body(path)} must be of type {fmt}: {_shown(value)}")


def _validate_array(schema: Schema, value: list[Any], path: str, causes: list[Cause]) -> None:
    max_items, min_items = _int(schema, "maxItems"), _int(schema, "minItems")
    if max_items is not None and len(value) > max_items:
        causes.append(Cause(path, f"Too many: {len(value)}: must have at most {max_items} items", "FieldValueTooMany"))
    if min_items is not None and len(value) < min_items:
        _invalid(causes, path, len(value), f"{_in_body(path)} should have at least {min_items} items")
    if schema.get("uniqueItems"):
        seen: list[str] = []
        for item in value:
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                causes.append(Cause(path, f"Duplicate value: {_shown(item)}", "FieldValueDuplicate"))
                break
            seen.append(key)
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            _validate(items, item, f"{path}[{i}]", causes)


def _validate_object(schema: Schema, value: dict[str, Any], path: str, causes: list[Cause]) -> None:
    for key in _list(schema, "required"):
        if isinstance(key, str) and key not in value:
            causes.append(Cause(join(path, key), "Required value", "FieldValueRequired"))
    max_props, min_props = _int(schema, "maxProperties"), _int(schema, "minProperties")
    if max_props is not None and len(value) > max_props:
        causes.append(Cause(path, f"Too many: {len(value)}: must have at most {max_props} items", "FieldValueTooMany"))
    if min_props is not None and len(value) < min_props:
        _invalid(causes, path, len(value), f"{_in_body(path)} should have at least {min_props} properties")
    if schema.get(EMBEDDED):
        for key in TYPE_META:
            if not value.get(key):
                causes.append(Cause(join(path, key), "Required value: must not be empty", "FieldValueRequired"))
        meta = value.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            _type_invalid(causes, join(path, "metadata"), meta, "object")
    properties = _props(schema)
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        prop = properties.get(key)
        if prop is None and isinstance(additional, Mapping):
            prop = additional
        if isinstance(prop, Mapping):
            _validate(prop, item, join(path, key), causes)


def _validate_combinators(schema: Schema, value: Any, path: str, causes: list[Cause]) -> None:
    """allOf/anyOf/oneOf/not: value validations that structural schemas may add."""
    for sub in _list(schema, "allOf"):
        if isinstance(sub, Mapping):
            _validate(sub, value, path, causes)
    any_of = [s for s in _list(schema, "anyOf") if isinstance(s, Mapping)]
    if any_of and not any(not _causes_of(s, value, path) for s in any_of):
        _invalid(causes, path, value, f"{_in_body(path)} must validate at least one schema (anyOf)")
    one_of = [s for s in _list(schema, "oneOf") if isinstance(s, Mapping)]
    if one_of:
        matched = sum(1 for s in one_of if not _causes_of(s, value, path))
        if matched != 1:
            _invalid(causes, path, value, f"{_in_body(path)} must validate one and only one schema (oneOf)")
    negated = schema.get("not")
    if isinstance(negated, Mapping) and not _causes_of(negated, value, path):
        _invalid(causes, path, value, f"{_in_body(path)} must not validate the schema (not)")


def _causes_of(schema: Schema, value: Any, path: str) -> list[Cause]:
    found: list[Cause] = []
    _validate(schema, value, path, found)
    return found


# --- the schema itself ------------------------------------------------------------------------------------

# Kubernetes refuses these in CRD schemas (apiextensions validation.go), each for its reason.
_FORBIDDEN_KEYWORDS = {
    "$ref": "$ref is not supported",
    "definitions": "definitions are not supported",
    "dependencies": "dependencies are not supported",
    "patternProperties": "patternProperties is not supported",
    "additionalItems": "additionalItems cannot be set to false",
    "$schema": "$schema is not supported",
    "id": "id is not supported",
}
_ALLOWED_METADATA = {"name", "generateName"}
# The JSON type each keyword's own value must have (JSONSchemaProps' Go types).
_KEYWORD_TYPES = {
    "type": "string", "format": "string", "pattern": "string", "description": "string", "title": "string",
    "maximum": "number", "minimum": "number", "multipleOf": "number",
    "exclusiveMaximum": "boolean", "exclusiveMinimum": "boolean", "nullable": "boolean", "uniqueItems": "boolean",
    "maxLength": "integer", "minLength": "integer", "maxItems": "integer", "minItems": "integer",
    "maxProperties": "integer", "minProperties": "integer",
    "required": "array", "enum": "array", "allOf": "array", "anyOf": "array", "oneOf": "array",
    "properties": "object", "not": "object",
    PRESERVE: "boolean", INT_OR_STRING: "boolean", EMBEDDED: "boolean",
}


def structural_errors(schema: Any, path: str) -> list[Cause]:
    """Why ``schema`` (a CRD version's openAPIV3Schema, found at ``path``) is not structural or
    uses a keyword CRDs may not use. Empty when it is fine."""
    causes: list[Cause] = []
    if not isinstance(schema, Mapping):
        causes.append(Cause(path, "Required value: schemas are required", "FieldValueRequired"))
        return causes
    if schema.get("type") != "object" and not schema.get(PRESERVE):
        if not schema.get("type"):
            causes.append(Cause(join(path, "type"), "Required value: must not be empty at the root", "FieldValueRequired"))
        else:
            causes.append(Cause(join(path, "type"), f"Invalid value: {_shown(schema.get('type'))}: must be object at the root",
                                "FieldValueInvalid"))
    _check_node(schema, path, causes, where="root", in_value_validation=False)
    meta = _props(schema).get("metadata")
    if isinstance(meta, Mapping):
        meta_path = f"{path}.properties[metadata]"
        extra = sorted(set(meta) - {"type", "properties", "description"})
        if extra or meta.get("type") not in (None, "object"):
            causes.append(Cause(meta_path, "Forbidden: must not specify anything other than name and generateName, "
                                "but metadata is implicitly specified", "FieldValueForbidden"))
        for key in sorted(set(_props(meta)) - _ALLOWED_METADATA):
            causes.append(Cause(f"{meta_path}.properties[{key}]", "Forbidden: must not specify anything other than "
                                "name and generateName, but metadata is implicitly specified", "FieldValueForbidden"))
    return causes


def _check_node(schema: Mapping[str, Any], path: str, causes: list[Cause], *, where: str, in_value_validation: bool) -> None:
    for keyword, why in _FORBIDDEN_KEYWORDS.items():
        if keyword in schema and not (keyword == "additionalItems" and schema[keyword] is not False):
            causes.append(Cause(join(path, keyword), f"Forbidden: {why}", "FieldValueForbidden"))
    if schema.get("uniqueItems") is True:
        causes.append(Cause(join(path, "uniqueItems"), "Forbidden: uniqueItems cannot be set to true since the runtime "
                            "complexity becomes quadratic", "FieldValueForbidden"))
    for keyword, wanted in _KEYWORD_TYPES.items():
        if keyword in schema and not _is_type(schema[keyword], wanted):
            _type_invalid(causes, join(path, keyword), schema[keyword], wanted)
    kind = schema.get("type")
    if kind is not None and kind not in TYPES:
        listed = ", ".join(json.dumps(t) for t in TYPES)
        causes.append(Cause(join(path, "type"), f"Unsupported value: {_shown(kind)}: supported values: {listed}",
                            "FieldValueNotSupported"))
    if not in_value_validation and not kind and where != "root" \
            and not schema.get(PRESERVE) and not schema.get(INT_OR_STRING):
        detail = "must not be empty for specified array items" if where == "items" else \
            "must not be empty for specified object fields"
        causes.append(Cause(join(path, "type"), f"Required value: {detail}", "FieldValueRequired"))
    if schema.get(INT_OR_STRING) and kind:
        causes.append(Cause(join(path, "type"), f"Invalid value: {_shown(kind)}: must be empty if "
                            "x-kubernetes-int-or-string is true", "FieldValueInvalid"))
    if schema.get(EMBEDDED):
        if kind != "object":
            causes.append(Cause(join(path, "type"), f"Invalid value: {_shown(kind or '')}: must be object if "
                                "x-kubernetes-embedded-resource is true", "FieldValueInvalid"))
        if not schema.get("properties") and not schema.get(PRESERVE):
            causes.append(Cause(join(path, "properties"), "Required value: must not be empty if "
                                "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
                                "FieldValueRequired"))
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    if properties is not None and additional is not None and additional is not False:
        causes.append(Cause(join(path, "additionalProperties"), "Forbidden: additionalProperties and properties are "
                            "mutual exclusive", "FieldValueForbidden"))
    if not isinstance(properties, Mapping):
        properties = None
    for key, sub in (properties or {}).items():
        sub_path = f"{path}.properties[{key}]"
        if isinstance(sub, Mapping):
            _check_node(sub, sub_path, causes, where="field", in_value_validation=in_value_validation)
        else:
            _type_invalid(causes, sub_path, sub, "object")
    if isinstance(additional, Mapping):
        _check_node(additional, f"{path}.additionalProperties", causes, where="field",
                    in_value_validation=in_value_validation)
    items = schema.get("items")
    if isinstance(items, list):
        causes.append(Cause(join(path, "items"), "Forbidden: items must be a schema object and not an array",
                            "FieldValueForbidden"))
    elif isinstance(items, Mapping):
        _check_node(items, join(path, "items"), causes, where="items", in_value_validation=in_value_validation)
    elif kind == "array" and not in_value_validation:
        causes.append(Cause(join(path, "items"), "Required value: must be specified", "FieldValueRequired"))
    for combinator in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(_list(schema, combinator)):
            if isinstance(sub, Mapping):
                _check_node(sub, f"{path}.{combinator}[{i}]", causes, where="value", in_value_validation=True)
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and _pattern(pattern) is None:
        _invalid(causes, join(path, "pattern"), pattern, "must be a valid regular expression")
    if "default" in schema and not in_value_validation:
        _check_default(schema, path, causes)


def _check_default(schema: Mapping[str, Any], path: str, causes: list[Cause]) -> None:
    """A default must itself be valid and survive pruning, or every object would be invalid."""
    value = copy.deepcopy(schema["default"])
    if value is None and not schema.get("nullable"):
        _invalid(causes, join(path, "default"), value, "must not be null for a non-nullable field")
        return
    unknown: list[str] = []
    _prune(schema, value, "", unknown)
    if unknown:
        _invalid(causes, join(path, "default"), schema["default"],
                 f"must not have fields that would be pruned: {', '.join(unknown)}")
    default(schema, value)
    for cause in _causes_of(schema, value, "default"):
        causes.append(Cause(join(path, cause.field), cause.message, cause.reason))


__all__ = ["default", "prune", "structural_errors", "type_name", "validate"]
