"""The base every model shares, and the metadata types of meta.k8s.io/v1.

Models are used only at the API server boundary (see ``orchestrator.api.resources``): to check
field types, to find fields Kubernetes does not know (``fieldValidation=Strict``) and to publish
OpenAPI schemas. The objects themselves keep travelling as plain dicts.

Why unknown fields are found on the raw dict, not on a parsed model: a model forgets the order
of the document, and Kubernetes reports unknown fields in document order
(``strict decoding error: unknown field "spec.foo", unknown field "spec.bar"``). ``unknown_fields``
walks the dict guided by the model's declared fields; ``prune`` returns the dict without them.

Kubernetes equivalent: k8s.io/apimachinery/pkg/apis/meta/v1/types.go
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


@dataclass(frozen=True)
class SchemaRef:
    """Marks a scalar type that upstream publishes as its own named schema (Quantity, Time...)."""

    name: str
    schema: tuple[tuple[str, Any], ...]


Quantity = Annotated[
    str | int | float,
    SchemaRef("io.k8s.apimachinery.pkg.api.resource.Quantity", (("type", "string"),)),
]
IntOrString = Annotated[
    int | str,
    SchemaRef(
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        (("type", "string"), ("format", "int-or-string")),
    ),
]
Time = Annotated[
    str, SchemaRef("io.k8s.apimachinery.pkg.apis.meta.v1.Time", (("type", "string"), ("format", "date-time")))
]
MicroTime = Annotated[
    str,
    SchemaRef("io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", (("type", "string"), ("format", "date-time"))),
]


def merge_list(key: str, *, strategy: str = "merge", description: str | None = None) -> Any:
    """A list merged by ``key`` under strategic merge patch (containers by name, ...)."""
    return Field(
        default=None,
        description=description,
        json_schema_extra={
            "x-kubernetes-list-map-keys": [key],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": key,
            "x-kubernetes-patch-strategy": strategy,
        },
    )


def doc(description: str, **kwargs: Any) -> Any:
    """An optional field with the description ``kubectl explain`` prints."""
    return Field(default=None, description=description, **kwargs)


class K8sModel(BaseModel):
    """Base of all models: camelCase on the wire, strict JSON types, unknown fields kept for reporting."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", strict=True, frozen=False
    )

    openapi_package: ClassVar[str] = "io.k8s.apimachinery.pkg.apis.meta.v1"
    # Open types (securityContext, ...) accept fields this lab does not model and keep them.
    open_schema: ClassVar[bool] = False
    # Published as `required` in OpenAPI; enforcement is in apiserver/validation.py, with field paths.
    required_fields: ClassVar[tuple[str, ...]] = ()
    # (group, version, kind) for top-level kinds.
    gvk: ClassVar[tuple[str, str, str] | None] = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class TypedModel(K8sModel):
    """A top-level kind: ``apiVersion``, ``kind`` and ``metadata``."""

    api_version: str | None = doc("APIVersion defines the versioned schema of this representation of an object.")
    kind: str | None = doc("Kind is a string value representing the REST resource this object represents.")


# --- walking a raw dict alongside a model ----------------------------------------------------------

FieldShape = tuple[str, type[K8sModel] | None]  # ("model" | "list" | "dict" | "scalar", model)


