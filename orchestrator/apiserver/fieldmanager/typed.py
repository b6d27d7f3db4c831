"""Objects seen through their schema: which fields they set, how two versions differ, how to merge.

Server-side apply needs three facts about a kind that plain JSON does not carry, and they are
the facts strategic merge patch already needs (`orchestrator/api/strategicpatch.py` keeps the table;
this module reads it and adds what apply knows beyond it):

- an *associative list* (`x-kubernetes-list-type: map`) is a set of elements identified by
  their keys: containers by `name`, ports by `containerPort` and `protocol` (protocol defaulting
  to TCP, so a port applied without it is the same element), conditions by `type`;
- a *set list* (`set`) holds scalars identified by value: finalizers;
- everything else is *atomic*: a list without a strategy (args, tolerations) and a few maps
  (a label selector, a nodeSelector) are one value, owned and replaced as a whole.

Three walks over plain JSON documents, each with worked meaning:

    field_set(config)   the paths an applied configuration sets: every scalar, every list item,
                        every empty map, every atomic value (not the maps on the way)
    compare(old, new)   (added, modified, removed): every node of an added or removed subtree,
                        every changed scalar or atomic value
    merge(live, config) the configuration laid over the live object: maps merge key by key,
                        associative and set lists element by element, the rest is replaced

Lists whose elements cannot be identified (an element without its key, two with the same key)
are treated as atomic when they come from stored objects, and rejected (`SchemaError`) when they
come from an applied configuration — as upstream, which refuses such a configuration.

Kubernetes equivalent: sigs.k8s.io/structured-merge-diff/v4/typed (tofieldset.go, compare.go,
merge.go, remove.go), k8s.io/api markers `+listType`, `+listMapKey`, `+mapType=atomic`
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, Literal

from orchestrator.api import strategicpatch as patching
from orchestrator.apiserver.fieldmanager import fieldpath
from orchestrator.apiserver.fieldmanager.fieldpath import FieldSet, Path


class SchemaError(ValueError):
    """An applied configuration that the schema cannot identify (message names the list)."""


@dataclass(frozen=True)
class ListType:
    kind: Literal["map", "set", "atomic"]
    keys: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)


ATOMIC = ListType("atomic")
SET = ListType("set")

# Where apply's list keys differ from strategic merge's single merge key (upstream `+listMapKey`).
_KEY_OVERRIDES: dict[str, ListType] = {
    "ports": ListType("map", ("containerPort", "protocol"), {"protocol": "TCP"}),
    "topologySpreadConstraints": ListType("map", ("topologyKey", "whenUnsatisfiable")),
}

# Maps and structs replaced as a whole (upstream `+mapType=atomic`, `+structType=atomic`).
_ATOMIC_MAPS: dict[str, frozenset[str]] = {
    "Pod": frozenset({"spec.nodeSelector"}),
    "Deployment": frozenset({"spec.selector", "spec.template.spec.nodeSelector"}),
    "ReplicaSet": frozenset({"spec.selector", "spec.template.spec.nodeSelector"}),
    "Event": frozenset({"involvedObject", "related"}),
}


_FACT = "\0"  # key of a trie node's list type (or _ATOMIC_MAP); never a field name
_ATOMIC_MAP = "atomic-map"


@dataclass(frozen=True)
class Schema:
    """What the walks need to know about one kind, by schema path (`spec.containers[].ports`)."""

    lists: Mapping[str, ListType]
    atomic_maps: frozenset[str] = frozenset()

    def list_type(self, spath: str) -> ListType:
        return self.lists.get(spath, ATOMIC)

    @cached_property
    def trie(self) -> dict[str, Any]:
        """The same facts as a tree of field names (`[]` steps into items), for the hot walk:
        a subtree the trie does not reach has atomic lists and plain maps only."""
        root: dict[str, Any] = {}
        facts: list[tuple[str, Any]] = [*self.lists.items(), *((p, _ATOMIC_MAP) for p in self.atomic_maps)]
        for spath, fact in facts:
            node = root
            for step in spath.replace("[]", ".[]").split("."):
                node = node.setdefault(step, {})
            node[_FACT] = fact
        return root


@cache
def schema_for(kind: str) -> Schema:
    """The schema of `kind`, from the strategic-merge table plus apply's own list keys."""
    lists: dict[str, ListType] = {}
    for spath, strategy in patching.merge_lists(kind).items():
        if strategy.key is None:
            lists[spath] = SET
        else:
            last = spath.rsplit(".", 1)[-1]
            lists[spath] = _KEY_OVERRIDES.get(last, ListType("map", (strategy.key,)))
    return Schema(lists, _ATOMIC_MAPS.get(kind, frozenset()))


