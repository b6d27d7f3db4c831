"""The JSONPath subset CRDs use: ``.spec.replicas``, ``.status.conditions[0].type``, ``.metadata.labels.app``.

Printer columns (``additionalPrinterColumns[].jsonPath``) and the scale subresource's paths
(``specReplicasPath``, ``statusReplicasPath``, ``labelSelectorPath``) are simple paths: dotted
field names with optional list indexes. Kubernetes' printer accepts full JSONPath templates
(``{.spec.x}``, filters); this lab takes the simple form, which is what almost every CRD uses, and
refuses the rest when the CRD is validated, with the field named.

Kubernetes equivalent: k8s.io/client-go/util/jsonpath (the simple subset),
k8s.io/apiextensions-apiserver/pkg/apiserver/validation (ValidateCustomResourceDefinitionSpec's path checks)
"""

from __future__ import annotations

import re
from typing import Any

_SEGMENT = re.compile(r"\.([A-Za-z0-9_$-]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


class PathError(ValueError):
    """A path outside the subset; the message says what is accepted."""


def parse(path: str) -> list[str | int]:
    """``.spec.items[0].name`` → ``["spec", "items", 0, "name"]``; PathError if not simple."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not text.startswith("."):
        raise PathError("must be a simple json path starting with '.', e.g. .spec.replicas")
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        if match is None:
            raise PathError("must be a simple json path of field names and [index]es, e.g. .status.conditions[0].type")
        parts.append(match.group(1))
        parts.extend(int(i) for i in _INDEX.findall(match.group(2)))
        pos = match.end()
    return parts


def get(obj: Any, path: str | list[str | int]) -> tuple[Any, bool]:
    """The value at ``path`` and whether it was there."""
    parts = parse(path) if isinstance(path, str) else path
    current = obj
    for part in parts:
        if isinstance(part, int):
            if not isinstance(current, list) or part >= len(current):
                return None, False
            current = current[part]
        else:
            if not isinstance(current, dict) or part not in current:
                return None, False
            current = current[part]
    return current, True


def set_value(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a path of field names (no indexes), creating objects on the way."""
    parts = parse(path)
    if any(isinstance(p, int) for p in parts):
        raise PathError("must not contain list indexes")
    current = obj
    for part in parts[:-1]:
        nxt = current.get(part)  # type: ignore[arg-type]
        if not isinstance(nxt, dict):
            nxt = {}
            current[part] = nxt  # type: ignore[index]
        current = nxt
    current[parts[-1]] = value  # type: ignore[index]
