"""Who owns which field: managedFields kept up to date by every write, and server-side apply.

Update (create, PUT, every PATCH but apply), for manager M:

    changes = compare(old, new)                  (only tracked fields: see `_tracked`)
    every entry loses the fields that changed    (someone else set them now)
    M's Update entry gains the added and modified fields, its time is now

    An update that changes nothing tracked leaves managedFields as they are, without decoding
    them: the cheap path most controller and node-agent writes take.

Apply (PATCH with application/apply-patch+yaml), manager M, configuration C:

    merged = merge(live, C)                      (typed.merge)
    M's Apply entry becomes field_set(C)
    prune: fields M applied last time, does not apply now and nobody else owns are removed
    -- the strategy defaults, canonicalizes and validates `merged` --
    changes = compare(live, merged)
    conflicts = fields another manager owns that the apply adds or modifies
    conflicts and not force  -> 409 Conflict naming each field and manager
    force                    -> the others lose those fields; M owns them

    Setting a field to the value it already has is no conflict: both managers then own it.

Client-side apply and its migration (Kubernetes 1.32 behaviour, kept so `kubectl apply` then
`kubectl apply --server-side` just works): when the manager is `kubectl` (the default of
`kubectl apply --server-side`), conflicts over fields that the object's
`kubectl.kubernetes.io/last-applied-configuration` annotation holds with their live values are
not conflicts — kubectl set them before — and the annotation is rewritten to the new
configuration. kubectl then moves the `kubectl-client-side-apply` entry into its Apply entry
with a JSON patch of `metadata.managedFields`, which `record_update` honours: managedFields a
request sends (non-empty, well-formed) replace the stored ones, as upstream allows.

Objects written before managedFields existed: their first apply credits every field to
`before-first-apply`, so a different value conflicts instead of silently winning.

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/managedfields/internal (fieldmanager.go,
structuredmerge.go, stripmeta.go, lastappliedmanager.go, lastappliedupdater.go,
skipnonapplied.go, managedfieldsupdater.go, conflict.go), sigs.k8s.io/structured-merge-diff/v4/
merge/update.go, k8s.io/apiserver/pkg/endpoints/handlers/rest.go (managerOrUserAgent)
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from orchestrator.api.errors import BadRequest, Cause, Conflict, Invalid
from orchestrator.api.resources import RESOURCES
from orchestrator.api.timestamps import now_rfc3339
from orchestrator.apiserver.fieldmanager import entries as managed
from orchestrator.apiserver.fieldmanager import fieldpath, typed
from orchestrator.apiserver.fieldmanager.entries import APPLY, UPDATE, Entry
from orchestrator.apiserver.fieldmanager.fieldpath import FieldSet

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KUBECTL_SSA_MANAGER = "kubectl"
BEFORE_FIRST_APPLY = "before-first-apply"
FIELD_MANAGER_MAX_LENGTH = 128

# Never owned: identity and bookkeeping the server sets (upstream stripmeta.go).
_UNTRACKED_META = frozenset({
    "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
    "managedFields", "resourceVersion",
})
# The Go zero value of a new object has these (non-pointer) structs already, so the creator
# does not own the struct itself — only what is inside (`f:spec` carries no `.` upstream).
# A nil slice is there too (`containers: null`): the list is not owned, its items are.
_POD_SPEC_ZERO = {"containers": None}
_ZERO: dict[str, dict[str, Any]] = {
    "Pod": {"metadata": {}, "spec": _POD_SPEC_ZERO, "status": {}},
    "Deployment": {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": _POD_SPEC_ZERO}, "strategy": {}},
                   "status": {}},
    "ReplicaSet": {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": _POD_SPEC_ZERO}}, "status": {}},
}
_ZERO_DEFAULT: dict[str, Any] = {"metadata": {}, "spec": {}, "status": {}}


# --------------------------------------------------------------------------- manager names


def manager_name(field_manager: str | None, user_agent: str | None, *, options_kind: str = "PatchOptions") -> str:
    """The manager of a create, update or non-apply patch: `?fieldManager=`, else the product
    in the User-Agent (`kubectl/v1.32.0 (linux/amd64) ...` -> `kubectl`, `OpenAPI-Generator`,
    `Go-http-client`), printable characters only, at most 128. `options_kind` names the
    options in a 422 (CreateOptions, UpdateOptions, PatchOptions)."""
    if field_manager:
        check_field_manager(field_manager, options_kind=options_kind)
        return field_manager
    product = (user_agent or "").split("/", 1)[0]
    return "".join(ch for ch in product if ch.isprintable())[:FIELD_MANAGER_MAX_LENGTH]


def check_field_manager(name: str, *, options_kind: str = "PatchOptions") -> None:
    """422 for a fieldManager that is too long or holds unprintable characters (upstream wording)."""
    causes = []
    if len(name) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(Cause("fieldManager", f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes",
                            "FieldValueTooLong"))
    for i, ch in enumerate(name):
        if not ch.isprintable():
            causes.append(Cause("fieldManager", f"Invalid value: {name!r}: invalid character "
                                f"U+{ord(ch):04X} {unicodedata.name(ch, '')!r} (at position {i})"))
    if causes:
        raise Invalid(f'{options_kind}.meta.k8s.io "" is invalid: '
                      + ", ".join(f"{c.field}: {c.message}" for c in causes),
                      causes=causes, kind=options_kind, group="meta.k8s.io", name="")


def check_apply_options(*, field_manager: str | None, force: str | None, apply: bool) -> bool:
    """Validate a PATCH's `fieldManager` and `force` (ValidatePatchOptions); returns force."""
    # Go's strconv.ParseBool spellings, which is what kube-apiserver accepts.
    forced = (force or "").lower() in ("1", "t", "true")
    if force is not None and force.lower() not in ("1", "t", "true", "0", "f", "false"):
        raise BadRequest(f'force must be "true" or "false", got {force!r}')
    if not apply:
        if force is not None:
            raise Invalid('PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified '
                          "for non-apply patch", causes=[Cause("force", "Forbidden: may not be specified for "
                                                               "non-apply patch", "FieldValueForbidden")],
                          kind="PatchOptions", group="meta.k8s.io", name="")
        return False
    if not field_manager:
        raise Invalid('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
                      "apply patch", causes=[Cause("fieldManager", "Required value: is required for apply patch",
                                                   "FieldValueRequired")],
                      kind="PatchOptions", group="meta.k8s.io", name="")
    check_field_manager(field_manager)
    return forced


