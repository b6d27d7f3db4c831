"""OpenAPI v3 documents, as kubectl reads them for apply, create and explain.

kubectl fetches ``GET /openapi/v3`` (this module's `openapi_v3_root`) and then the document of
the group-version it is about to write (`openapi_v3_group_version`). It needs, for each kind:

- a path whose ``patch`` operation carries ``x-kubernetes-group-version-kind`` and a
  ``fieldValidation`` query parameter, or it refuses to validate ("failed to download openapi");
  seeing it, kubectl leaves validation to the server and sends ``fieldValidation=Strict``;
- that ``patch`` accepting ``application/strategic-merge-patch+json``, and a schema in
  ``components.schemas`` whose ``x-kubernetes-group-version-kind`` lists the kind: kubectl then
  computes apply's patch from the schema's ``x-kubernetes-patch-merge-key`` and
  ``x-kubernetes-patch-strategy`` (containers merge by name, ports by containerPort, ...), and
  ``kubectl explain`` prints the schema's descriptions.

Schemas of built-in kinds are generated from the Pydantic models in ``orchestrator.api.models``
and named as upstream names them (``io.k8s.api.core.v1.Pod``). A custom resource's schema is its
CRD version's ``openAPIV3Schema`` with ``apiVersion``, ``kind`` and ``metadata`` added, named by
the reversed group as upstream does (``com.example.stable.v1.CronTab``). The output is
deterministic, so its hash (the ``?hash=`` kubectl caches by) changes only when the API does — for
a custom group-version, whenever its CRD changes, so kubectl fetches the new document.

Kubernetes equivalent: k8s.io/kube-openapi/pkg/handler3, k8s.io/apiserver/pkg/endpoints/openapi
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Union

from orchestrator.api.errors import NotFound
from orchestrator.api.models import K8sModel, model_for
from orchestrator.api.models.meta import DeleteOptions, ObjectMeta, SchemaRef, Status
from orchestrator.api.resources import CONVERTED_VERSIONS, RESOURCES, ResourceInfo, groups
from orchestrator.apiserver.catalog import ResourceCatalog
from orchestrator.apiserver.registry.customresource import CustomResourceVersion

OPENAPI_VERSION = "3.0.0"
INFO = {"title": "Kubernetes", "version": "v1.32.0"}
REF_PREFIX = "#/components/schemas/"
PATCH_SCHEMA = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_INT64_FIELDS = {
    "generation", "deletionGracePeriodSeconds", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
    "gracePeriodSeconds", "observedGeneration", "remainingItemCount", "runAsUser", "runAsGroup", "fsGroup",
    "tolerationSeconds", "priority",
}


def group_version_key(group: str, version: str) -> str:
    """``api/v1`` for the core group, ``apis/<group>/<version>`` otherwise."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def schema_name(cls: type[K8sModel]) -> str:
    # `openapi_name`: a model whose Python name differs from upstream's (a second version of a kind)
    return f"{cls.openapi_package}.{getattr(cls, 'openapi_name', None) or cls.__name__}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_PREFIX + name}


# --- schemas ---------------------------------------------------------------------------------------------


