"""The strategy of every custom resource: one generic strategy driven by the CRD's version.

What a built-in kind's strategy knows from code, a custom resource's strategy reads from its
CustomResourceDefinition (one ``CustomResourceVersion`` from the API server's catalog):

- decode: apiVersion/kind must be the CRD's; fields the schema does not declare are pruned
  (``Strict``: 400 naming them; ``Warn``: a warning each); ``default`` values are filled in;
- validate: ObjectMeta as for any object, then the structural schema (422 with field causes);
- status subresource (``subresources.status``): the main resource ignores ``status`` on create
  and update, ``/status`` writes only ``status``; ``metadata.generation`` moves on any change
  outside metadata and status (outside metadata only, without a status subresource);
- scale subresource (``subresources.scale``): an autoscaling/v1 Scale read from
  ``specReplicasPath``/``statusReplicasPath``/``labelSelectorPath`` and written to
  ``specReplicasPath`` (``kubectl scale``);
- Tables: NAME and the CRD's ``additionalPrinterColumns`` (NAME and AGE when there are none);
  ``date`` columns print as an age, like upstream's table convertor.

Kubernetes equivalent: k8s.io/apiextensions-apiserver/pkg/registry/customresource (strategy.go,
status_strategy.go, validator.go, etcd.go's ScaleREST, tableconvertor/tableconvertor.go)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api.errors import BadRequest, Cause, MethodNotAllowed
from orchestrator.api.printing import human_duration
from orchestrator.api.resources import ResourceInfo
from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.apiserver.fieldmanager import FieldManager, typed
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.schema import jsonpath, structural
from orchestrator.apiserver.validation import FieldErrors, validate_object_meta

Obj = dict[str, Any]

_NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace."}
_AGE_COLUMN = {"name": "Age", "type": "date", "format": "", "priority": 0,
               "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}
_AGE_PATH = ".metadata.creationTimestamp"


@dataclass(frozen=True)
class CustomResourceVersion:
    """One served version of one CRD, as the catalog read it from the CRD object."""

    info: ResourceInfo
    crd_name: str
    schema: Mapping[str, Any]
    storage_version: str
    status_subresource: bool = False
    scale: Mapping[str, Any] | None = None  # specReplicasPath, statusReplicasPath, labelSelectorPath
    printer_columns: tuple[Mapping[str, Any], ...] = ()
    deprecated: bool = False
    deprecation_warning: str | None = None
    terminating: bool = False
    crd_resource_version: str = ""
    selectable_fields: tuple[str, ...] = field(default=())


class CustomResourceStrategy(BaseStrategy):
    """The Strategy of the custom resource ``version.info``."""

    has_generation = True

    def __init__(self, version: CustomResourceVersion) -> None:
        super().__init__(version.info)
        self.version = version
        self._field_manager: FieldManager | None = None

    def field_manager(self) -> FieldManager:
        """Server-side apply's view of this kind: list types from the CRD's schema
        (``x-kubernetes-list-type``), made once per CRD version."""
        if self._field_manager is None:
            self._field_manager = FieldManager(
                kind=self.info.kind, api_version=self.info.api_version,
                status_subresource=self.version.status_subresource,
                schema=typed.schema_from_openapi(self.version.schema))
        return self._field_manager

    # --- decode ---------------------------------------------------------------------------------

    def decode(self, body: Any, *, field_validation: str) -> tuple[Obj, list[str]]:
        info = self.info
        if not isinstance(body, dict):
            raise BadRequest(f"the object provided is unrecognized (must be of type {info.kind}): body must be a JSON object")
        rest = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("apiVersion", "kind")}
        obj = {"apiVersion": body.get("apiVersion") or info.api_version, "kind": body.get("kind") or info.kind, **rest}
        if obj["apiVersion"] != info.api_version:
            raise BadRequest(f"the API version in the data ({obj['apiVersion']}) does not match the expected "
                             f"API version ({info.api_version})")
        cannot = f"{obj['kind']} in version {json.dumps(info.version)} cannot be handled as a {info.kind}"
        if obj["kind"] != info.kind:
            raise BadRequest(f"{cannot}: the kind in the data ({obj['kind']}) does not match the expected kind ({info.kind})")
        if obj.get("metadata") is not None and not isinstance(obj.get("metadata"), dict):
            raise BadRequest(f"{cannot}: json: metadata must be an object")
        unknown = structural.prune(self.version.schema, obj)
        if unknown and field_validation == "Strict":
            listed = ", ".join(f"unknown field {json.dumps(p)}" for p in unknown)
            raise BadRequest(f"{cannot}: strict decoding error: {listed}")
        warnings = [f"unknown field {json.dumps(p)}" for p in unknown] if field_validation == "Warn" else []
        structural.default(self.version.schema, obj)
        return obj, warnings

    # --- create ---------------------------------------------------------------------------------

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        if self.version.terminating:  # upstream's crdHandler answers the same while the CRD goes
            raise MethodNotAllowed(f"create not allowed while custom resource definition is terminating "
                                   f"({self.version.crd_name})")
        if self.version.status_subresource:
            obj.pop("status", None)  # the status is the controller's, written through /status
        obj.setdefault("metadata", {})["generation"] = 1

    def canonicalize(self, obj: Obj) -> None:
        # Stored at the storage version whatever version was written (conversion "None").
        obj["apiVersion"] = f"{self.info.group}/{self.version.storage_version}"

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        validate_object_meta(errs, obj.get("metadata") or {}, namespaced=self.info.namespaced,
                             name_fn=names.dns1123_subdomain)
        errs.extend(structural.validate(self.version.schema, obj))
        scale = self.version.scale
        if scale and scale.get("specReplicasPath"):
            value, found = jsonpath.get(obj, scale["specReplicasPath"])
            if found and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                errs.invalid(scale["specReplicasPath"].lstrip("."), value, "should be a non-negative integer")
        return errs.causes

    def warnings_on_create(self, obj: Mapping[str, Any]) -> list[str]:
        return self._deprecation()

    def _deprecation(self) -> list[str]:
        if not self.version.deprecated:
            return []
        return [self.version.deprecation_warning or f"{self.info.api_version} {self.info.kind} is deprecated"]

    # --- update ---------------------------------------------------------------------------------

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        if self.version.status_subresource:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return []

    def warnings_on_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
        return self._deprecation()

    def spec_changed(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> bool | None:
        ignored = {"metadata", "status"} if self.version.status_subresource else {"metadata"}
        return {k: v for k, v in new.items() if k not in ignored} != {k: v for k, v in old.items() if k not in ignored}

    def prepare_for_status_update(self, new: Obj, old: Mapping[str, Any]) -> Obj:
        result = super().prepare_for_status_update(new, old)
        if "status" not in new:
            result.pop("status", None)  # a custom object may have no status at all
        return result

    # --- scale ----------------------------------------------------------------------------------

    def to_scale(self, obj: Mapping[str, Any]) -> Obj:
        scale = self.version.scale or {}
        meta = obj.get("metadata") or {}
        spec_replicas, _ = jsonpath.get(obj, scale["specReplicasPath"]) if scale.get("specReplicasPath") else (0, False)
        status_replicas, _ = jsonpath.get(obj, scale["statusReplicasPath"]) if scale.get("statusReplicasPath") else (0, False)
        status: dict[str, Any] = {"replicas": status_replicas if isinstance(status_replicas, int) else 0}
        if scale.get("labelSelectorPath"):
            selector, found = jsonpath.get(obj, scale["labelSelectorPath"])
            if found and isinstance(selector, str):
                status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": spec_replicas if isinstance(spec_replicas, int) else 0},
            "status": status,
        }

    def with_replicas(self, obj: Obj, replicas: int) -> None:
        path = (self.version.scale or {}).get("specReplicasPath")
        if not path:
            raise BadRequest(f"{self.info.group_resource} has no scale subresource")
        jsonpath.set_value(obj, path, replicas)

    def graceful_delete_seconds(self, obj: Mapping[str, Any], requested: int | None) -> int | None:
        return None

    # --- print ----------------------------------------------------------------------------------

    def _printer_columns(self) -> list[Mapping[str, Any]]:
        if self.version.printer_columns:
            return list(self.version.printer_columns)
        return [{"name": "Age", "type": "date", "jsonPath": _AGE_PATH}]

    def columns(self) -> list[dict[str, Any]]:
        out = [dict(_NAME_COLUMN)]
        for column in self._printer_columns():
            if column.get("jsonPath") == _AGE_PATH and column.get("name") == "Age" and not self.version.printer_columns:
                out.append(dict(_AGE_COLUMN))
                continue
            out.append({"name": column.get("name", ""), "type": column.get("type", "string"),
                        "format": column.get("format", ""), "description": column.get("description", ""),
                        "priority": int(column.get("priority") or 0)})
        return out

    def row(self, obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], list[dict[str, Any]] | None]:
        cells: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
        for column in self._printer_columns():
            try:
                value, found = jsonpath.get(obj, str(column.get("jsonPath") or ""))
            except jsonpath.PathError:
                value, found = None, False
            cells.append(_cell(str(column.get("type") or "string"), value, now) if found else None)
        return cells, None


def _cell(kind: str, value: Any, now: datetime) -> Any:
    """One cell as upstream's table convertor renders it: dates as ages, strings via %v."""
    if value is None:
        return None
    if kind == "date":
        if not isinstance(value, str):
            return "<invalid>"
        try:
            when = parse_rfc3339(value)
        except ValueError:
            return "<invalid>"
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return human_duration((now - when).total_seconds())
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


__all__ = ["CustomResourceStrategy", "CustomResourceVersion"]