def schema_from_openapi(root: Mapping[str, Any]) -> Schema:
    """The schema of a kind described by OpenAPI v3 (a CustomResourceDefinition's version).

    Lists are associative with `x-kubernetes-list-type: map` (keys from
    `x-kubernetes-list-map-keys`, their `default`s used for elements that omit them), sets with
    `set`, atomic otherwise — upstream's rule for custom resources; objects marked
    `x-kubernetes-map-type: atomic` are one value. ObjectMeta's lists are always known.
    Lists inside maps of objects (`additionalProperties`) are treated as atomic.
    """
    lists: dict[str, ListType] = dict(schema_for("").lists)  # metadata.finalizers, ownerReferences
    atomic: set[str] = set()

    def walk(node: Any, spath: str) -> None:
        if not isinstance(node, Mapping):
            return
        if spath and node.get("x-kubernetes-map-type") == "atomic":
            atomic.add(spath)
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                if isinstance(name, str) and not (spath == "" and name == "metadata"):
                    walk(sub, _child(spath, name))
        if node.get("type") != "array":
            return
        items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
        list_type = node.get("x-kubernetes-list-type")
        keys = node.get("x-kubernetes-list-map-keys")
        if list_type == "map" and isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys):
            item_props = items.get("properties") if isinstance(items.get("properties"), Mapping) else {}
            defaults = {k: item_props[k]["default"] for k in keys
                        if isinstance(item_props.get(k), Mapping) and "default" in item_props[k]}
            lists[spath] = ListType("map", tuple(keys), defaults)
        elif list_type == "set":
            lists[spath] = SET
        walk(items, spath + "[]")

    walk(root, "")
    return Schema(lists, frozenset(atomic))


def _child(spath: str, name: str) -> str:
    return f"{spath}.{name}" if spath else name


# --------------------------------------------------------------------------- list elements


def _element(item: Any, lt: ListType) -> str | None:
    """The path element naming `item` in a list of type `lt`; None when it cannot be named."""
    if lt.kind == "set":
        return None if isinstance(item, dict | list) else fieldpath.value(item)
    if not isinstance(item, dict):
        return None
    values: dict[str, Any] = {}
    for name in lt.keys:
        if name in item and item[name] is not None:
            values[name] = item[name]
        elif name in lt.defaults:
            values[name] = lt.defaults[name]
        else:
            return None
        if isinstance(values[name], dict | list):
            return None
    return fieldpath.key(values)


def _elements(items: list[Any], lt: ListType, spath: str, *, strict: bool) -> list[str] | None:
    """The elements of every item, or None if the list must be treated as atomic."""
    names: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = _element(item, lt)
        if name is None or name in seen:
            if not strict:
                return None
            if name is None and lt.kind == "map":
                missing = next((k for k in lt.keys if not isinstance(item, dict) or item.get(k) is None), lt.keys[0])
                raise SchemaError(f".{spath}: element {i}: associative list with keys has an element that "
                                  f'omits key field "{missing}" (and doesn\'t have default value)')
            if name is None:
                raise SchemaError(f".{spath}: element {i}: a set list holds scalars only")
            raise SchemaError(f".{spath}: duplicate entries for key {fieldpath.to_string((name,))}")
        seen.add(name)
        names.append(name)
    return names


# --------------------------------------------------------------------------- field_set


def field_set(obj: Mapping[str, Any], schema: Schema) -> FieldSet:
    """The paths an applied configuration sets (raises SchemaError for unidentifiable lists)."""
    out: FieldSet = set()
    _set_walk(obj, (), "", schema, out)
    return out


def _set_walk(node: Any, path: Path, spath: str, schema: Schema, out: FieldSet) -> None:
    if isinstance(node, dict):
        if not node or spath in schema.atomic_maps:
            if path:
                out.add(path)
            return
        for name, child in node.items():
            _set_walk(child, (*path, "f:" + name), _child(spath, name), schema, out)
    elif isinstance(node, list):
        lt = schema.list_type(spath)
        if lt.kind == "atomic":
            out.add(path)
            return
        item_spath = spath + "[]"
        names = _elements(node, lt, spath, strict=True)
        assert names is not None
        for name, item in zip(names, node, strict=True):
            here = (*path, name)
            out.add(here)
            if isinstance(item, dict):
                for fname, child in item.items():
                    _set_walk(child, (*here, "f:" + fname), _child(item_spath, fname), schema, out)
    else:
        out.add(path)


def all_paths(node: Any, schema: Schema, *, path: Path = (), spath: str = "") -> FieldSet:
    """Every node below `path` in `node` (the node itself too, unless it is the root)."""
    out: FieldSet = set()
    _all(node, path, spath, schema, out)
    return out