class _SchemaBuilder:
    """Turns models into ``components.schemas`` entries, following every model they reference."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def add_model(self, cls: type[K8sModel]) -> str:
        name = schema_name(cls)
        if name in self.schemas:
            return name
        self.schemas[name] = {}  # reserve first: models may refer to each other
        properties: dict[str, Any] = {}
        for field_name, info in cls.model_fields.items():
            alias = info.alias or field_name
            marker = next((m for m in info.metadata if isinstance(m, SchemaRef)), None)
            prop = self._scalar_ref(marker) if marker else self._type(info.annotation, alias)
            if "$ref" in prop:  # a property next to a $ref needs allOf in OpenAPI 3.0
                prop = {"allOf": [prop]}
            if info.description:
                prop["description"] = info.description
            extra = info.json_schema_extra
            if isinstance(extra, dict):
                prop.update(extra)
            properties[alias] = prop
        schema: dict[str, Any] = {
            "description": (cls.__doc__ or "").strip(),
            "type": "object",
            "properties": dict(sorted(properties.items())),
        }
        if cls.required_fields:
            schema["required"] = list(cls.required_fields)
        if cls.open_schema:
            schema["x-kubernetes-preserve-unknown-fields"] = True
        if cls.gvk is not None:
            group, version, kind = cls.gvk
            schema["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
        self.schemas[name] = schema
        return name

    def _scalar_ref(self, marker: SchemaRef) -> dict[str, Any]:
        if marker.name not in self.schemas:
            self.schemas[marker.name] = dict(marker.schema)
        return _ref(marker.name)

    def _type(self, annotation: Any, field_name: str) -> dict[str, Any]:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            base, *metadata = typing.get_args(annotation)
            marker = next((m for m in metadata if isinstance(m, SchemaRef)), None)
            return self._scalar_ref(marker) if marker else self._type(base, field_name)
        if origin in (Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) == 1:
                return self._type(options[0], field_name)
            return {"x-kubernetes-preserve-unknown-fields": True}
        tp = annotation
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, K8sModel):
            return _ref(self.add_model(tp))
        if origin is list:
            return {"type": "array", "items": self._type(typing.get_args(tp)[0], field_name)}
        if origin is dict:
            value = typing.get_args(tp)[1]
            if value is Any:
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {"type": "object", "additionalProperties": self._type(value, field_name)}
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer", "format": "int64" if field_name in _INT64_FIELDS else "int32"}
        if tp is float:
            return {"type": "number", "format": "double"}
        return {"x-kubernetes-preserve-unknown-fields": True}

    def add_list(self, info: ResourceInfo, item: str) -> str:
        name = item.rsplit(".", 1)[0] + "." + info.list_kind_name
        self.schemas[name] = {
            "description": f"{info.list_kind_name} is a list of {info.kind} objects.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                "items": {"type": "array", "items": {"allOf": [_ref(item)], "default": {}}, "description": f"List of {info.plural}."},
                "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                "metadata": {"allOf": [_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")], "default": {}},
            },
            "required": ["items"],
            "x-kubernetes-group-version-kind": [{"group": info.group, "kind": info.list_kind_name, "version": info.version}],
        }
        return name


# --- paths -----------------------------------------------------------------------------------------------


def _query(name: str, description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": schema_type, "uniqueItems": True}}


_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. Valid value: All.")
_FIELD_MANAGER = _query("fieldManager", "A name associated with the actor or entity that is making these changes.")
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "Instructs the server on how to handle objects in the request containing unknown or duplicate fields: "
    "Ignore, Warn (the default) or Strict.",
)
_FORCE = _query("force", "Force is going to \"force\" Apply requests.", "boolean")
_LIST_PARAMS = [
    _query("allowWatchBookmarks", "Requests watch events with type \"BOOKMARK\".", "boolean"),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "The maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "Sets a constraint on what resource versions a request may be served from."),
    _query("resourceVersionMatch", "Determines how resourceVersion is applied to list calls."),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources and return them as a stream.", "boolean"),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed: Orphan, Background or Foreground."),
]


def _path_params(namespaced: bool, item: bool) -> list[dict[str, Any]]:
    params = []
    if item:
        params.append({"name": "name", "in": "path", "description": "name of the object", "required": True,
                       "schema": {"type": "string", "uniqueItems": True}})
    if namespaced:
        params.append({"name": "namespace", "in": "path", "description": "object name and auth scope, such as for teams and projects",
                       "required": True, "schema": {"type": "string", "uniqueItems": True}})
    params.append(_PRETTY)
    return params


def _response(schema: str, *, codes: tuple[str, ...] = ("200",)) -> dict[str, Any]:
    content = {t: {"schema": _ref(schema)} for t in ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")}
    out: dict[str, Any] = {code: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code], "content": content} for code in codes}
    out["401"] = {"description": "Unauthorized"}
    return out


def _op(
    *, tag: str, op_id: str, action: str, gvk: tuple[str, str, str], description: str, response: str,
    params: list[dict[str, Any]] | None = None, body: str | None = None, patch: bool = False,
    codes: tuple[str, ...] = ("200",),
) -> dict[str, Any]:
    group, version, kind = gvk
    op: dict[str, Any] = {
        "tags": [tag],
        "description": description,
        "operationId": op_id,
        "parameters": list(params or []),
        "responses": _response(response, codes=codes),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
    }
    if patch:
        op["requestBody"] = {"content": {t: {"schema": _ref(PATCH_SCHEMA)} for t in PATCH_CONTENT_TYPES}, "required": True}
    elif body is not None:
        op["requestBody"] = {"content": {"*/*": {"schema": _ref(body)}}, "required": True}
    return op


def _operation_prefix(info: ResourceInfo) -> str:
    group = "Core" if not info.group else info.group.split(".")[0].capitalize()
    return f"{group}{info.version.capitalize()}"


def _tag(info: ResourceInfo) -> str:
    return f"{info.group.split('.')[0] if info.group else 'core'}_{info.version}"


def _resource_paths(info: ResourceInfo, builder: _SchemaBuilder, item: str | None = None) -> dict[str, Any]:
    if item is None:
        model = model_for(info.api_version, info.kind)
        assert model is not None, f"no model for {info.api_version} {info.kind}"
        item = builder.add_model(model)
    list_schema = builder.add_list(info, item)
    status = schema_name(Status)
    gvk = (info.group, info.version, info.kind)
    prefix = _operation_prefix(info)
    tag = _tag(info)
    scope = "Namespaced" if info.namespaced else ""
    what = f"{scope}{info.kind}"
    write = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    base = info.path_prefix()
    collection = f"{base}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{base}/{info.plural}"
    paths: dict[str, Any] = {}
    paths[collection] = {
        "get": _op(tag=tag, op_id=f"list{prefix}{what}", action="list", gvk=gvk, response=list_schema,
                   description=f"list or watch objects of kind {info.kind}", params=_LIST_PARAMS),
        "post": _op(tag=tag, op_id=f"create{prefix}{what}", action="post", gvk=gvk, response=item, body=item,
                    description=f"create a {info.kind}", params=write, codes=("200", "201", "202")),
        "delete": _op(tag=tag, op_id=f"delete{prefix}Collection{what}", action="deletecollection", gvk=gvk, response=status,
                      description=f"delete collection of {info.kind}", params=[*_DELETE_PARAMS, *_LIST_PARAMS]),
        "parameters": _path_params(info.namespaced, item=False),
    }
    if "deletecollection" not in info.verbs:
        del paths[collection]["delete"]
    paths[f"{collection}/{{name}}"] = {
        "get": _op(tag=tag, op_id=f"read{prefix}{what}", action="get", gvk=gvk, response=item,
                   description=f"read the specified {info.kind}"),
        "put": _op(tag=tag, op_id=f"replace{prefix}{what}", action="put", gvk=gvk, response=item, body=item,
                   description=f"replace the specified {info.kind}", params=write, codes=("200", "201")),
        "patch": _op(tag=tag, op_id=f"patch{prefix}{what}", action="patch", gvk=gvk, response=item, patch=True,
                     description=f"partially update the specified {info.kind}", params=[*write, _FORCE],
                     codes=("200", "201")),
        "delete": _op(tag=tag, op_id=f"delete{prefix}{what}", action="delete", gvk=gvk, response=item, body=schema_name(DeleteOptions),
                      description=f"delete a {info.kind}", params=_DELETE_PARAMS, codes=("200", "202")),
        "parameters": _path_params(info.namespaced, item=True),
    }
    if info.namespaced:
        paths[f"{base}/{info.plural}"] = {
            "get": _op(tag=tag, op_id=f"list{prefix}{info.kind}ForAllNamespaces", action="list", gvk=gvk, response=list_schema,
                       description=f"list or watch objects of kind {info.kind}", params=_LIST_PARAMS),
            "parameters": [_PRETTY],
        }
    for sub in info.subresources:
        paths.update(_subresource_paths(info, sub, f"{collection}/{{name}}/{sub}", item, builder))
    return paths


def _subresource_paths(info: ResourceInfo, sub: str, path: str, item: str, builder: _SchemaBuilder) -> dict[str, Any]:
    prefix = _operation_prefix(info)
    tag = _tag(info)
    what = f"{'Namespaced' if info.namespaced else ''}{info.kind}{sub.capitalize()}"
    params = _path_params(info.namespaced, item=True)
    write = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    if sub in ("status", "scale"):
        if sub == "scale":
            scale = model_for("autoscaling/v1", "Scale")
            assert scale is not None and scale.gvk is not None
            schema, gvk = builder.add_model(scale), scale.gvk
        else:
            schema, gvk = item, (info.group, info.version, info.kind)
        return {path: {
            "get": _op(tag=tag, op_id=f"read{prefix}{what}", action="get", gvk=gvk, response=schema,
                       description=f"read {sub} of the specified {info.kind}"),
            "put": _op(tag=tag, op_id=f"replace{prefix}{what}", action="put", gvk=gvk, response=schema, body=schema,
                       description=f"replace {sub} of the specified {info.kind}", params=write, codes=("200", "201")),
            "patch": _op(tag=tag, op_id=f"patch{prefix}{what}", action="patch", gvk=gvk, response=schema, patch=True,
                         description=f"partially update {sub} of the specified {info.kind}", params=[*write, _FORCE],
                         codes=("200", "201")),
            "parameters": params,
        }}
    if sub == "binding":
        binding = model_for("v1", "Binding")
        assert binding is not None and binding.gvk is not None
        schema = builder.add_model(binding)
        return {path: {
            "post": _op(tag=tag, op_id=f"create{prefix}{what}", action="post", gvk=binding.gvk, response=schema, body=schema,
                        description="create binding of a Pod", params=write, codes=("200", "201", "202")),
            "parameters": params,
        }}
    if sub == "log":
        log_params = [
            _query("container", "The container for which to stream logs."),
            _query("follow", "Follow the log stream of the pod.", "boolean"),
            _query("previous", "Return previous terminated container logs.", "boolean"),
            _query("sinceSeconds", "A relative time in seconds before the current time from which to show logs.", "integer"),
            _query("tailLines", "The number of lines from the end of the logs to show.", "integer"),
            _query("timestamps", "If true, add an RFC3339 timestamp at the beginning of every line.", "boolean"),
        ]
        op = _op(tag=tag, op_id=f"read{prefix}{what}", action="get", gvk=(info.group, info.version, info.kind), response=item,
                 description=f"read log of the specified {info.kind}", params=log_params)
        op["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
        return {path: {"get": op, "parameters": params}}
    return {}


# --- documents -------------------------------------------------------------------------------------------


def custom_schema_name(info: ResourceInfo) -> str:
    """Upstream's name for a CRD's schema: the group reversed, the version, the kind."""
    return ".".join([*reversed(info.group.split(".")), info.version, info.kind])


def _add_custom_schema(builder: _SchemaBuilder, version: CustomResourceVersion) -> str:
    info = version.info
    schema = json.loads(json.dumps(dict(version.schema)))  # a copy the document may own
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                "representation of an object."}
    properties["kind"] = {"type": "string", "description": "Kind is a string value representing the REST resource "
                          "this object represents."}
    properties["metadata"] = {"allOf": [_ref(builder.add_model(ObjectMeta))],
                              "description": "Standard object's metadata."}
    schema["type"] = "object"
    schema["properties"] = dict(sorted(properties.items()))
    schema["x-kubernetes-group-version-kind"] = [{"group": info.group, "kind": info.kind, "version": info.version}]
    name = custom_schema_name(info)
    builder.schemas[name] = schema
    return name


def _build_group_version(group: str, version: str, catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    served = catalog.resources() if catalog is not None else RESOURCES + CONVERTED_VERSIONS
    resources = [r for r in served if (r.group, r.version) == (group, version)]
    if not resources:
        raise NotFound(f"the server could not find the requested resource (openapi/v3/{group_version_key(group, version)})")
    builder = _SchemaBuilder()
    for cls in (Status, DeleteOptions):
        builder.add_model(cls)
    builder.schemas[PATCH_SCHEMA] = {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    }
    paths: dict[str, Any] = {}
    for info in resources:
        custom = catalog.custom(info) if catalog is not None else None
        item = _add_custom_schema(builder, custom) if custom is not None else None
        paths.update(_resource_paths(info, builder, item))
    return {
        "openapi": OPENAPI_VERSION,
        "info": dict(INFO),
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(builder.schemas.items()))},
    }


def canonical_json(document: dict[str, Any]) -> bytes:
    """The bytes served and hashed: sorted keys, no spaces, so the hash is stable."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@cache
