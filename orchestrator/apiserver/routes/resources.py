"""The resource endpoints: every Kubernetes REST path of every served resource.

Paths are parsed here rather than declared one by one, because Kubernetes paths are one grammar:

    /api/v1/<plural>[/<name>[/<subresource>]]                         cluster-scoped, or all namespaces
    /api/v1/namespaces/<ns>/<plural>[/<name>[/<subresource>]]         namespaced
    /apis/<group>/<version>/...                                        the same for named groups

``/api/v1/namespaces/<name>`` is the Namespace itself, and ``/api/v1/namespaces/<ns>/status``
its status: a third segment that is not a namespaced resource is a namespace subresource.

Each handler authenticates, authorizes, parses query and body, calls the registry
(handlers.py) and formats the answer (plain JSON, a Table, or PartialObjectMetadata, as the
Accept header asks). Unknown query parameters are ignored, as kube-apiserver does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from orchestrator.api.errors import (
    ApiError,
    BadRequest,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    RequestTimeout,
    TooManyRequests,
    UnsupportedMediaType,
)
from orchestrator.api.jsontext import INT64_MAX, check_json_limits, check_storable_text
from orchestrator.api.resources import ResourceInfo, lookup
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.apiserver import metrics, protobuf, tables
from orchestrator.apiserver.auth import Request as AuthzRequest
from orchestrator.apiserver.auth import User, authorize, needs_object_check
from orchestrator.apiserver.negotiation import Negotiated, negotiate
from orchestrator.apiserver.state import ServerState
from orchestrator.apiserver.validation import to_scale
from orchestrator.apiserver.watch import watch_stream
from orchestrator.storage.store import parse_resource_version

router = APIRouter()
access_log = logging.getLogger("orchestrator.apiserver.access")

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Target:
    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_target(group: str, version: str, segments: list[str]) -> Target:
    """Resolve the path segments after ``/api/v1`` or ``/apis/<group>/<version>``."""
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
        body = json.loads(raw)
        check_json_limits(body)
        check_storable_text(body)
        return body, raw
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
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Response(payload, status_code=status, media_type=content_type, headers=headers)


def _shape(obj: dict[str, Any], info: ResourceInfo, negotiated: Negotiated) -> tuple[Any, str]:
    if negotiated.as_table:
        return tables.table_for(info, [obj], list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                api_version=negotiated.table_version), negotiated.content_type
    if negotiated.as_partial_object_metadata:
        return tables.partial_object_metadata(obj, api_version=negotiated.partial_object_metadata_version), negotiated.content_type
    return obj, JSON_TYPE


async def _authorize(state: ServerState, user: User, verb: str, target: Target, request: Request,
                     obj: dict[str, Any] | None = None) -> AuthzRequest:
    req = AuthzRequest(verb=verb, resource=target.info.plural, group=target.info.group, namespace=target.namespace,
                       name=target.name, subresource=target.subresource,
                       field_selector=request.query_params.get("fieldSelector"))
    authorize(user, req, obj)
    return req


async def handle(request: Request, group: str, version: str, path: str) -> Response:
    state: ServerState = request.app.state.server
    started = time.perf_counter()
    target: Target | None = None
    verb = request.method.lower()
    code = 500
    try:
        user = state.authenticate(request)
        _check_url(path, request.query_params)
        target = parse_target(group, version, path.split("/"))
        response = await _dispatch(request, state, user, target)
        code = response.status_code
        return response
    except ApiError as err:
        code = err.code
        raise
    finally:
        info = target.info if target else None
        elapsed = time.perf_counter() - started
        metrics.REQUESTS.labels(verb, group, info.plural if info else "", (target.subresource or "") if target else "",
                                str(code)).inc()
        metrics.LATENCY.labels(verb, info.plural if info else "").observe(elapsed)
        if access_log.isEnabledFor(logging.DEBUG):  # one structured line per request, opt in: it costs time
            access_log.debug(json.dumps({"method": request.method, "path": request.url.path,
                                         "query": request.url.query or None, "code": code,
                                         "ms": round(elapsed * 1000, 2)}))


async def _dispatch(request: Request, state: ServerState, user: User, target: Target) -> Response:
    method = request.method
    q = request.query_params
    info, ns, name, sub = target.info, target.namespace, target.name, target.subresource
    negotiated = negotiate(request.headers.get("accept"))
    dry_run = bool(q.get("dryRun"))
    field_validation = q.get("fieldValidation")
    reg = state.registry

    if sub is not None and sub not in info.subresources:
        raise NotFound(f'the server could not find the requested resource ({info.plural}/{sub})')

    if name is None:  # a collection
        if method == "GET":
            watch = _bool(q.get("watch"))
            await _authorize(state, user, "watch" if watch else "list", target, request)
            labels = LabelSelector.parse(q.get("labelSelector"))
            fields = FieldSelector.parse(q.get("fieldSelector"), group_resource=info.group_resource)
            if watch:
                return _watch_response(state, target, labels, fields, negotiated, q)
            _resource_version(q)  # any revision is served from the latest state
            result = await reg.list(info, namespace=ns, label_selector=labels, field_selector=fields,
                                    limit=_int(q, "limit"), continue_token=q.get("continue"))
            list_meta: dict[str, Any] = {"resourceVersion": str(result.revision)}
            if result.continue_token:
                list_meta["continue"] = result.continue_token
            for obj in result.items:
                obj.setdefault("apiVersion", info.api_version)
                obj.setdefault("kind", info.kind)
            if negotiated.as_table:
                return respond(tables.table_for(info, result.items, list_meta=list_meta,
                                                include_object=q.get("includeObject") or "Metadata",
                                                api_version=negotiated.table_version),
                               content_type=negotiated.content_type)
            if negotiated.as_partial_object_metadata:
                return respond(tables.partial_object_metadata_list(result.items, list_meta=list_meta,
                                                                   api_version=negotiated.partial_object_metadata_version),
                               content_type=negotiated.content_type)
            return respond({"kind": info.list_kind_name, "apiVersion": info.api_version, "metadata": list_meta,
                            "items": result.items})
        if method == "POST":
            await _authorize(state, user, "create", target, request)
            body, _ = await read_body(request, state)
            if needs_object_check(user, _req(target, "create")):
                authorize(user, _req(target, "create"), body if isinstance(body, dict) else {})
            if isinstance(body, dict) and info.namespaced and ns is None:
                ns = (body.get("metadata") or {}).get("namespace") or "default"  # the seed's POST /api/v1/pods
                target = Target(info, ns, None, None)
                await _authorize(state, user, "create", target, request)
            prepared = await reg.create(info, ns, body, field_validation=field_validation, dry_run=dry_run)
            shaped, ctype = _shape(prepared.obj, info, negotiated)
            return respond(shaped, status=201, warnings=prepared.warnings, content_type=ctype)
        if method == "DELETE" and "deletecollection" in info.verbs:
            await _authorize(state, user, "deletecollection", target, request)
            labels = LabelSelector.parse(q.get("labelSelector"))
            fields = FieldSelector.parse(q.get("fieldSelector"), group_resource=info.group_resource)
            _, raw = await read_body(request, state, patch=True)
            options = _delete_options(raw, q)
            result = await reg.list(info, namespace=ns, label_selector=labels, field_selector=fields, limit=None,
                                    continue_token=None)
            deleted = []
            for obj in result.items:
                meta = obj.get("metadata") or {}
                try:
                    gone, _ = await reg.delete(info, meta.get("namespace"), meta["name"], options, dry_run=dry_run)
                except NotFound:
                    continue  # deleted meanwhile by someone else
                deleted.append(gone)
            return respond({"kind": info.list_kind_name, "apiVersion": info.api_version,
                            "metadata": {"resourceVersion": str(result.revision)}, "items": deleted})
        raise MethodNotAllowed(f"{method} is not supported on a collection of {info.plural}")

    if info.namespaced and ns is None:
        raise NotFound(f"{info.plural} are namespaced: use {info.path_prefix()}/namespaces/<namespace>/{info.plural}/{name}")

    if sub == "binding":
        if method != "POST":
            raise MethodNotAllowed("pods/binding supports POST only")
        await _authorize(state, user, "create", target, request)
        body, _ = await read_body(request, state)
        return respond(await reg.bind(ns or "default", name, body), status=201)
    if sub == "log":
        if method != "GET":
            raise MethodNotAllowed("pods/log supports GET only")
        await _authorize(state, user, "get", target, request)
        pod = await reg.get(info, ns, name)
        if needs_object_check(user, _req(target, "get")):
            authorize(user, _req(target, "get"), pod)
        return await state.logs.proxy(pod, request)

    if method == "GET":
        await _authorize(state, user, "get", target, request)
        _resource_version(q)
        try:
            obj = await reg.get(info, ns, name)
        except NotFound:
            if needs_object_check(user, _req(target, "get")):
                # like the Node authorizer: a node learns nothing about pods that are not its own
                authorize(user, _req(target, "get"), {})
            raise
        if needs_object_check(user, _req(target, "get")):
            authorize(user, _req(target, "get"), obj)
        if sub == "scale":
            return respond(to_scale(info, obj))
        shaped, ctype = _shape(obj, info, negotiated)
        return respond(shaped, content_type=ctype)

    if method in ("PUT", "PATCH"):
        verb = "update" if method == "PUT" else "patch"
        await _authorize(state, user, verb, target, request)
        if needs_object_check(user, _req(target, verb)):
            authorize(user, _req(target, verb), await reg.get(info, ns, name))
        if method == "PUT":
            body, _ = await read_body(request, state)
            prepared = await reg.update(info, ns, name, body, field_validation=field_validation, subresource=sub,
                                        dry_run=dry_run)
        else:
            _, raw = await read_body(request, state, patch=True)
            prepared = await reg.patch(info, ns, name, raw, content_type=request.headers.get("content-type") or "",
                                       field_validation=field_validation, subresource=sub, dry_run=dry_run)
        if sub == "scale":
            return respond(to_scale(info, prepared.obj), warnings=prepared.warnings)
        shaped, ctype = _shape(prepared.obj, info, negotiated)
        return respond(shaped, warnings=prepared.warnings, content_type=ctype)

    if method == "DELETE":
        if sub is not None:
            raise MethodNotAllowed(f"DELETE is not supported on {info.plural}/{sub}")
        await _authorize(state, user, "delete", target, request)
        if needs_object_check(user, _req(target, "delete")):
            authorize(user, _req(target, "delete"), await reg.get(info, ns, name))
        _, raw = await read_body(request, state, patch=True)
        options = _delete_options(raw, q)
        obj, gone = await reg.delete(info, ns, name, options, dry_run=dry_run)
        if info.plural == "pods" or not gone:
            shaped, ctype = _shape(obj, info, negotiated)
            return respond(shaped, status=200, content_type=ctype)
        meta = obj.get("metadata") or {}
        return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": info.group, "kind": info.plural, "uid": meta.get("uid")}})

    raise MethodNotAllowed(f"{method} is not supported on {info.plural}")


def _req(target: Target, verb: str) -> AuthzRequest:
    return AuthzRequest(verb=verb, resource=target.info.plural, group=target.info.group, namespace=target.namespace,
                        name=target.name, subresource=target.subresource)


def _delete_options(raw: bytes, q: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if raw.strip():
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
    return await handle(request, group, version, path)


__all__ = ["router", "parse_target", "JSONResponse"]