def _strip(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, ...]`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, K8sModel)


@cache
def field_shapes(cls: type[K8sModel]) -> dict[str, FieldShape]:
    """Wire name → how to descend into that field's value."""
    shapes: dict[str, FieldShape] = {}
    for name, info in cls.model_fields.items():
        alias = info.alias or name
        tp = _strip(info.annotation)
        origin = typing.get_origin(tp)
        if _is_model(tp):
            shapes[alias] = ("model", tp)
        elif origin is list and _is_model(_strip(typing.get_args(tp)[0])):
            shapes[alias] = ("list", _strip(typing.get_args(tp)[0]))
        elif origin is dict and _is_model(_strip(typing.get_args(tp)[1])):
            shapes[alias] = ("dict", _strip(typing.get_args(tp)[1]))
        else:
            shapes[alias] = ("scalar", None)
    return shapes


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def unknown_fields(cls: type[K8sModel], data: Any, path: str = "") -> list[str]:
    """Paths of fields ``cls`` does not declare, in document order: ``["spec.foo"]``."""
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    shapes = field_shapes(cls)
    for key, value in data.items():
        shape = shapes.get(key)
        if shape is None:
            if not cls.open_schema:
                found.append(_join(path, key))
            continue
        kind, model = shape
        if model is None:
            continue
        if kind == "model":
            found.extend(unknown_fields(model, value, _join(path, key)))
        elif kind == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                found.extend(unknown_fields(model, item, f"{_join(path, key)}[{i}]"))
        elif kind == "dict" and isinstance(value, dict):
            for k, item in value.items():
                found.extend(unknown_fields(model, item, f"{_join(path, key)}[{k}]"))
    return found


def prune(cls: type[K8sModel], data: Any) -> Any:
    """A copy of ``data`` without unknown fields and without nulls (which mean "absent")."""
    if not isinstance(data, dict):
        return data
    shapes = field_shapes(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        shape = shapes.get(key)
        if value is None:
            continue
        if shape is None:
            if cls.open_schema:
                out[key] = value
            continue
        kind, model = shape
        if model is None:
            out[key] = value
        elif kind == "model":
            out[key] = prune(model, value)
        elif kind == "list" and isinstance(value, list):
            out[key] = [prune(model, item) for item in value]
        elif kind == "dict" and isinstance(value, dict):
            out[key] = {k: prune(model, item) for k, item in value.items()}
        else:
            out[key] = value
    return out


# --- meta.k8s.io/v1 types ----------------------------------------------------------------------------


class OwnerReference(K8sModel):
    """OwnerReference contains enough information to let you identify an owning object."""

    required_fields = ("apiVersion", "kind", "name", "uid")

    api_version: str | None = doc("API version of the referent.")
    kind: str | None = doc("Kind of the referent.")
    name: str | None = doc("Name of the referent.")
    uid: str | None = doc("UID of the referent.")
    controller: bool | None = doc("If true, this reference points to the managing controller.")
    block_owner_deletion: bool | None = doc(
        "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be "
        "deleted from the key-value store until this reference is removed."
    )


class ObjectMeta(K8sModel):
    """ObjectMeta is metadata that all persisted resources must have."""

    name: str | None = doc("Name must be unique within a namespace.")
    generate_name: str | None = doc(
        "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the "
        "Name field has not been provided."
    )
    namespace: str | None = doc("Namespace defines the space within which each name must be unique.")
    self_link: str | None = doc("Deprecated: selfLink is a legacy read-only field that is no longer populated.")
    uid: str | None = doc("UID is the unique in time and space value for this object.")
    resource_version: str | None = doc(
        "An opaque value that represents the internal version of this object; in this lab the revision "
        "of the object's last write."
    )
    generation: int | None = doc("A sequence number representing a specific generation of the desired state.")
    creation_timestamp: Time | None = doc("CreationTimestamp is a timestamp representing the server time when this object was created.")
    deletion_timestamp: Time | None = doc("DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.")
    deletion_grace_period_seconds: int | None = doc(
        "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system."
    )
    labels: dict[str, str] | None = doc("Map of string keys and values that can be used to organize and categorize objects.")
    annotations: dict[str, str] | None = doc("Annotations is an unstructured key value map stored with a resource.")
    owner_references: list[OwnerReference] | None = merge_list(
        "uid", description="List of objects depended by this object."
    )
    finalizers: list[str] | None = Field(
        default=None,
        description="Must be empty before the object is deleted from the registry.",
        json_schema_extra={"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
    )
    # Kept free-form: the field manager (orchestrator/apiserver/fieldmanager/) decodes and checks them.
    managed_fields: list[dict[str, Any]] | None = doc(
        "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."
    )


class ListMeta(K8sModel):
    """ListMeta describes metadata that synthetic resources must have."""

    self_link: str | None = None
    resource_version: str | None = doc("The revision this list reflects.")
    continue_: str | None = Field(default=None, alias="continue", description="Token to fetch the next page.")
    remaining_item_count: int | None = None


class LabelSelectorRequirement(K8sModel):
    """A selector that contains values, a key, and an operator that relates the key and values."""

    required_fields = ("key", "operator")

    key: str | None = doc("key is the label key that the selector applies to.")
    operator: str | None = doc("operator represents a key's relationship to a set of values: In, NotIn, Exists and DoesNotExist.")
    values: list[str] | None = doc("values is an array of string values.")


class LabelSelector(K8sModel):
    """A label selector is a label query over a set of resources."""

    match_labels: dict[str, str] | None = doc("matchLabels is a map of {key,value} pairs.")
    match_expressions: list[LabelSelectorRequirement] | None = doc("matchExpressions is a list of label selector requirements.")


class Preconditions(K8sModel):
    """Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out."""

    uid: str | None = doc("Specifies the target UID.")
    resource_version: str | None = doc("Specifies the target ResourceVersion")


class DeleteOptions(TypedModel):
    """DeleteOptions may be provided when deleting an API object."""

    grace_period_seconds: int | None = doc("The duration in seconds before the object should be deleted.")
    preconditions: Preconditions | None = doc("Must be fulfilled before a deletion is carried out.")
    orphan_dependents: bool | None = doc("Deprecated: use propagationPolicy.")
    propagation_policy: str | None = doc("Whether and how garbage collection will be performed: Orphan, Background or Foreground.")
    dry_run: list[str] | None = doc("When present, indicates that modifications should not be persisted.")


class StatusCause(K8sModel):
    """StatusCause provides more information about an api.Status failure."""

    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(K8sModel):
    """StatusDetails is a set of additional properties that MAY be set by the server."""

    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retry_after_seconds: int | None = None


class Status(TypedModel):
    """Status is a return value for calls that don't return other objects."""

    gvk = ("", "v1", "Status")

    metadata: ListMeta | None = None
    status: str | None = doc("Status of the operation. One of: \"Success\" or \"Failure\".")
    message: str | None = doc("A human-readable description of the status of this operation.")
    reason: str | None = doc("A machine-readable description of why this operation is in the \"Failure\" status.")
    details: StatusDetails | None = None
    code: int | None = doc("Suggested HTTP return code for this status.")
