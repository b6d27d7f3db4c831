"""The resource endpoints: every Kubernetes REST path of every served resource.

Paths are parsed here rather than declared one by one, because Kubernetes paths are one grammar:

    /api/v1/<plural>[/<name>[/<subresource>]]                         cluster-scoped, or all namespaces
    /api/v1/namespaces/<ns>/<plural>[/<name>[/<subresource>]]         namespaced
    /apis/<group>/<version>/...                                        the same for named groups

``/api/v1/namespaces/<name>`` is the Namespace itself, and ``/api/v1/namespaces/<ns>/status``
its status: a third segment that is not a namespaced resource is a namespace subresource.

One request path, in kube-apiserver's order: the authentication middleware (app.py) has put the
user on the request; ``handle`` parses the path, names the verb, asks the authorizer chain once
(``state.authz``: Node, then RBAC), then runs the verb's handler, which parses query and body, calls the
generic registry (registry/generic.py, where admission runs on writes) and formats the answer
(plain JSON, a Table, or PartialObjectMetadata, as the Accept header asks). Unknown query
parameters are ignored, as kube-apiserver does. Metrics are counted by a middleware (app.py)
from the labels ``handle`` leaves on the request.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path
from starlette.types import Receive, Scope, Send

from orchestrator.api import printing as tables
from orchestrator.api import strategicpatch as patching
from orchestrator.api.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    RequestTimeout,
    TooManyRequests,
    UnsupportedMediaType,
)
from orchestrator.api.jsontext import (
    INT64_MAX,
    check_json_limits,
    check_storable_text,
    dumps_compact,
    loads_checked,
)
from orchestrator.api.resources import ResourceInfo
from orchestrator.api.resources import lookup as builtin_lookup
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.apiserver import protobuf
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes
from orchestrator.apiserver.authz.requestinfo import request_attributes
from orchestrator.apiserver.catalog import ResourceCatalog
from orchestrator.apiserver.conversion import Conversion, conversion_for
from orchestrator.apiserver.fieldmanager import check_apply_options, manager_name
from orchestrator.apiserver.negotiation import Negotiated, negotiate
from orchestrator.apiserver.registry import strategy_for, subresource_handler
from orchestrator.apiserver.state import ServerState
from orchestrator.apiserver.watch import watch_stream
from orchestrator.storage.store import parse_resource_version

router = APIRouter()

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Target:
    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_target(group: str, version: str, segments: list[str], catalog: ResourceCatalog | None = None) -> Target:
    """Resolve the path segments after ``/api/v1`` or ``/apis/<group>/<version>``; ``catalog`` is
    the server's (built-ins and custom resources), the built-ins alone without one."""
    def lookup(group: str, plural: str) -> ResourceInfo | None:
        if catalog is None:
            return builtin_lookup(group, plural)
        return catalog.lookup(group, plural, version) or catalog.lookup(group, plural)

    def resource(plural: str) -> ResourceInfo:
        info = lookup(group, plural)
        if info is None or info.version != version:
            gv = f"{group}/{version}" if group else version
            raise NotFound(f'the server could not find the requested resource ({plural} in {gv})')
        return info

    # One trailing slash is allowed; any other empty segment (``pods//`` from ``pods/%2F``) names
    # nothing — filtering it out would turn a DELETE of "an object" into a deletecollection.
    segs = list(segments[:-1] if segments and segments[-1] == "" else segments)
    if not segs or "" in segs:
        raise NotFound("the server could not find the requested resource")
    if segs[0] == "namespaces" and group == "" and len(segs) >= 3:
        candidate = lookup(group, segs[2])
        if candidate is not None and candidate.namespaced:
            ns, rest = segs[1], segs[2:]
            info = resource(rest[0])
            if len(rest) > 3:
                raise NotFound("the server could not find the requested resource")
            return Target(info, ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)
    if segs[0] == "namespaces" and group != "" and len(segs) >= 3:
        ns, rest = segs[1], segs[2:]
        info = resource(rest[0])
        if not info.namespaced or len(rest) > 3:
            raise NotFound("the server could not find the requested resource")
        return Target(info, ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)
    info = resource(segs[0])
    if len(segs) > 3:
        raise NotFound("the server could not find the requested resource")
    name = segs[1] if len(segs) > 1 else None
    sub = segs[2] if len(segs) > 2 else None
    if info.namespaced and name is not None:
        raise NotFound(f"{info.plural} are namespaced: use {info.path_prefix()}/namespaces/<namespace>/{info.plural}/{name}")
    return Target(info, None, name, sub)


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