def _all(node: Any, path: Path, spath: str, schema: Schema, out: FieldSet) -> None:
    if path:
        out.add(path)
    if isinstance(node, dict):
        if spath in schema.atomic_maps:
            return
        for name, child in node.items():
            _all(child, (*path, "f:" + name), _child(spath, name), schema, out)
    elif isinstance(node, list):
        lt = schema.list_type(spath)
        if lt.kind == "atomic":
            return
        names = _elements(node, lt, spath, strict=False)
        if names is None:
            return
        for name, item in zip(names, node, strict=True):
            _all(item, (*path, name), spath + "[]", schema, out)


# --------------------------------------------------------------------------- compare


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=set)
    modified: FieldSet = field(default_factory=set)
    removed: FieldSet = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.added or self.modified or self.removed)


def compare(old: Mapping[str, Any], new: Mapping[str, Any], schema: Schema) -> Comparison:
    """How `new` differs from `old`, path by path."""
    result = Comparison()
    _cmp(old, new, (), "", schema, result)
    return result


def _same(a: Any, b: Any) -> bool:
    # JSON equality: 1 == 1.0, but True is not 1.
    return a == b and (isinstance(a, bool) == isinstance(b, bool))


def _cmp(old: Any, new: Any, path: Path, spath: str, schema: Schema, out: Comparison) -> None:
    # null and an empty map or list are the same to Go (a nil slice): only the contents change.
    if old is None and isinstance(new, dict | list):
        old = type(new)()
    elif new is None and isinstance(old, dict | list):
        new = type(old)()
    if isinstance(old, dict) and isinstance(new, dict) and spath not in schema.atomic_maps:
        for name, child in new.items():
            here, cspath = (*path, "f:" + name), _child(spath, name)
            if name not in old:
                _all(child, here, cspath, schema, out.added)
            else:
                before = old[name]
                if before is not child and not (before == child and type(before) is type(child)):
                    _cmp(before, child, here, cspath, schema, out)
        for name, child in old.items():
            if name not in new:
                _all(child, (*path, "f:" + name), _child(spath, name), schema, out.removed)
        return
    if isinstance(old, list) and isinstance(new, list):
        lt = schema.list_type(spath)
        if lt.kind != "atomic":
            old_names = _elements(old, lt, spath, strict=False)
            new_names = _elements(new, lt, spath, strict=False)
            if old_names is not None and new_names is not None:
                _cmp_items(old, old_names, new, new_names, path, spath + "[]", schema, out)
                return
        if old != new:
            out.modified.add(path)
        return
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        if old != new:
            # a changed shape (or an atomic map): the value is replaced as one
            out.modified.add(path)
            for side, target in ((old, out.removed), (new, out.added)):
                target.update(p for p in all_paths(side, schema, path=path, spath=spath) if p != path)
        return
    if not _same(old, new):
        out.modified.add(path)


def _cmp_items(old: list[Any], old_names: list[str], new: list[Any], new_names: list[str], path: Path,
               item_spath: str, schema: Schema, out: Comparison) -> None:
    before = dict(zip(old_names, old, strict=True))
    for name, item in zip(new_names, new, strict=True):
        here = (*path, name)
        if name not in before:
            _all(item, here, item_spath, schema, out.added)
        elif before[name] != item:
            _cmp(before[name], item, here, item_spath, schema, out)
    after = set(new_names)
    for name, item in zip(old_names, old, strict=True):
        if name not in after:
            _all(item, (*path, name), item_spath, schema, out.removed)


# --------------------------------------------------------------------------- merge


def merge(live: Mapping[str, Any], config: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """`config` laid over `live`; a new document (neither argument is changed or shared).

    A `null` in the configuration removes the field: the applier owns it, with no value.
    """
    merged = _merge(copy.deepcopy(dict(live)), copy.deepcopy(dict(config)), "", schema)
    assert isinstance(merged, dict)
    return merged


def _merge(lhs: Any, rhs: Any, spath: str, schema: Schema) -> Any:
    if isinstance(lhs, dict) and isinstance(rhs, dict) and spath not in schema.atomic_maps:
        for name, value in rhs.items():
            if value is None:
                lhs.pop(name, None)
            elif name in lhs:
                lhs[name] = _merge(lhs[name], value, _child(spath, name), schema)
            else:
                lhs[name] = _strip_nulls(value)
        return lhs
    if isinstance(lhs, list) and isinstance(rhs, list):
        lt = schema.list_type(spath)
        if lt.kind != "atomic":
            rnames = _elements(rhs, lt, spath, strict=True)
            lnames = _elements(lhs, lt, spath, strict=False)
            if lnames is not None and rnames is not None:
                return _merge_items(lhs, lnames, rhs, rnames, spath + "[]", schema)
    return _strip_nulls(rhs)


def _strip_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_strip_nulls(v) for v in node]
    return node