def _builtin_group_version_bytes(group: str, version: str) -> bytes:
    return canonical_json(_build_group_version(group, version))


# Custom group-versions: (group, version) -> (catalog generation, bytes, hash). A CRD change bumps
# the catalog's generation, which is what invalidates an entry.
_CUSTOM: dict[tuple[int, str, str], tuple[int, bytes, str]] = {}


def group_version_bytes(group: str, version: str, catalog: ResourceCatalog | None = None) -> bytes:
    """The serialized document of one group-version: built-in ones computed once per process,
    custom ones once per catalog generation."""
    if catalog is None or not catalog.custom_versions(group, version):
        return _builtin_group_version_bytes(group, version)
    key = (id(catalog), group, version)
    cached = _CUSTOM.get(key)
    if cached is None or cached[0] != catalog.generation:
        body = canonical_json(_build_group_version(group, version, catalog))
        cached = (catalog.generation, body, hashlib.sha512(body).hexdigest().upper())
        _CUSTOM[key] = cached
    return cached[1]


def openapi_v3_group_version(group: str, version: str, catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group-version (``""``/``v1``, ``apps``/``v1``, ...)."""
    return json.loads(group_version_bytes(group, version, catalog))


def document_hash(group: str, version: str, catalog: ResourceCatalog | None = None) -> str:
    """Upper-case hex SHA-512 of the served bytes, as kube-openapi's handler3 computes its etag."""
    if catalog is not None and catalog.custom_versions(group, version):
        group_version_bytes(group, version, catalog)
        return _CUSTOM[(id(catalog), group, version)][2]
    return _builtin_hash(group, version)


@cache
def _builtin_hash(group: str, version: str) -> str:
    return hashlib.sha512(_builtin_group_version_bytes(group, version)).hexdigest().upper()


def openapi_v3_root(hash_of: Callable[[str, str], str] | None = None,
                    catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """``GET /openapi/v3``: where each group-version's document is, with its content hash."""
    hasher = hash_of or (lambda g, v: document_hash(g, v, catalog))
    paths = {}
    for group, version in (catalog.groups() if catalog is not None else groups()):
        key = group_version_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={hasher(group, version)}"}
    return {"paths": paths}
