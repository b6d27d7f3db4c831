"""The three PATCH bodies the API server accepts, as pure functions over JSON dicts.

    application/merge-patch+json            RFC 7386 JSON merge patch     merge_patch
    application/json-patch+json             RFC 6902 list of operations   json_patch
    application/strategic-merge-patch+json  Kubernetes strategic merge    strategic_merge_patch

`apply_patch` picks one by media type (parameters such as `; charset=utf-8` are ignored, as the
Kubernetes handler does). Server-side apply (`application/apply-patch+yaml`, `is_apply`) is not a
patch of the object but a configuration merged by the field manager
(`orchestrator/apiserver/fieldmanager/`); `decode_apply` reads its YAML or JSON body here.
No function mutates its arguments; each returns a new object.

Why strategic merge exists: a JSON merge patch replaces lists wholesale, so `kubectl apply`
could not change one container's image without resending every field of every container. A
strategic merge patch knows, per field, whether a list is a *merge list* whose elements are
matched by a *merge key* (containers by `name`, ports by `containerPort`) or an atomic list
that is replaced. The table lives in `_MERGE_LISTS` below, keyed by the field's JSON path inside
the kind (`spec.containers[].env`); it mirrors the `patchStrategy`/`patchMergeKey` tags of the
upstream Go types. Two upstream facts that surprise people and are kept here: `tolerations`,
`spec.taints` (Node) and `status.containerStatuses` carry no patch strategy upstream, so they are
replaced wholesale. Kinds outside the table get their `metadata` merge lists (finalizers,
ownerReferences) and every other list replaced.

Directives understood inside a strategic merge patch (none ever reaches the result):

    {"labels": {"tier": null}}                       null deletes a map key
    {"containers": [{"$patch": "delete", "name": "b"}]}  delete an element of a merge list
    {"containers": [{"$patch": "replace"}, ...]}      the list becomes exactly the other elements
    {"securityContext": {"$patch": "replace", ...}}  the map becomes exactly the other keys
    {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]}   order of the merged list
    {"$deleteFromPrimitiveList/finalizers": ["x"]}   remove scalars from a merge list of scalars
    {"strategy": {"$retainKeys": ["type"], ...}}     drop keys of the live map not listed

Errors, chosen to match kube-apiserver (k8s.io/apiserver/pkg/endpoints/handlers/patch.go):
- body that is not JSON, or not the shape the patch type needs -> 400 BadRequest;
- a JSON patch whose operation cannot be applied (failed `test`, missing path) -> 422 Invalid
  with upstream's message "the server rejected our request due to an error in our request";
  upstream drops the reason, we keep it as a cause (`field` = the operation's path) so
  `kubectl` prints why;
- a strategic merge patch that violates the format (element without its merge key, unknown
  `$patch` value) -> 400 BadRequest. Upstream answers some of these with 500, but a bad body is
  never our bug; lists of lists -> 422 as upstream.

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/strategicpatch/patch.go (strategic merge and
CreateTwoWayMergePatch), k8s.io/apiserver/pkg/endpoints/handlers/patch.go (dispatch and error
codes); RFC 7386 (merge patch); RFC 6902 (JSON patch, applied by the `jsonpatch` library).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from orchestrator.api.errors import BadRequest, Cause, Invalid, UnsupportedMediaType
from orchestrator.api.jsontext import check_json_limits, check_storable_text

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The order kube-apiserver lists them in its 415 message.
SUPPORTED_PATCH_TYPES: tuple[str, ...] = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# Upstream's wording for any 422 built by NewGenericServerResponse (json patch failures).
_REJECTED = "the server rejected our request due to an error in our request"

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


# --------------------------------------------------------------------------- dispatch


def apply_patch(obj: dict[str, Any], body: bytes, *, content_type: str, kind: str) -> dict[str, Any]:
    """Apply a PATCH request body of the given Content-Type to `obj` (of `kind`), returning a new object."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        raise AssertionError("an apply patch is merged by the field manager, not applied as a patch")
    if media_type not in SUPPORTED_PATCH_TYPES:
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(SUPPORTED_PATCH_TYPES)
        )
    patch = _decode(body)
    if media_type == JSON_PATCH:
        return json_patch(obj, patch)
    if media_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            # RFC 7386 would replace the whole object; an API object must stay an object.
            raise BadRequest(f"a merge patch must be a JSON object, got {_json_type(patch)}")
        return merge_patch(obj, patch)
    if patch is None:
        # Go decodes `null` into an empty patch map: nothing changes.
        patch = {}
    if not isinstance(patch, dict):
        raise BadRequest(
            f"json: cannot unmarshal {_json_type(patch)} into Go value of type map[string]interface {{}}"
        )
    return strategic_merge_patch(obj, patch, kind=kind)