def _merge_items(lhs: list[Any], lnames: list[str], rhs: list[Any], rnames: list[str], item_spath: str,
                 schema: Schema) -> list[Any]:
    """Merge two identified lists with upstream's two-finger walk: elements of both follow the
    configuration's order, elements only in the live list keep their place before the shared
    element that followed them, new ones go where the configuration puts them.

    Worked example: live [a, b, c], configuration [c, a, d] -> [b, c, a, d]: b (live only)
    stays before c, the shared c and a come in the configuration's order, then the new d.
    """
    lby = dict(zip(lnames, lhs, strict=True))
    rby = dict(zip(rnames, rhs, strict=True))
    shared = [n for n in rnames if n in lby]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(lnames) or ri < len(rnames):
        if li < len(lnames) and ri < len(rnames):
            name = lnames[li]
            if name == rnames[ri]:
                merged_rhs.add(name)
                out.append(_merge(lby[name], rby[name], item_spath, schema))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if name in rby and next_shared is not None and next_shared != name:
                li += 1  # shared, but its turn comes with the configuration's order
                continue
        if li < len(lnames):
            name = lnames[li]
            if name not in rby:
                out.append(lhs[li])
                li += 1
                continue
            if name in merged_rhs:
                li += 1
                continue
        if ri < len(rnames):
            name = rnames[ri]
            merged_rhs.add(name)
            out.append(_merge(lby[name], rby[name], item_spath, schema) if name in lby else _strip_nulls(rby[name]))
            ri += 1
            if next_shared is not None and next_shared == name:
                next_shared = shared.pop(0) if shared else None
    return out


# --------------------------------------------------------------------------- remove


def remove(obj: dict[str, Any], paths: FieldSet, schema: Schema) -> None:
    """Remove the node at each path (with everything below it) from `obj`, in place.
    Paths that are not in `obj` are ignored."""
    for path in sorted(paths, key=len):
        _remove_one(obj, path, schema)


def _remove_one(obj: dict[str, Any], path: Path, schema: Schema) -> None:
    node: Any = obj
    spath = ""
    for depth, element in enumerate(path):
        last = depth == len(path) - 1
        if element.startswith("f:"):
            name = element[2:]
            if not isinstance(node, dict) or name not in node:
                return
            if last:
                del node[name]
                return
            node, spath = node[name], _child(spath, name)
            continue
        if not isinstance(node, list):
            return
        lt = schema.list_type(spath)
        at = next((i for i, item in enumerate(node) if _element(item, lt) == element), None)
        if at is None:
            return
        if last:
            del node[at]
            return
        node, spath = node[at], spath + "[]"


# --------------------------------------------------------------------------- creation, fast


def creation_tree(obj: Mapping[str, Any], zero: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """The FieldsV1 tree of `fieldpath.to_fields_v1(compare(zero, obj).added)`, built in one walk.

    Every create pays for this, so it skips the path tuples and schema-path strings: each node
    of `obj` is a member, except the structs `zero` (the kind's Go zero value) already has,
    which are only on the way.
    """
    return _tree(obj, schema.trie, zero) or {}


def _tree(node: Any, snode: dict[str, Any] | None, zero: Any) -> dict[str, Any] | None:
    """Children of `node` as FieldsV1 (None when it has none to show)."""
    if isinstance(node, dict):
        if not node or (snode is not None and snode.get(_FACT) == _ATOMIC_MAP):
            return None
        out: dict[str, Any] = {}
        zero_map = zero if isinstance(zero, dict) else None
        for name in sorted(node):
            value = node[name]
            child_zero = zero_map.get(name, _ABSENT) if zero_map is not None else _ABSENT
            sub = _tree(value, snode.get(name) if snode is not None else None, child_zero)
            if child_zero is _ABSENT or (child_zero is None and not isinstance(value, dict | list)):
                out["f:" + name] = {".": {}, **sub} if sub else {}
            elif sub:
                out["f:" + name] = sub
        return out
    if isinstance(node, list) and node and snode is not None:
        lt = snode.get(_FACT)
        if not isinstance(lt, ListType) or lt.kind == "atomic":
            return None
        names = _elements(node, lt, "", strict=False)
        if names is None:
            return None
        item_snode = snode.get("[]")
        items: dict[str, Any] = {}
        for name, item in sorted(zip(names, node, strict=True), key=lambda pair: pair[0]):
            sub = _tree(item, item_snode, _ABSENT)
            items[name] = {".": {}, **sub} if sub else {}
        return items
    return None


_ABSENT = object()
