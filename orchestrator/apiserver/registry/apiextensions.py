"""apiextensions.k8s.io/v1 CustomResourceDefinition: its strategy (what a CRD may say, and the
status the server gives it).

A CRD is validated the way kube-apiserver validates one, each problem a cause naming its field:
``metadata.name`` must be ``<spec.names.plural>.<spec.group>``; the group a DNS subdomain with
at least one dot; plural, singular, kind and listKind DNS-1035 labels (kind and listKind compared
lower-cased); scope ``Namespaced`` or ``Cluster``; versions unique, exactly one with
``storage: true``, at least one served; every version's ``schema.openAPIV3Schema`` structural
(``apiserver/schema/structural.py``); scale paths and printer columns simple JSON paths.

Status: Kubernetes has two controllers write it (the naming controller accepts names, the
establishing controller marks the CRD Established). Here the server writes it when it stores
the CRD: names are accepted (the ``NamesAccepted`` and ``Established`` conditions become True,
``status.acceptedNames`` the defaulted names) and ``status.storedVersions`` gains the storage
version. A name taken by another CRD or a built-in resource is caught when the API server's
resource catalog loads the CRD (``apiserver/catalog.py``): it serves only the older one and
writes NamesAccepted=False on the other, as upstream's naming controller.

Deletion: every CRD carries the finalizer ``customresourcecleanup.apiextensions.k8s.io`` from its
creation, so a DELETE only marks it (deletionTimestamp); the API server's CRD cleanup then
deletes every instance and removes the finalizer, which completes the deletion. Kubernetes adds
the finalizer at the first DELETE instead; adding it at creation keeps the strategy pure.

Kubernetes equivalent: k8s.io/apiextensions-apiserver/pkg/registry/customresourcedefinition/strategy.go,
pkg/apis/apiextensions/validation/validation.go, pkg/apis/apiextensions/v1/defaults.go
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause
from orchestrator.api.resources import ResourceInfo, by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.schema import jsonpath
from orchestrator.apiserver.schema.structural import structural_errors
from orchestrator.apiserver.validation import FieldErrors, rfc3339, validate_object_meta

Obj = dict[str, Any]

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
SCOPES = ("Cluster", "Namespaced")
COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
CONVERSION_STRATEGIES = ("None",)

_CREATED_AT_DOC = "CreationTimestamp is a timestamp representing the server time when this object was created."


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def default_names(spec: dict[str, Any]) -> None:
    """v1 defaults: singular = lower-cased kind, listKind = kind + "List"."""
    names_ = spec.get("names")
    if not isinstance(names_, dict):
        return
    kind = names_.get("kind")
    if isinstance(kind, str) and kind:
        names_.setdefault("singular", kind.lower())
        names_.setdefault("listKind", f"{kind}List")


def default_spec(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    default_names(spec)
    conversion = spec.setdefault("conversion", {})
    if isinstance(conversion, dict):
        conversion.setdefault("strategy", "None")


def storage_version(obj: Mapping[str, Any]) -> str | None:
    for version in _spec(obj).get("versions") or []:
        if isinstance(version, Mapping) and version.get("storage") is True:
            return version.get("name")
    return None


def _condition(type_: str, status: str, reason: str, message: str, now: datetime,
               old: list[Mapping[str, Any]]) -> dict[str, Any]:
    previous = next((c for c in old if c.get("type") == type_), None)
    moment = rfc3339(now)
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        moment = previous["lastTransitionTime"]
    return {"type": type_, "status": status, "lastTransitionTime": moment, "reason": reason, "message": message}


def accept(obj: Obj, *, now: datetime, old_status: Mapping[str, Any] | None = None) -> None:
    """The status the server gives a CRD it stores: names accepted, Established, the storage
    version recorded (storedVersions only ever grows, as upstream's)."""
    old_status = old_status or {}
    old_conditions = [c for c in old_status.get("conditions") or [] if isinstance(c, Mapping)]
    status: dict[str, Any] = {}
    terminating = bool((obj.get("metadata") or {}).get("deletionTimestamp"))
    conditions = [
        _condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", now, old_conditions),
        _condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted", now,
                   old_conditions),
    ]
    if terminating:
        conditions.append(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                     "CustomResource deletion is in progress", now, old_conditions))
    status["conditions"] = conditions
    status["acceptedNames"] = copy.deepcopy(_spec(obj).get("names") or {})
    stored = [v for v in old_status.get("storedVersions") or [] if isinstance(v, str)]
    current = storage_version(obj)
    if current and current not in stored:
        stored.append(current)
    status["storedVersions"] = stored
    obj["status"] = status