def is_apply(content_type: str) -> bool:
    """Whether a PATCH is a server-side apply."""
    return content_type.split(";", 1)[0].strip().lower() == APPLY_PATCH


class _ApplyYAML(yaml.SafeLoader):
    """YAML as sigs.k8s.io/yaml reads it into JSON: a date stays the string it was written as."""


_ApplyYAML.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_apply(body: bytes) -> Any:
    """The configuration of a server-side apply: JSON (what kubectl sends) or YAML."""
    if not body.strip():
        raise BadRequest("the apply configuration is empty: send the object as YAML or JSON")
    try:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = yaml.load(body.decode("utf-8"), Loader=_ApplyYAML)  # noqa: S506 - a SafeLoader
        check_json_limits(decoded)
        check_storable_text(decoded)
        return decoded
    except BadRequest as err:
        raise BadRequest(f"error decoding YAML: {err.message}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise BadRequest(f"error decoding YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise BadRequest("error decoding YAML: the document is nested too deeply") from None


def _decode(body: bytes) -> Any:
    def reject_constant(name: str) -> Any:
        raise ValueError(f"invalid JSON value {name}")

    try:
        decoded = json.loads(body, parse_constant=reject_constant)
        check_json_limits(decoded)  # before the patch is applied: applying it recurses
        return decoded
    except BadRequest as err:
        raise BadRequest(f"error decoding patch: {err.message}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"error decoding patch: {err}") from None
    except RecursionError:
        raise BadRequest("error decoding patch: the JSON is nested too deeply") from None


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, as Go's decoder reports it."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "object"


# --------------------------------------------------------------------------- RFC 7386


def merge_patch(obj: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge recursively, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(obj) if isinstance(obj, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------- RFC 6902


def json_patch(obj: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 JSON patch: apply `ops` in order; all or nothing.

    A body that is not a list of well-formed operations is a 400; an operation that cannot be
    applied to this object (failed `test`, path that does not exist) is a 422, as upstream.
    """
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise BadRequest("the JSON patch must be a list of operation objects")
    try:
        jsonpatch.JsonPatch(ops)  # validates every operation's shape before touching the object
    except jsonpatch.InvalidJsonPatch as err:
        raise BadRequest(f"invalid JSON patch: {err}") from None
    result: Any = copy.deepcopy(obj)
    for op in ops:
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch as err:
            # e.g. an `add` without `value`: only detected when the operation runs.
            raise BadRequest(f"invalid JSON patch: {err}") from None
        except (
            jsonpatch.JsonPatchException,
            jsonpointer.JsonPointerException,
            LookupError,
            TypeError,
        ) as err:
            raise Invalid(
                _REJECTED, causes=[Cause(field=str(op.get("path", "")), message=f"{op.get('op')}: {err}")]
            ) from None
    if not isinstance(result, dict):
        raise Invalid(
            _REJECTED, causes=[Cause(field="", message="the patched document is not a JSON object")]
        )
    return result


# --------------------------------------------------------------------------- strategic merge: schema


@dataclass(frozen=True)
class MergeList:
    """A list with patch strategy `merge`: elements matched by `key` (None: a list of scalars)."""

    key: str | None


_OBJECT_META: dict[str, MergeList] = {
    "finalizers": MergeList(None),
    "ownerReferences": MergeList("uid"),
}

_CONTAINER: dict[str, MergeList] = {
    "ports": MergeList("containerPort"),
    "env": MergeList("name"),
    "volumeMounts": MergeList("mountPath"),
    "volumeDevices": MergeList("devicePath"),
}

# PodSpec; `tolerations` and `affinity` lists carry no strategy upstream, so they are replaced.
_POD_SPEC: dict[str, MergeList] = {
    "volumes": MergeList("name"),
    "imagePullSecrets": MergeList("name"),
    "hostAliases": MergeList("ip"),
    "topologySpreadConstraints": MergeList("topologyKey"),
    "schedulingGates": MergeList("name"),
    "resourceClaims": MergeList("name"),
    **{name: MergeList("name") for name in ("containers", "initContainers", "ephemeralContainers")},
    **{
        f"{name}[].{field}": strategy
        for name in ("containers", "initContainers", "ephemeralContainers")
        for field, strategy in _CONTAINER.items()
    },
}

# PodStatus; `containerStatuses` is atomic upstream (+listType=atomic, no patchStrategy).
_POD_STATUS: dict[str, MergeList] = {
    "conditions": MergeList("type"),
    "podIPs": MergeList("ip"),
    "hostIPs": MergeList("ip"),
}


def _under(prefix: str, table: dict[str, MergeList]) -> dict[str, MergeList]:
    return {f"{prefix}.{path}": strategy for path, strategy in table.items()}


_POD_TEMPLATE = {**_under("spec.template.metadata", _OBJECT_META), **_under("spec.template.spec", _POD_SPEC)}

_KIND_LISTS: dict[str, dict[str, MergeList]] = {
    "Pod": {**_under("spec", _POD_SPEC), **_under("status", _POD_STATUS)},
    "Deployment": {**_POD_TEMPLATE, "status.conditions": MergeList("type")},
    "ReplicaSet": {**_POD_TEMPLATE, "status.conditions": MergeList("type")},
    # Node.spec.taints is atomic upstream; addresses merge by type (a known upstream wart).
    "Node": {
        "spec.podCIDRs": MergeList(None),
        "status.conditions": MergeList("type"),
        "status.addresses": MergeList("type"),
    },
    "Namespace": {"status.conditions": MergeList("type")},
    # ServiceSpec.ports merge by port (patchMergeKey=port; the list-map key is port+protocol).
    "Service": {"spec.ports": MergeList("port"), "status.conditions": MergeList("type")},
    "Event": {},
    "Lease": {},
}

# Every kind is `metadata` plus its own fields: path -> strategy, e.g. "spec.containers[].env".
_MERGE_LISTS: dict[str, dict[str, MergeList]] = {
    kind: {**_under("metadata", _OBJECT_META), **table} for kind, table in _KIND_LISTS.items()
}
_DEFAULT_LISTS: dict[str, MergeList] = _under("metadata", _OBJECT_META)


def merge_lists(kind: str) -> dict[str, MergeList]:
    """The merge lists of `kind` by JSON path (`[]` steps into list elements); others are replaced."""
    return dict(_MERGE_LISTS.get(kind, _DEFAULT_LISTS))


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------- strategic merge: apply


def strategic_merge_patch(obj: dict[str, Any], patch: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to `obj` of `kind` the way kube-apiserver does."""
    if not isinstance(patch, dict):
        raise BadRequest(f"a strategic merge patch must be a JSON object, got {_json_type(patch)}")
    merger = _Merger(_MERGE_LISTS.get(kind, _DEFAULT_LISTS))
    return merger.merge_map(copy.deepcopy(obj), copy.deepcopy(patch), "")


class _Merger:
    """The recursive merge; `path` names the field being merged, as in the strategy table."""

    def __init__(self, lists: dict[str, MergeList]) -> None:
        self.lists = lists

    def clean(self, value: Any, path: str) -> Any:
        """A patch value with nothing to merge into: strip its directives and nulls."""
        if isinstance(value, dict):
            return self.merge_map({}, value, path)
        if isinstance(value, list):
            return self.merge_list([], value, path)
        return value

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
        if _PATCH in patch:
            directive = patch.pop(_PATCH)
            if directive == "replace":
                return self.merge_map({}, patch, path)
            if directive == "delete":
                return {}
            raise BadRequest(f"unknown patch type: {directive} in map: {_show(patch)}")
        result = dict(original)
        self._retain_keys(result, patch)
        # $setElementOrder first: it consumes its list, and a `$deleteFromPrimitiveList` must run
        # after the order is set (upstream order, which makes kubectl's removals come out right).
        for key in [k for k in patch if k.startswith(_SET_ORDER)]:
            self._set_element_order(result, patch, key, path)
        for key in [k for k in patch if k.startswith(_DELETE_PRIMITIVE)]:
            field = _directive_field(key, _DELETE_PRIMITIVE, "invalid patch format of primitive list")
            to_delete = patch.pop(key)
            if not isinstance(to_delete, list):
                raise BadRequest("invalid patch format of primitive list")
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if _find(to_delete, v, None) < 0]
        for key, value in patch.items():
            if key.startswith("$"):
                raise BadRequest(f"unknown strategic merge patch directive {key!r} in {path or 'the object'}")
            if value is None:
                result.pop(key, None)  # null deletes; a null for an absent key is ignored
                continue
            current = result.get(key)
            field = _child(path, key)
            if isinstance(current, dict) and isinstance(value, dict):
                result[key] = self.merge_map(current, value, field)
            elif isinstance(current, list) and isinstance(value, list):
                result[key] = self.merge_list(current, value, field)
            else:
                result[key] = self.clean(value, field)  # absent, or a different type: replace
        return result

    def _retain_keys(self, result: dict[str, Any], patch: dict[str, Any]) -> None:
        if _RETAIN_KEYS not in patch:
            return
        retain = patch.pop(_RETAIN_KEYS)
        if not isinstance(retain, list):
            raise BadRequest("invalid patch format of retainKeys")
        for key, value in patch.items():
            if value is None or key.startswith((_SET_ORDER, _DELETE_PRIMITIVE)):
                continue
            if key not in retain:
                raise BadRequest("invalid patch format of retainKeys")
        for key in [k for k in result if k not in retain]:
            del result[key]

    def _set_element_order(self, result: dict[str, Any], patch: dict[str, Any], key: str, path: str) -> None:
        order = patch.pop(key)
        field = _directive_field(key, _SET_ORDER, "invalid patch format of setElementOrder list")
        if not isinstance(order, list):
            raise BadRequest("invalid patch format of setElementOrder list")
        field_path = _child(path, field)
        original, patch_list = result.get(field), patch.pop(field, None)
        if patch_list is not None and not isinstance(patch_list, list):
            raise BadRequest(f"{field}: expected a list, got {_json_type(patch_list)}")
        if not isinstance(original, list):
            original = None
        if original is not None and patch_list is not None:
            merged = self.merge_list(original, patch_list, field_path)
        elif patch_list is not None:
            merged = self.merge_list([], patch_list, field_path)
        elif original is not None:
            merged = original
        else:
            return
        strategy = self.lists.get(field_path)
        if strategy is None:
            result[field] = merged  # an atomic list has no element identity to order by
            return
        key_name = _element_key(strategy, merged + order)
        if key_name is not None:
            _require_merge_key(order, key_name)
        in_order = [item for item in merged if _find(order, item, key_name) >= 0]
        server_only = [item for item in merged if _find(order, item, key_name) < 0]
        result[field] = _normalize_element_order(
            in_order, server_only, patch_order=order, server_order=original or [], key=key_name
        )

    def merge_list(self, original: list[Any], patch: list[Any], path: str) -> list[Any]:
        strategy = self.lists.get(path)
        element = f"{path}[]"
        if strategy is None:
            return [self.clean(item, element) for item in patch]  # atomic: the patch replaces
        if not original and not patch:
            return []
        _check_element_types(original, patch)
        key = _element_key(strategy, original + patch)
        if key is None:
            merged = list(original)
            for item in patch:
                if _find(merged, item, None) < 0:
                    merged.append(item)
            plain = patch
            server_order = original
        else:
            original, plain = self._special_elements(original, patch, key, element)
            merged = list(original)
            for item in plain:
                _require_merge_key([item], key)
                at = _find(merged, item, key)
                if at >= 0:
                    merged[at] = self.merge_map(merged[at], item, element)
                else:
                    merged.append(self.clean(item, element))
            server_order = original
        in_patch = [item for item in merged if _find(plain, item, key) >= 0]
        server_only = [item for item in merged if _find(plain, item, key) < 0]
        return _normalize_element_order(
            in_patch, server_only, patch_order=plain, server_order=server_order, key=key
        )

    def _special_elements(
        self, original: list[Any], patch: list[Any], key: str, element: str
    ) -> tuple[list[Any], list[Any]]:
        """Apply `$patch` elements; return the remaining original and the plain patch elements."""
        plain: list[Any] = []
        replace = False
        for item in patch:
            if _PATCH not in item:
                plain.append(item)
                continue
            directive = item[_PATCH]
            if directive == "delete":
                _require_merge_key([item], key)
                original = [o for o in original if not _same(o.get(key, _MISSING), item[key])]
            elif directive == "replace":
                replace = True  # keep scanning: other `$patch` elements must still be pruned
            elif directive == "merge":
                raise BadRequest("merging lists cannot yet be specified in the patch")
            else:
                raise BadRequest(f"unknown patch type: {directive} in map: {_show(item)}")
        if replace:
            # The list becomes exactly the plain elements, in their order.
            return [self.clean(item, element) for item in plain], []
        return original, plain


# --------------------------------------------------------------------------- list helpers

_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """JSON equality as Go compares decoded values: 80 == 80.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _identity(item: Any, key: str | None) -> Any:
    if key is None:
        return item
    return item.get(key, _MISSING) if isinstance(item, dict) else _MISSING


def _find(items: list[Any], item: Any, key: str | None) -> int:
    """Index of the element of `items` with the same identity as `item` (merge key value, or itself)."""
    wanted = _identity(item, key)
    if wanted is _MISSING:
        return -1
    for i, candidate in enumerate(items):
        if _same(_identity(candidate, key), wanted):
            return i
    return -1


def _element_key(strategy: MergeList, items: list[Any]) -> str | None:
    """The merge key to match elements by; None when they are scalars, matched by value."""
    if strategy.key is not None and any(isinstance(item, dict) for item in items):
        return strategy.key
    return None


def _require_merge_key(items: list[Any], key: str) -> None:
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest(f"expected a map in a list merged by {key!r}, got {_json_type(item)}")
        if key not in item:
            raise BadRequest(f"map: {_show(item)} does not contain declared merge key: {key}")


def _check_element_types(*lists: list[Any]) -> None:
    kinds = set()
    for items in lists:
        for item in items:
            if isinstance(item, list):
                raise Invalid(_REJECTED, causes=[Cause(field="", message="lists of lists are not supported")])
            kinds.add("map" if isinstance(item, dict) else "scalar")
    if len(kinds) > 1:
        raise BadRequest("list element types are not identical: maps and scalars are mixed")


def _directive_field(key: str, prefix: str, message: str) -> str:
    field = key[len(prefix) :]
    if not field:
        raise BadRequest(message)
    return field


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _normalize_element_order(
    patch_items: list[Any],
    server_only: list[Any],
    *,
    patch_order: list[Any],
    server_order: list[Any],
    key: str | None,
) -> list[Any]:
    """Order a merged list as upstream does.

    Patch items follow the patch's order (or `$setElementOrder`); server-only items keep the
    live order; then the server-only items are slotted between the patch items where the live
    list had them. Worked example: live [a, b, c], patch order [c, a], b server-only ->
    sorted patch items [c, a]; b goes before c only if it stood before c live (1 < 2): [b, c, a].
    """
    patch_items = _sort_by(patch_items, patch_order, key)
    server_only = _sort_by(server_only, server_order, key)
    merged: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if j >= len(patch_items):
            merged.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            merged.append(patch_items[j])
            j += 1
        else:
            left = _find(server_order, server_only[i], key)
            right = _find(server_order, patch_items[j], key)
            if left >= 0 and right >= 0 and left < right:
                merged.append(server_only[i])
                i += 1
            else:
                merged.append(patch_items[j])
                j += 1
    return merged


def _sort_by(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Items named in `order` in that order, then the unnamed ones in their relative order."""
    named = [(at, n, item) for n, item in enumerate(items) if (at := _find(order, item, key)) >= 0]
    named.sort(key=lambda entry: (entry[0], entry[1]))
    unnamed = [item for item in items if _find(order, item, key) < 0]
    return [item for _, _, item in named] + unnamed


# --------------------------------------------------------------------------- strategic merge: diff


def create_two_way_merge_patch(
    original: dict[str, Any], modified: dict[str, Any], *, kind: str
) -> dict[str, Any]:
    """The strategic merge patch that turns `original` into `modified`, shaped as kubectl makes it.

    Changed and new keys carry their new value, removed keys `null`; merge lists carry only the
    changed elements (with their merge key), `{"$patch": "delete", key: v}` for removed ones,
    `$deleteFromPrimitiveList/` for removed scalars and `$setElementOrder/` whenever the list
    changed. Kubernetes equivalent: strategicpatch.CreateTwoWayMergePatch.
    """
    return _diff_maps(original, modified, "", _MERGE_LISTS.get(kind, _DEFAULT_LISTS))


def _diff_maps(
    original: dict[str, Any], modified: dict[str, Any], path: str, lists: dict[str, MergeList]
) -> dict[str, Any]:
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, new in modified.items():
        field = _child(path, key)
        if key not in original:
            patch[key] = copy.deepcopy(new)
            continue
        old = original[key]
        if isinstance(old, dict) and isinstance(new, dict):
            sub = _diff_maps(old, new, field, lists)
            if sub:
                patch[key] = sub
        elif isinstance(old, list) and isinstance(new, list) and field in lists:
            patch.update(_diff_lists(key, old, new, field, lists))
        elif old != new or type(old) is not type(new):
            patch[key] = copy.deepcopy(new)
    return patch


def _diff_lists(
    name: str, old: list[Any], new: list[Any], path: str, lists: dict[str, MergeList]
) -> dict[str, Any]:
    key = _element_key(lists[path], old + new)
    out: dict[str, Any] = {}
    if old == new:
        return out
    if key is None:
        added = [item for item in new if _find(old, item, None) < 0]
        removed = [item for item in old if _find(new, item, None) < 0]
        if added:
            out[name] = added
        if removed:
            out[f"{_DELETE_PRIMITIVE}{name}"] = removed
        if old != new:
            out[f"{_SET_ORDER}{name}"] = list(new)
        return out
    changed: list[Any] = []
    for item in new:
        at = _find(old, item, key)
        if at < 0:
            changed.append(copy.deepcopy(item))
            continue
        sub = _diff_maps(old[at], item, f"{path}[]", lists)
        if sub:
            changed.append({**sub, key: item[key]})
    deleted = [{_PATCH: "delete", key: item[key]} for item in old if _find(new, item, key) < 0]
    same_order = [item.get(key) for item in old] == [item.get(key) for item in new]
    if changed or deleted:
        out[name] = changed + deleted
    if changed or deleted or not same_order:
        out[f"{_SET_ORDER}{name}"] = [{key: item[key]} for item in new]
    return out