def _int(params: Any, key: str) -> int | None:
    raw = params.get(key)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f'invalid value for {key}: "{raw}" is not an integer') from None
    if value < 0:
        raise BadRequest(f"{key} must be a non-negative integer, got {value}")
    if value > INT64_MAX:
        raise BadRequest(f"{key} is out of range: {value} is larger than a 64-bit integer")
    return value


def _resource_version(params: Any) -> int | None:
    rv = parse_resource_version(params.get("resourceVersion"))
    if rv is not None and rv > INT64_MAX:
        raise BadRequest(f'invalid resourceVersion "{params.get("resourceVersion")}": larger than a 64-bit revision')
    return rv


def _check_url(path: str, params: Any) -> None:
    """A name or namespace in the path, or a query value, that no stored object could have never
    reaches storage (PostgreSQL refuses NUL and unpaired surrogates with an error)."""
    try:
        check_storable_text(path)
    except BadRequest:
        raise NotFound("the server could not find the requested resource") from None
    for key, value in params.multi_items():
        try:
            check_storable_text(value)
        except BadRequest:
            raise BadRequest(f"the query parameter {key} may not contain NUL or unpaired surrogates") from None


async def read_body(request: Request, state: ServerState, *, patch: bool = False) -> tuple[Any, bytes]:
    """The request body, size-limited and decoded (JSON, or YAML when the client says so)."""
    limit = state.settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge(f"the request body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    deadline = state.settings.request_timeout_seconds
    try:
        # A slow or stalled sender must not hold its connection and this task for ever.
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestEntityTooLarge(f"the request body is larger than the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {deadline:g}s ({size} bytes received)") from None
    raw = b"".join(chunks)
    if patch:
        return None, raw
    if not raw.strip():
        raise BadRequest("the request body is empty: send the object as JSON")
    ctype = (request.headers.get("content-type") or JSON_TYPE).split(";")[0].strip().lower()
    try:
        if protobuf.is_protobuf(ctype):  # `kubectl create namespace|deployment` send protobuf
            body = protobuf.decode(raw)
            check_json_limits(body)
            check_storable_text(body)
            return body, raw
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            body = yaml.safe_load(raw.decode("utf-8"))
            check_json_limits(body)
            check_storable_text(body)
            return body, raw
        if ctype not in (JSON_TYPE, "", "*/*", "text/plain", "application/octet-stream"):
            raise UnsupportedMediaType(f'the body of the request was in an unknown format - accepted media types '
                                       f'include: application/json, application/yaml (got "{ctype}")')
        return loads_checked(raw), raw
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None


def respond(body: Any, *, status: int = 200, warnings: list[str] | None = None,
            content_type: str = JSON_TYPE) -> Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
    return Response(dumps_compact(body), status_code=status, media_type=content_type, headers=headers)


def _shape(obj: dict[str, Any], info: ResourceInfo, negotiated: Negotiated) -> tuple[Any, str]:
    if negotiated.as_table:
        return tables.table_for(strategy_for(info), [obj], list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                api_version=negotiated.table_version), negotiated.content_type
    if negotiated.as_partial_object_metadata:
        return tables.partial_object_metadata(obj, api_version=negotiated.partial_object_metadata_version), negotiated.content_type
    return obj, JSON_TYPE


# --- one request: parse, authorize once, run the verb ---------------------------------------------


@dataclass
class Call:
    """One resource request on its way through the handlers: who, what, and how to answer."""

    request: Request
    state: ServerState
    user: User
    target: Target
    verb: str
    negotiated: Negotiated

    @property
    def query(self) -> Any:
        return self.request.query_params

    @property
    def dry_run(self) -> bool:
        return bool(self.query.get("dryRun"))

    @property
    def field_validation(self) -> str | None:
        return self.query.get("fieldValidation")

    @property
    def manager(self) -> str:
        """The field manager of a write: ?fieldManager=, else the User-Agent's product (as upstream)."""
        options = {"create": "CreateOptions", "update": "UpdateOptions"}.get(self.verb, "PatchOptions")
        return manager_name(self.query.get("fieldManager"), self.request.headers.get("user-agent"),
                            options_kind=options)

    def attributes(self) -> Attributes:
        """What the authorizer is asked (authz/requestinfo.py derives the same from a raw request)."""
        t = self.target
        # A Namespace is read in its own scope: a RoleBinding there may grant reading it.
        namespace = t.name if t.info.group_resource == "namespaces" and t.name else t.namespace
        return Attributes(user=self.user, verb=self.verb, resource=t.info.plural, api_group=t.info.group,
                          namespace=namespace, name=t.name, subresource=t.subresource,
                          field_selector=self.query.get("fieldSelector"), api_version=t.info.version)


def request_verb(method: str, target: Target, query: Any) -> str:
    """The Kubernetes verb of a request (what authorization and metrics speak of)."""
    if target.name is None:
        if method == "GET" and "list" in target.info.verbs:  # not a review: those are never stored
            return "watch" if _bool(query.get("watch")) else "list"
        if method == "POST" and "create" in target.info.verbs:
            return "create"
        if method == "DELETE" and "deletecollection" in target.info.verbs:
            return "deletecollection"
        raise MethodNotAllowed(f"{method} is not supported on a collection of {target.info.plural} "
                               f"(it serves {', '.join(target.info.verbs)})")
    verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    if verb is None or (target.subresource is None and verb not in target.info.verbs):
        raise MethodNotAllowed(f"{method} is not supported on {target.info.plural} "
                               f"(it serves {', '.join(target.info.verbs)})")
    return verb


async def handle(request: Request, group: str, version: str, path: str) -> Response:
    state: ServerState = request.app.state.server
    user: User = request.state.user  # set by the authentication middleware (app.py)
    _check_url(path, request.query_params)
    target = parse_target(group, version, path.split("/"), state.catalog)
    conversion = conversion_for(target.info)
    if conversion is not None:  # an older version: the handlers see the stored one (conversion.py)
        target = replace(target, info=conversion.stored)
    info, sub = target.info, target.subresource
    if sub is not None and sub not in info.subresources:
        raise NotFound(f'the server could not find the requested resource ({info.plural}/{sub})')
    if target.name is not None and info.namespaced and target.namespace is None:
        raise NotFound(f"{info.plural} are namespaced: use {info.path_prefix()}/namespaces/<namespace>/{info.plural}/{target.name}")
    verb = request_verb(request.method, target, request.query_params)
    request.state.metric_labels = (verb, group, info.plural, sub or "")
    call = Call(request, state, user, target, verb, negotiate(request.headers.get("accept")))
    body: Any = None
    if verb == "create" and target.name is None:
        body, _ = await read_body(request, state)
        if info.namespaced and target.namespace is None:
            # The seed's POST /api/v1/pods: the namespace is the body's, else "default".
            ns = (body.get("metadata") or {}).get("namespace") if isinstance(body, dict) else None
            call.target = Target(info, ns or "default", None, None)
    await state.authz.check(call.attributes())
    if sub is not None and sub not in ("status", "scale"):
        return await _subresource(call)
    if not info.stored:  # a review (can-i, whoami): answered, never stored
        return await _review(call, body)
    if conversion is not None:
        return await _converted(call, body, conversion)
    return await _VERBS[verb](call, body)


async def _converted(call: Call, body: Any, conversion: Conversion) -> Response:
    """A request at a converted version: the body to the stored version, the answer back to the
    request's; a patch is applied to the object as the request's version shows it."""
    t = call.target
    content_type = call.request.headers.get("content-type") or ""
    if call.verb == "update":
        body, _ = await read_body(call.request, call.state)
    if call.verb == "patch" and not patching.is_apply(content_type):
        _, raw = await read_body(call.request, call.state, patch=True)
        stored = await call.state.registry.get(t.info, t.namespace, t.name or "")
        body = conversion.patched(stored, raw, content_type=content_type)
        call.verb = "update"
    elif call.verb == "patch":
        raise UnsupportedMediaType(f"server-side apply is served at {conversion.stored.api_version} for "
                                   f"{t.info.plural}; apply the {conversion.stored.api_version} form")
    answer = await _VERBS[call.verb](call, conversion.request_body(body) if body is not None else None)
    return await conversion.response(answer)


async def _list(call: Call, _: Any) -> Response:
    info, q, negotiated = call.target.info, call.query, call.negotiated
    labels = LabelSelector.parse(q.get("labelSelector"))
    fields = FieldSelector.parse(q.get("fieldSelector"), group_resource=info.group_resource)
    _resource_version(q)  # any revision is served from the latest state
    if not (negotiated.as_table or negotiated.as_partial_object_metadata):
        return await _list_json(call, labels, fields)
    result = await call.state.registry.list(info, namespace=call.target.namespace, label_selector=labels,
                                            field_selector=fields, limit=_int(q, "limit"),
                                            continue_token=q.get("continue"))
    list_meta = _list_meta(result.revision, result.continue_token)
    custom = getattr(info, "strategy", None) is not None  # read at the asked version (registry/generic.py)
    for obj in result.items:
        if custom:
            obj["apiVersion"] = info.api_version
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
    if negotiated.as_table:
        return respond(tables.table_for(strategy_for(info), result.items, list_meta=list_meta,
                                        include_object=q.get("includeObject") or "Metadata",
                                        api_version=negotiated.table_version),
                       content_type=negotiated.content_type)
    return respond(tables.partial_object_metadata_list(result.items, list_meta=list_meta,
                                                       api_version=negotiated.partial_object_metadata_version),
                   content_type=negotiated.content_type)


async def _list_json(call: Call, labels: LabelSelector, fields: FieldSelector) -> Response:
    """A plain JSON list: the items' stored JSON text joined into the answer, never decoded and
    encoded again (a 10,000-pod LIST spent most of its time there; docs/benchmarks.md)."""
    info, q = call.target.info, call.query
    result = await call.state.registry.list_text(info, namespace=call.target.namespace, label_selector=labels,
                                                 field_selector=fields, limit=_int(q, "limit"),
                                                 continue_token=q.get("continue"))
    head = json.dumps({"kind": info.list_kind_name, "apiVersion": info.api_version,
                       "metadata": _list_meta(result.revision, result.continue_token)}, separators=(",", ":"))
    payload = "".join((head[:-1], ',"items":[', ",".join(result.items), "]}")).encode()
    return Response(payload, media_type=JSON_TYPE)


def _list_meta(revision: int, continue_token: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if continue_token:
        meta["continue"] = continue_token
    return meta


async def _watch(call: Call, _: Any) -> Response:
    info, q = call.target.info, call.query
    labels = LabelSelector.parse(q.get("labelSelector"))
    fields = FieldSelector.parse(q.get("fieldSelector"), group_resource=info.group_resource)
    return _watch_response(call.state, call.target, labels, fields, call.negotiated, q)


async def _create(call: Call, body: Any) -> Response:
    info, ns = call.target.info, call.target.namespace
    prepared = await call.state.registry.create(info, ns, body, field_validation=call.field_validation,
                                                dry_run=call.dry_run, user=call.user, manager=call.manager)
    shaped, ctype = _shape(prepared.obj, info, call.negotiated)
    return respond(shaped, status=201, warnings=prepared.warnings, content_type=ctype)


async def _delete_collection(call: Call, _: Any) -> Response:
    info, q, reg = call.target.info, call.query, call.state.registry
    labels = LabelSelector.parse(q.get("labelSelector"))
    fields = FieldSelector.parse(q.get("fieldSelector"), group_resource=info.group_resource)
    _, raw = await read_body(call.request, call.state, patch=True)
    options = _delete_options(raw, q, call.request.headers.get("content-type"))
    result = await reg.list(info, namespace=call.target.namespace, label_selector=labels, field_selector=fields,
                            limit=None, continue_token=None)
    deleted = []
    for obj in result.items:
        meta = obj.get("metadata") or {}
        try:
            gone, _ = await reg.delete(info, meta.get("namespace"), meta["name"], options, dry_run=call.dry_run,
                                       user=call.user)
        except NotFound:
            continue  # deleted meanwhile by someone else
        deleted.append(gone)
    return respond({"kind": info.list_kind_name, "apiVersion": info.api_version,
                    "metadata": {"resourceVersion": str(result.revision)}, "items": deleted})


async def _get(call: Call, _: Any) -> Response:
    t = call.target
    _resource_version(call.query)
    obj = await call.state.registry.get(t.info, t.namespace, t.name or "")
    if t.subresource == "scale":
        return respond(strategy_for(t.info).to_scale(obj))
    shaped, ctype = _shape(obj, t.info, call.negotiated)
    return respond(shaped, content_type=ctype)


async def _update(call: Call, passed: Any) -> Response:
    t, reg = call.target, call.state.registry
    content_type = call.request.headers.get("content-type") or ""
    if call.verb == "update":
        body = passed if passed is not None else (await read_body(call.request, call.state))[0]
        prepared = await reg.update(t.info, t.namespace, t.name or "", body, field_validation=call.field_validation,
                                    subresource=t.subresource, dry_run=call.dry_run, user=call.user,
                                    manager=call.manager)
    elif patching.is_apply(content_type):
        return await _apply(call)
    else:
        check_apply_options(field_manager=call.query.get("fieldManager"), force=call.query.get("force"), apply=False)
        _, raw = await read_body(call.request, call.state, patch=True)
        prepared = await reg.patch(t.info, t.namespace, t.name or "", raw, content_type=content_type,
                                   field_validation=call.field_validation, subresource=t.subresource,
                                   dry_run=call.dry_run, user=call.user, manager=call.manager)
    if t.subresource == "scale":
        return respond(strategy_for(t.info).to_scale(prepared.obj), warnings=prepared.warnings)
    shaped, ctype = _shape(prepared.obj, t.info, call.negotiated)
    return respond(shaped, warnings=prepared.warnings, content_type=ctype)


async def _apply(call: Call) -> Response:
    """PATCH with application/apply-patch+yaml: server-side apply (201 when it creates)."""
    t = call.target
    field_manager = call.query.get("fieldManager")
    force = check_apply_options(field_manager=field_manager, force=call.query.get("force"), apply=True)
    _, raw = await read_body(call.request, call.state, patch=True)

    async def authorize_create() -> None:
        # Upstream checks the create permission too when an apply creates the object.
        await call.state.authz.check(replace(call.attributes(), verb="create"))

    prepared, created = await call.state.registry.apply(
        t.info, t.namespace, t.name or "", raw, manager=field_manager or "", force=force,
        field_validation=call.field_validation, subresource=t.subresource, dry_run=call.dry_run, user=call.user,
        authorize_create=authorize_create)
    shaped, ctype = _shape(prepared.obj, t.info, call.negotiated)
    return respond(shaped, status=201 if created else 200, warnings=prepared.warnings, content_type=ctype)


async def _delete(call: Call, _: Any) -> Response:
    t = call.target
    if t.subresource is not None:
        raise MethodNotAllowed(f"DELETE is not supported on {t.info.plural}/{t.subresource}")
    _, raw = await read_body(call.request, call.state, patch=True)
    options = _delete_options(raw, call.query, call.request.headers.get("content-type"))
    obj, gone = await call.state.registry.delete(t.info, t.namespace, t.name or "", options, dry_run=call.dry_run,
                                                 user=call.user)
    if strategy_for(t.info).returns_deleted_object or not gone:
        shaped, ctype = _shape(obj, t.info, call.negotiated)
        return respond(shaped, status=200, content_type=ctype)
    meta = obj.get("metadata") or {}
    return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": t.name, "group": t.info.group, "kind": t.info.plural, "uid": meta.get("uid")}})


async def _subresource(call: Call) -> Response:
    """A subresource that acts (binding, eviction, token) or streams (log)."""
    t = call.target
    sub = t.subresource or ""
    if sub == "log":
        if call.request.method != "GET":
            raise MethodNotAllowed(f"{t.info.plural}/log supports GET only")
        pod = await call.state.registry.get(t.info, t.namespace, t.name or "")
        return await call.state.logs.proxy(pod, call.request)
    handler = subresource_handler(t.info, sub)
    if handler is None:
        raise NotFound(f'the server could not find the requested resource ({t.info.plural}/{sub})')
    if call.request.method != "POST":
        raise MethodNotAllowed(f"{t.info.plural}/{sub} supports POST only")
    body, _ = await read_body(call.request, call.state)
    code, answer = await handler(call.state.registry, SubresourceCall(
        method=call.request.method, namespace=t.namespace, name=t.name or "", body=body, user=call.user,
        query=call.query, dry_run=call.dry_run))
    return respond(answer, status=code)


async def _review(call: Call, body: Any) -> Response:
    """SubjectAccessReviews, SelfSubjectRulesReview, SelfSubjectReview: authz/reviews.py answers."""
    t = call.target
    handler = call.state.authz.reviews[t.info.group_resource]
    code, answer = await handler(call.state.registry, SubresourceCall(
        method="POST", namespace=t.namespace, name="", body=body, user=call.user, query=call.query,
        dry_run=call.dry_run))
    return respond(answer, status=code)


@dataclass(frozen=True)
class SubresourceCall:
    """What a subresource handler gets (registry/strategy.py: SubresourceRequest)."""

    method: str
    namespace: str | None
    name: str
    body: Any
    user: User
    query: Any
    dry_run: bool


_VERBS = {"list": _list, "watch": _watch, "create": _create, "deletecollection": _delete_collection,
          "get": _get, "update": _update, "patch": _update, "delete": _delete}


def _delete_options(raw: bytes, q: Any, content_type: str | None = None) -> dict[str, Any]:
    """The DeleteOptions of a DELETE: its body (JSON, or protobuf as client-go's typed clients
    send it, e.g. `kubectl drain --force`) with the query parameters on top."""
    options: dict[str, Any] = {}
    if raw.strip() and protobuf.is_protobuf(content_type):
        options = protobuf.decode(raw)
    elif raw.strip():
        try:
            options = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest("the DeleteOptions body is not valid JSON") from None
        except RecursionError:
            raise BadRequest("the DeleteOptions body is nested too deeply") from None
        if not isinstance(options, dict):
            raise BadRequest("the request body must be a DeleteOptions object")
    if q.get("gracePeriodSeconds") is not None:
        options["gracePeriodSeconds"] = _int(q, "gracePeriodSeconds")
    if q.get("propagationPolicy"):
        options["propagationPolicy"] = q.get("propagationPolicy")
    return options


def _watch_response(state: ServerState, target: Target, labels: LabelSelector, fields: FieldSelector,
                    negotiated: Negotiated, q: Any) -> Response:
    rv = _resource_version(q)
    timeout = _int(q, "timeoutSeconds")
    body = watch_stream(
        info=target.info, store=state.store, watch_cache=state.watch_cache, namespace=target.namespace,
        resource_version=rv or None, label_selector=labels, field_selector=fields,
        timeout_seconds=float(timeout if timeout is not None else state.settings.min_watch_timeout_seconds),
        bookmarks=_bool(q.get("allowWatchBookmarks")), negotiated=negotiated,
        bookmark_seconds=state.settings.watch_bookmark_seconds,
    )
    ctype = negotiated.content_type if (negotiated.as_table or negotiated.as_partial_object_metadata) else JSON_TYPE
    if state.open_watches >= state.settings.max_watches:
        raise TooManyRequests(f"too many open watches: this API server serves at most {state.settings.max_watches}; "
                              "retry later", retry_after_seconds=1)
    return _CountedWatch(state, body, media_type=ctype, headers={"Cache-Control": "no-cache, private"})


class _CountedWatch(StreamingResponse):
    """A watch stream that holds one of the server's watch slots from creation until it ends.

    The slot is released in ``__call__``'s ``finally``, not the body's: a client that disconnects
    before the first event means the body generator never starts, and its ``finally`` never runs."""

    def __init__(self, state: ServerState, body: Any, **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self._state = state
        state.open_watches += 1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._state.open_watches -= 1


@router.api_route("/api/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def core_v1(request: Request, path: str) -> Response:
    return await handle(request, "", "v1", path)


@router.api_route("/apis/{group}/{version}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def named_group(request: Request, group: str, version: str, path: str) -> Response:
    state: ServerState = request.app.state.server
    if state.aggregator is not None and state.aggregator.serves(group, version):
        return await _aggregated(request, state, group, version)
    return await handle(request, group, version, path)


class ResourceRoute(BaseRoute):
    """The two routes above, matched and dispatched as one plain Starlette route placed first in the
    app's router (app.py). Through FastAPI, a create spent ~13% of the API server's CPU choosing and
    entering its route: every route's matcher up to the catch-all, then dependency solving for an
    endpoint that has none (docs/benchmarks.md, "Routing without FastAPI's per-route machinery").
    It answers exactly what the two routes did: the same paths and methods, anything else (HEAD,
    OPTIONS, a WebSocket, a GET or POST of a pod's streaming subresource) falls through to the
    routes after it (tests/unit/apiserver/test_resource_route.py compares the two, path by path)."""

    METHODS = frozenset(("GET", "POST", "PUT", "PATCH", "DELETE"))

    def __init__(self, streamed_pod_subresources: frozenset[str]) -> None:
        # pods/exec, attach, portforward: routes/streaming.py's routes, tried after this one
        self._streamed = streamed_pod_subresources

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in self.METHODS:
            return Match.NONE, {}
        path = get_route_path(scope)
        if "\n" in path:
            # As Starlette's `{path:path}` (`.*$`): no newline inside; one at the very end is dropped
            if path.index("\n") != len(path) - 1:
                return Match.NONE, {}
            path = path[:-1]
        if path.startswith("/api/v1/"):
            rest = path[len("/api/v1/"):]
            parts = rest.split("/")
            # those routes serve GET and POST only: a PUT there was always the catch-all's
            if (len(parts) == 5 and parts[0] == "namespaces" and parts[2] == "pods" and parts[4] in self._streamed
                    and parts[1] and parts[3] and scope["method"] in ("GET", "POST")):
                return Match.NONE, {}
            return Match.FULL, {"path_params": {"group": "", "version": "v1", "path": rest}}
        if path.startswith("/apis/"):
            parts = path[len("/apis/"):].split("/", 2)
            if len(parts) == 3 and parts[0] and parts[1]:
                return Match.FULL, {"path_params": {"group": parts[0], "version": parts[1], "path": parts[2]}}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)  # no name to build a URL for: the routes after it are asked

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        params = scope["path_params"]
        if params["group"]:
            response = await named_group(request, params["group"], params["version"], params["path"])
        else:
            response = await core_v1(request, params["path"])
        await response(scope, receive, send)


async def _aggregated(request: Request, state: ServerState, group: str, version: str) -> Response:
    """A group an APIService names (metrics.k8s.io): authorized here from the path, as any resource
    request, then proxied to its server (orchestrator/apiserver/aggregator.py)."""
    assert state.aggregator is not None
    user: User = request.state.user
    attrs = request_attributes(user, request.method, request.url.path, request.query_params)
    request.state.metric_labels = (attrs.verb, group, attrs.resource, attrs.subresource or "")
    await state.authz.check(attrs)
    return await state.aggregator.proxy(request, user, group, version)


__all__ = ["router", "parse_target", "JSONResponse"]