# --- validation ---------------------------------------------------------------------------------------


def _label(errs: FieldErrors, path: str, value: Any, *, required: bool = True, lower: bool = False) -> None:
    if not value:
        if required:
            errs.required(path)
        return
    if not isinstance(value, str):
        errs.invalid(path, value, "must be a string")
        return
    for msg in names.dns1035_label(value.lower() if lower else value):
        errs.invalid(path, value, msg)


def _validate_names(errs: FieldErrors, names_: Any, path: str) -> None:
    if not isinstance(names_, Mapping):
        errs.required(path)
        return
    _label(errs, f"{path}.plural", names_.get("plural"))
    _label(errs, f"{path}.singular", names_.get("singular"))
    _label(errs, f"{path}.kind", names_.get("kind"), lower=True)
    _label(errs, f"{path}.listKind", names_.get("listKind"), lower=True)
    kind, list_kind = names_.get("kind"), names_.get("listKind")
    if kind and kind == list_kind:
        errs.invalid(f"{path}.listKind", list_kind, "kind and listKind may not be the same")
    for key in ("shortNames", "categories"):
        for i, item in enumerate(names_.get(key) or []):
            _label(errs, f"{path}.{key}[{i}]", item)


def _validate_path(errs: FieldErrors, path: str, value: Any, *, prefixes: tuple[str, ...], required: bool) -> None:
    if not value:
        if required:
            errs.required(path)
        return
    try:
        parts = jsonpath.parse(value)
    except jsonpath.PathError as err:
        errs.invalid(path, value, str(err))
        return
    if any(isinstance(p, int) for p in parts):
        errs.invalid(path, value, "must be a json path without array indexes")
    elif prefixes and not any(value.startswith(p) for p in prefixes):
        errs.invalid(path, value, "should be a json path under " + " or ".join(prefixes))


def _validate_version(errs: FieldErrors, version: Any, path: str) -> None:
    if not isinstance(version, Mapping):
        errs.invalid(path, version, "must be an object")
        return
    _label(errs, f"{path}.name", version.get("name"))
    for key in ("served", "storage"):
        if not isinstance(version.get(key), bool):
            errs.required(f"{path}.{key}")
    schema = (version.get("schema") or {}).get("openAPIV3Schema") if isinstance(version.get("schema"), Mapping) else None
    errs.extend(structural_errors(schema, f"{path}.schema.openAPIV3Schema"))
    scale = ((version.get("subresources") or {}).get("scale")) if isinstance(version.get("subresources"), Mapping) else None
    if isinstance(scale, Mapping):
        sp = f"{path}.subresources.scale"
        _validate_path(errs, f"{sp}.specReplicasPath", scale.get("specReplicasPath"), prefixes=(".spec.",), required=True)
        _validate_path(errs, f"{sp}.statusReplicasPath", scale.get("statusReplicasPath"), prefixes=(".status.",),
                       required=True)
        _validate_path(errs, f"{sp}.labelSelectorPath", scale.get("labelSelectorPath"),
                       prefixes=(".spec.", ".status."), required=False)
    seen: list[str] = []
    for i, column in enumerate(version.get("additionalPrinterColumns") or []):
        cp = f"{path}.additionalPrinterColumns[{i}]"
        if not isinstance(column, Mapping):
            errs.invalid(cp, column, "must be an object")
            continue
        name = column.get("name")
        if not name:
            errs.required(f"{cp}.name")
        elif name in seen:
            errs.duplicate(f"{cp}.name", name)
        else:
            seen.append(name)
        if column.get("type") not in COLUMN_TYPES:
            if not column.get("type"):
                errs.required(f"{cp}.type")
            else:
                errs.not_supported(f"{cp}.type", column.get("type"), COLUMN_TYPES)
        if isinstance(column.get("priority"), int) and column["priority"] < 0:
            errs.invalid(f"{cp}.priority", column["priority"], "must be greater than or equal to 0")
        _validate_path(errs, f"{cp}.jsonPath", column.get("jsonPath"), prefixes=(), required=True)