# --------------------------------------------------------------------------- the manager


@dataclass
class ApplyPlan:
    """An apply half done: `obj` is the merged, pruned object to hand to the strategy."""

    obj: dict[str, Any]
    live: dict[str, Any] | None
    config: dict[str, Any]
    entries: list[Entry]
    own: Entry


class FieldManager:
    """managedFields for one kind. Pure: objects in, objects out, no I/O."""

    def __init__(self, *, kind: str, api_version: str, status_subresource: bool,
                 schema: typed.Schema | None = None) -> None:
        """`schema`: for a custom resource, `typed.schema_from_openapi(version schema)`; built-in
        kinds default to the strategic-merge table's."""
        self.kind = kind
        self.api_version = api_version
        self.status_subresource = status_subresource
        self.schema = schema if schema is not None else typed.schema_for(kind)
        self._zero = _ZERO.get(kind, _ZERO_DEFAULT)

    # -- what is tracked ----------------------------------------------------------------------

    def _tracked(self, obj: Mapping[str, Any], subresource: str | None) -> dict[str, Any]:
        """The part of `obj` whose fields have owners, as a shallow view (nothing copied deep).

        Through the status subresource only the status counts; through the main resource
        everything but identity, bookkeeping and — when it has its own subresource — the status.
        """
        if subresource == "status":
            return {"status": obj.get("status") or {}}  # a Go object always has one: never "added"
        out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        if self.status_subresource:
            out.pop("status", None)
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            kept = {k: v for k, v in meta.items() if k not in _UNTRACKED_META}
            if kept:  # `metadata: {name: x}` sets nothing anyone owns
                out["metadata"] = kept
        return out

    # -- create, update, patch ------------------------------------------------------------------

    def record_create(self, obj: dict[str, Any], *, manager: str, incoming: Any = None,
                      now: str | None = None) -> None:
        """Set `obj`'s managedFields for its creation by `manager` (in place).

        `incoming` is the managedFields the request body carried (the strategy drops them
        from the object), honoured as in `record_update`."""
        if _requested(incoming) is not None:
            self.record_update(self._zero, obj, manager=manager, incoming=incoming, now=now)
            return
        tree = typed.creation_tree(self._tracked(obj, None), self._zero, self.schema)
        meta = obj.setdefault("metadata", {})
        if not tree:
            meta.pop("managedFields", None)
            return
        meta["managedFields"] = [{"manager": manager, "operation": UPDATE, "apiVersion": self.api_version,
                                  "time": now or now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": tree}]

    def record_update(self, old: Mapping[str, Any], new: dict[str, Any], *, manager: str,
                      subresource: str | None = None, incoming: Any = None, now: str | None = None) -> None:
        """Set `new`'s managedFields for the write of `new` over `old` by `manager` (in place)."""
        meta = new.setdefault("metadata", {})
        stored = (old.get("metadata") or {}).get("managedFields")
        # A body that echoes the stored list (a GET-modify-PUT, any patch) requests nothing.
        requested = not subresource and incoming is not stored and incoming != stored
        base = _requested(incoming) if requested else None
        changes = typed.compare(self._tracked(old, subresource), self._tracked(new, subresource), self.schema)
        if base is None:
            if changes.empty():
                _set_managed(meta, stored)  # nothing tracked changed: keep them, undecoded
                return
            base = _decode_or_empty(stored)
        taken = changes.added | changes.modified
        lost = taken | changes.removed
        for entry in base:
            if entry.touches(lost):
                entry.fields = entry.fields - lost
        if taken:
            identity = (manager, UPDATE, self.api_version, subresource or "")
            own = managed.find(base, identity)
            if own is None:
                own = Entry(manager, UPDATE, self.api_version, subresource or "")
                own.fields = set()
                base.append(own)
            own.fields = own.fields | taken
            own.time = now or now_rfc3339()
        _set_managed(meta, managed.encode(managed.cap_update_managers(base)))

    # -- apply ----------------------------------------------------------------------------------

    def begin_apply(self, live: Mapping[str, Any] | None, config: Any, *, manager: str,
                    subresource: str | None = None) -> ApplyPlan:
        """Merge `config` into `live` (None: the object does not exist yet) and prune what
        `manager` stopped applying. Raises BadRequest/Invalid for a configuration that is not
        one of this kind's objects."""
        self._check_config(config)
        entries = _decode_or_empty((live or {}).get("metadata", {}).get("managedFields")) if live else []
        if live is not None and not entries:
            entries = self._before_first_apply(live, subresource)
        try:
            applied = typed.field_set(self._tracked(config, subresource), self.schema)
            merged = typed.merge(live or {}, config, self.schema)
        except typed.SchemaError as err:
            raise Invalid(f"{self.kind} is invalid: {err}", causes=[Cause("", str(err))], kind=self.kind) from None
        identity = (manager, APPLY, "", subresource or "")
        own = managed.find(entries, identity)
        last: FieldSet = set()
        if own is None:
            own = Entry(manager, APPLY, self.api_version, subresource or "")
            entries.append(own)
        else:
            last = own.fields
        own.fields = applied
        own.api_version = self.api_version
        if last:
            owned: FieldSet = {("f:metadata",)}  # identity fields live there, never owned, never pruned
            for entry in entries:
                owned |= entry.fields
            stale = fieldpath.with_named_parents(last) - fieldpath.with_named_parents(owned)
            if subresource == "status":
                stale = {p for p in stale if p[0] == "f:status"}
            typed.remove(merged, stale, self.schema)
        return ApplyPlan(obj=merged, live=dict(live) if live is not None else None, config=config,
                         entries=entries, own=own)

    def finish_apply(self, plan: ApplyPlan, new: dict[str, Any], *, force: bool, subresource: str | None = None,
                     now: str | None = None) -> None:
        """Check conflicts between `plan.live` and `new` (the strategy's result), then set
        `new`'s managedFields (in place). Raises Conflict (409) listing each conflict."""
        own, live = plan.own, plan.live
        others = [e for e in plan.entries if e is not own]
        changed = True
        if live is not None:
            changes = typed.compare(self._tracked(live, subresource), self._tracked(new, subresource), self.schema)
            changed = not changes.empty()
            taken = changes.added | changes.modified
            conflicts = {id(e): e.fields & taken for e in others if e.touches(taken)}
            conflicts = {k: v for k, v in conflicts.items() if v}
            if conflicts and not force:
                unresolved = conflicts
                if own.manager == KUBECTL_SSA_MANAGER:
                    # Fields kubectl itself set by client-side apply: take them over (forced).
                    allowed = self._set_by_client_side_apply(live)
                    unresolved = {k: v - allowed for k, v in conflicts.items() if v - allowed}
                if unresolved:
                    raise _conflict_error(others, unresolved)
            for entry in others:
                lost = (conflicts.get(id(entry)) or set()) | changes.removed
                if entry.touches(lost):
                    entry.fields = entry.fields - lost
        if changed or own.time is None:
            own.time = now or now_rfc3339()
        meta = new.setdefault("metadata", {})
        _set_managed(meta, managed.encode(managed.cap_update_managers(plan.entries)))
        annotations = meta.get("annotations")
        if own.manager == KUBECTL_SSA_MANAGER and isinstance(annotations, dict) and LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = _last_applied(plan.config)

    def apply(self, live: Mapping[str, Any] | None, config: Any, *, manager: str, force: bool = False,
              now: str | None = None) -> dict[str, Any]:
        """Both halves with nothing in between: the applied object with its managedFields."""
        plan = self.begin_apply(live, config, manager=manager)
        self.finish_apply(plan, plan.obj, force=force, now=now)
        return plan.obj

    # -- helpers ---------------------------------------------------------------------------------

    def _check_config(self, config: Any) -> None:
        if not isinstance(config, dict):
            raise BadRequest("the apply configuration must be an object (a YAML or JSON mapping)")
        api_version, kind = config.get("apiVersion"), config.get("kind")
        if api_version != self.api_version:
            raise BadRequest("Incorrect version specified in apply patch. Specified patch version: "
                             f"{api_version or ''}, expected: {self.api_version}")
        if kind != self.kind:
            raise BadRequest(f"Incorrect kind specified in apply patch. Specified patch kind: {kind or ''}, "
                             f"expected: {self.kind}")
        meta = config.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        if meta and meta.get("managedFields") is not None:
            raise BadRequest("metadata.managedFields must be nil")

    def _before_first_apply(self, live: Mapping[str, Any], subresource: str | None) -> list[Entry]:
        everything = typed.compare(self._tracked(self._zero, subresource), self._tracked(live, subresource), self.schema)
        fields = everything.added | everything.modified
        if not fields:
            return []
        entry = Entry(BEFORE_FIRST_APPLY, UPDATE, self.api_version, subresource or "", time=now_rfc3339())
        entry.fields = fields
        return [entry]

    def _set_by_client_side_apply(self, live: Mapping[str, Any]) -> FieldSet:
        """Fields the last-applied annotation holds with their live values (lastappliedmanager.go)."""
        text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        if not text:
            return set()
        try:
            last = json.loads(text)
            if not isinstance(last, dict) or last.get("apiVersion") != self.api_version:
                return set()
            fields = typed.field_set(self._tracked(last, None), self.schema)
        except (ValueError, typed.SchemaError):
            return set()
        differ = typed.compare(self._tracked(last, None), self._tracked(live, None), self.schema)
        return fields - differ.modified - differ.added - differ.removed


@cache
def field_manager_for(kind: str, api_version: str, status_subresource: bool) -> FieldManager:
    """The (stateless, shared) field manager of a kind. Only built-in kinds use the strategic-merge
    table (a custom `Deployment` in another group is not apps/v1's); others get ObjectMeta's lists
    and atomic lists elsewhere unless built with `typed.schema_from_openapi`."""
    builtin = any(r.kind == kind and r.api_version == api_version for r in RESOURCES)
    return FieldManager(kind=kind, api_version=api_version, status_subresource=status_subresource,
                        schema=None if builtin else typed.schema_for(""))


def _requested(incoming: Any) -> list[Entry] | None:
    """The managedFields a request sets itself: `[{}]` resets them, anything malformed or empty
    is ignored (the stored ones are kept — clients that do not know the field must not lose it)."""
    if incoming == [{}]:
        return []
    if not incoming:
        return None
    try:
        return managed.decode(incoming)
    except ValueError:
        return None


def _decode_or_empty(raw: Any) -> list[Entry]:
    try:
        return managed.decode(raw)
    except ValueError:
        return []  # garbage in storage is not worth failing a write over (upstream resets too)


def _set_managed(meta: dict[str, Any], value: list[dict[str, Any]] | None) -> None:
    if value:
        meta["managedFields"] = value
    else:
        meta.pop("managedFields", None)


def _last_applied(config: Mapping[str, Any]) -> str:
    body = json.loads(json.dumps(config))
    annotations = (body.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def _conflict_error(entries: list[Entry], conflicts: dict[int, FieldSet]) -> Conflict:
    """409 in upstream's words: `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`."""
    by_manager: list[tuple[str, list[str]]] = []
    for entry in entries:
        paths = conflicts.get(id(entry))
        if paths:
            by_manager.append((entry.describe(), sorted(fieldpath.to_string(p) for p in paths)))
    by_manager.sort()
    causes = [Cause(path, f"conflict with {who}", "FieldManagerConflict") for who, paths in by_manager for path in paths]
    if len(causes) == 1:
        who, paths = by_manager[0]
        message = f"Apply failed with 1 conflict: conflict with {who}: {paths[0]}"
    else:
        lines = []
        for who, paths in by_manager:
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {p}" for p in paths)
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return Conflict(message, causes=causes)
