"""Field paths and sets of them, and their two spellings: FieldsV1 (stored) and `.a.b[k="v"]` (shown).

A *path* names one node of an object: a tuple of *path elements*, each already in its FieldsV1
spelling, so a set of paths converts to FieldsV1 without a schema:

    f:spec                        a field of a map or struct
    k:{"name":"app"}              the element of an associative list whose keys have these values
                                  (key names sorted, compact JSON: k:{"containerPort":80,"protocol":"TCP"})
    v:"example.com/protect"       the element of a set list (finalizers) with this value
    i:0                           an element by position (unused by the kinds served here)

    ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}', "f:image")

A *field set* is a Python `set` of paths. FieldsV1 is the same set written as a tree: each
element a key, a member without children `{}`, a member with children marked by `".": {}`:

    {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers":
        {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}

holds `spec.replicas`, the container item `app` itself, its `image` and its `name` — but not
`spec` or `spec.template`, which are only on the way.

Kubernetes equivalent: sigs.k8s.io/structured-merge-diff/v4/fieldpath (element.go, path.go,
set.go, serialize.go, serialize-pe.go)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Path = tuple[str, ...]
FieldSet = set[Path]

MEMBER = "."
_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def field(name: str) -> str:
    return "f:" + name


# One encoder for every element: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def key(values: Mapping[str, Any]) -> str:
    return "k:" + _JSON.encode(values)


def value(item: Any) -> str:
    return "v:" + _JSON.encode(item)


# --------------------------------------------------------------------------- FieldsV1


def from_fields_v1(tree: Any) -> FieldSet:
    """The set a FieldsV1 tree holds. Raises ValueError when `tree` is not FieldsV1."""
    out: FieldSet = set()
    if not isinstance(tree, dict):
        raise ValueError("fieldsV1 must be an object")
    _collect(tree, (), out)
    return out


def _collect(node: dict[str, Any], path: Path, out: FieldSet) -> None:
    for element, child in node.items():
        if element == MEMBER:
            if path:
                out.add(path)
            continue
        if not isinstance(child, dict) or element[:2] not in ("f:", "k:", "v:", "i:"):
            raise ValueError(f"invalid fieldsV1 element {element!r}")
        here = (*path, element)
        if child:
            _collect(child, here, out)
        else:
            out.add(here)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 tree of a set, children in upstream's order (fields, keys, values, indices)."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for element in path:
            child = node.get(element)
            if child is None:
                child = node[element] = {}
            elif not child:
                child[MEMBER] = {}  # it was a member leaf; it gains children now
            node = child
        if node and MEMBER not in node:
            node[MEMBER] = {}
    return _sorted(root)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if MEMBER in node and len(node) > 1:
        out[MEMBER] = {}
    for element in sorted((e for e in node if e != MEMBER), key=lambda e: (_RANK.get(e[0], 9), e)):
        out[element] = _sorted(node[element])
    return out


def has_any(tree: Mapping[str, Any], paths: Iterable[Path]) -> bool:
    """Whether the FieldsV1 `tree` holds any of `paths` as a member, without decoding it."""
    for path in paths:
        node: Any = tree
        for element in path:
            node = node.get(element)
            if node is None:
                break
        else:
            if node is not None and (not node or MEMBER in node):
                return True
    return False


def with_named_parents(paths: Iterable[Path]) -> FieldSet:
    """`paths` plus every field (`f:`) on the way to one of them.

    Pruning removes whole subtrees, so owning `spec.strategy.rollingUpdate.maxSurge` must also
    protect `spec.strategy` from removal; list items on the way are not added (an item is
    owned only when it was applied). Kubernetes equivalent: Set.EnsureNamedFieldsAreMembers.
    """
    out: FieldSet = set()
    for path in paths:
        out.add(path)
        for end in range(1, len(path)):
            if path[end - 1].startswith("f:"):
                out.add(path[:end])
    return out


# --------------------------------------------------------------------------- display


def to_string(path: Path) -> str:
    """The path as upstream prints it in conflicts: `.spec.containers[name="app"].image`."""
    parts: list[str] = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + text)
        elif kind == "k:":
            fields = json.loads(text)
            parts.append("[" + ",".join(f"{name}={_go(v)}" for name, v in fields.items()) + "]")
        elif kind == "v:":
            parts.append(f"[={_go(json.loads(text))}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _go(item: Any) -> str:
    """A value as Go's value.ToString prints it: strings quoted, numbers and booleans bare."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    if item is None:
        return "null"
    if isinstance(item, int | float):
        return json.dumps(item)
    return json.dumps(item, separators=(",", ":"), sort_keys=True)