def validate_crd(obj: Mapping[str, Any]) -> list[Cause]:
    """Every problem of a CRD, with field paths (ValidateCustomResourceDefinition)."""
    errs = FieldErrors()
    meta = obj.get("metadata") or {}
    validate_object_meta(errs, meta, namespaced=False, name_fn=names.dns1123_subdomain)
    spec = _spec(obj)
    group = spec.get("group")
    if not group:
        errs.required("spec.group")
    elif not isinstance(group, str):
        errs.invalid("spec.group", group, "must be a string")
    else:
        for msg in names.dns1123_subdomain(group):
            errs.invalid("spec.group", group, msg)
        if "." not in group:
            errs.invalid("spec.group", group, "should be a domain with at least one dot")
    names_ = spec.get("names")
    _validate_names(errs, names_, "spec.names")
    plural = names_.get("plural") if isinstance(names_, Mapping) else None
    if meta.get("name") and plural and group and meta["name"] != f"{plural}.{group}":
        errs.invalid("metadata.name", meta["name"], 'must be spec.names.plural+"."+spec.group')
    scope = spec.get("scope")
    if not scope:
        errs.required("spec.scope")
    elif scope not in SCOPES:
        errs.not_supported("spec.scope", scope, SCOPES)
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        errs.invalid("spec.versions", versions if versions is not None else [], "must have exactly one version marked as storage version")
        versions = []
    version_names: list[str] = []
    for i, version in enumerate(versions):
        _validate_version(errs, version, f"spec.versions[{i}]")
        name = version.get("name") if isinstance(version, Mapping) else None
        if name in version_names:
            errs.duplicate(f"spec.versions[{i}].name", name)
        elif isinstance(name, str):
            version_names.append(name)
    if versions:
        storage = [v for v in versions if isinstance(v, Mapping) and v.get("storage") is True]
        if len(storage) != 1:
            errs.invalid("spec.versions", [v.get("name") for v in versions if isinstance(v, Mapping)],
                         "must have exactly one version marked as storage version")
        if not any(isinstance(v, Mapping) and v.get("served") is True for v in versions):
            errs.invalid("spec.versions", [v.get("name") for v in versions if isinstance(v, Mapping)],
                         "must have at least one version marked as served")
    strategy = (spec.get("conversion") or {}).get("strategy") if isinstance(spec.get("conversion"), Mapping) else None
    if strategy is not None and strategy not in CONVERSION_STRATEGIES:
        errs.not_supported("spec.conversion.strategy", strategy, CONVERSION_STRATEGIES)
    if spec.get("preserveUnknownFields") is True:
        errs.invalid("spec.preserveUnknownFields", True, "cannot set to true, set x-kubernetes-preserve-unknown-fields "
                     "to true in spec.versions[*].schema instead")
    status = obj.get("status") or {}
    for i, stored in enumerate(status.get("storedVersions") or []):
        if version_names and stored not in version_names:
            errs.invalid(f"status.storedVersions[{i}]", stored, "must appear in spec.versions")
    return errs.causes


def validate_crd_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    """What may not change: the scope (stored objects' keys depend on it) and the group (part of
    the name, which is immutable anyway)."""
    errs = FieldErrors()
    new_spec, old_spec = _spec(new), _spec(old)
    for key in ("scope", "group"):
        if new_spec.get(key) != old_spec.get(key):
            errs.invalid(f"spec.{key}", new_spec.get(key), "field is immutable")
    return errs.causes


class CustomResourceDefinitionStrategy(BaseStrategy):
    """The CRD's steps; decode, status writes and the Table (NAME, CREATED AT) are the generic ones."""

    has_generation = True
    printer = tables.DEFAULT

    def __init__(self, info: ResourceInfo | None = None) -> None:
        super().__init__(info or by_group_resource("customresourcedefinitions.apiextensions.k8s.io"))

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_spec(obj)
        meta = obj.setdefault("metadata", {})
        finalizers = list(meta.get("finalizers") or [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)
        meta["finalizers"] = finalizers
        accept(obj, now=now)

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        return validate_crd(obj)

    def warnings_on_create(self, obj: Mapping[str, Any]) -> list[str]:
        return _warnings(obj)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_spec(new)
        accept(new, now=now, old_status=old.get("status") or {})

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return validate_crd_update(new, old)

    def warnings_on_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
        return _warnings(new)


def _warnings(obj: Mapping[str, Any]) -> list[str]:
    out = []
    for version in _spec(obj).get("versions") or []:
        if isinstance(version, Mapping) and version.get("served") and version.get("storage") is False \
                and version.get("deprecated") and not version.get("deprecationWarning"):
            out.append(f"apiextensions.k8s.io: version {json.dumps(version.get('name'))} is deprecated "
                       "without a deprecationWarning: clients will get a generic one")
    return out


STRATEGIES = (CustomResourceDefinitionStrategy(),)

__all__ = ["CLEANUP_FINALIZER", "STRATEGIES", "CustomResourceDefinitionStrategy", "accept", "validate_crd"]
