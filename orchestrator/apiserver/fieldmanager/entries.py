"""`metadata.managedFields`: one entry per (manager, operation, apiVersion, subresource), as stored.

    - manager: kubectl-client-side-apply      who (the fieldManager, or the User-Agent's product)
      operation: Update                       Update (create, update, patch) or Apply
      apiVersion: apps/v1                     the version the fields are named in
      time: "2026-12-06T11:30:00Z"            when this manager last changed something
      fieldsType: FieldsV1
      fieldsV1: {f:spec: {f:replicas: {}}}     the fields it owns (see fieldpath.py)
      subresource: status                     only when written through a subresource

An Apply entry is identified without its apiVersion (a manager applies the same configuration
whatever version it names), an Update entry with it. Entries are kept sorted as upstream
writes them: Apply before Update, then oldest first, then by manager. The FieldsV1 tree of an
entry is decoded only when a request touches a field it might own (`Entry.touches`), so an
update that changes one field of an object with five managers decodes at most the owners.

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/managedfields/internal (managedfields.go,
capmanagers.go), k8s.io/apimachinery/pkg/apis/meta/v1 ManagedFieldsEntry
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.apiserver.fieldmanager import fieldpath
from orchestrator.apiserver.fieldmanager.fieldpath import FieldSet

APPLY = "Apply"
UPDATE = "Update"
Operation = Literal["Apply", "Update"]

# Update entries beyond this many are folded, oldest first, into one "ancient-changes" entry so
# that a busy object's metadata does not grow without end (upstream's cap is the same).
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"

Identity = tuple[str, str, str, str]


@dataclass(eq=False)
class Entry:
    manager: str
    operation: Operation
    api_version: str
    subresource: str = ""
    time: str | None = None
    _tree: dict[str, Any] | None = None
    _fields: FieldSet | None = field(default=None)

    @property
    def identity(self) -> Identity:
        return (self.manager, self.operation, "" if self.operation == APPLY else self.api_version, self.subresource)

    @property
    def fields(self) -> FieldSet:
        if self._fields is None:
            self._fields = fieldpath.from_fields_v1(self._tree or {})
        return self._fields

    @fields.setter
    def fields(self, value: FieldSet) -> None:
        self._fields = value
        self._tree = None

    def touches(self, paths: FieldSet) -> bool:
        """Whether this entry owns any of `paths` (without decoding an untouched tree)."""
        if not paths:
            return False
        if self._fields is not None:
            return not self._fields.isdisjoint(paths)
        return fieldpath.has_any(self._tree or {}, paths)

    def empty(self) -> bool:
        return not self._fields if self._fields is not None else not self._tree

    def describe(self) -> str:
        """How conflicts name this manager: `"kubectl-client-side-apply" using apps/v1`."""
        text = fieldpath._go(self.manager)
        if self.subresource:
            text += f" with subresource {fieldpath._go(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def to_dict(self) -> dict[str, Any]:
        tree = self._tree if self._tree is not None else fieldpath.to_fields_v1(self.fields)
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = tree
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def decode(raw: Any) -> list[Entry]:
    """Entries from `metadata.managedFields`. Raises ValueError naming what is malformed."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("managedFields must be a list")
    entries: list[Entry] = []
    seen: set[Identity] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"managedFields[{i}] must be an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError(f'managedFields[{i}].operation must be "Apply" or "Update"')
        if item.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f'managedFields[{i}].fieldsType must be "FieldsV1"')
        tree = item.get("fieldsV1") or {}
        if not isinstance(tree, dict):
            raise ValueError(f"managedFields[{i}].fieldsV1 must be an object")
        strings = {name: item.get(name) for name in ("manager", "apiVersion", "time", "subresource")}
        for name, value in strings.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"managedFields[{i}].{name} must be a string")
        entry = Entry(manager=strings["manager"] or "", operation=operation,
                      api_version=strings["apiVersion"] or "", subresource=strings["subresource"] or "",
                      time=strings["time"], _tree=tree)
        if entry.identity in seen:
            raise ValueError(f"managedFields[{i}]: duplicate entry for manager {entry.describe()}")
        seen.add(entry.identity)
        entries.append(entry)
    return entries


def encode(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """The stored form: non-empty entries in upstream's order."""
    kept = [e for e in entries if not e.empty()]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.to_dict() for e in kept]


def find(entries: list[Entry], identity: Identity) -> Entry | None:
    return next((e for e in entries if e.identity == identity), None)


def cap_update_managers(entries: list[Entry]) -> list[Entry]:
    """Fold the oldest Update entries into `ancient-changes` until at most MAX_UPDATE_MANAGERS remain."""
    updates = [e for e in entries if e.operation == UPDATE and not e.empty()]
    if len(updates) <= MAX_UPDATE_MANAGERS:
        return entries
    updates.sort(key=lambda e: (e.time or "", e.manager))
    kept = list(entries)
    while len([e for e in kept if e.operation == UPDATE]) > MAX_UPDATE_MANAGERS:
        oldest = updates.pop(0)
        kept.remove(oldest)
        bucket = find(kept, (ANCIENT_CHANGES, UPDATE, oldest.api_version, ""))
        if bucket is None:
            bucket = Entry(ANCIENT_CHANGES, UPDATE, oldest.api_version)
            bucket.fields = set()
            kept.append(bucket)
            updates.append(bucket)
        bucket.fields = bucket.fields | oldest.fields
        bucket.time = max(bucket.time or "", oldest.time or "") or None
    return kept
