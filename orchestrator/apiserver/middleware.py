"""What wraps every request, so no route can forget it: authentication, impersonation, metrics.

    AuthenticationMiddleware   the client certificate (the ASGI TLS extension, filled in by
                               orchestrator/apiserver/serving.py) or the bearer token (the
                               Authorization header; for a WebSocket also the
                               ``base64url.bearer.authorization.k8s.io.`` subprotocol) → a
                               ``User`` on the request (``request.state.user``), or a 401 Status
                               before any route runs. Only the health checks are public
                               (kube-apiserver's system:public-info-viewer).
    ImpersonationMiddleware    ``Impersonate-User``/``-Group`` headers (``kubectl --as``): the user
                               they name, if the caller may impersonate it; else 403. WebSocket
                               upgrades (exec, attach, port-forward) included.
    PriorityAndFairnessMiddleware
                               a seat at the request's priority level, or a wait in its flow's
                               queue, or 429 (orchestrator/apiserver/flowcontrol.py).
    NonResourceAuthorizationMiddleware
                               paths that name no resource (discovery, /version, /metrics) are
                               authorized by path; resource requests by their route.
    MetricsMiddleware          one count and one latency observation per request, labelled with
                               what the resource route found out (verb, group, resource,
                               subresource) and the HTTP code; plus an opt-in access log line.

Authorization is not a middleware: it needs the parsed path (routes/resources.py asks the
authorizer once per request).

A refusal of a WebSocket upgrade is an HTTP answer too (the ASGI ``websocket.http.response``
extension), so kubectl prints the Status, not "bad handshake".

Kubernetes equivalent: k8s.io/apiserver/pkg/endpoints/filters (WithAuthentication, WithImpersonation,
WithMetrics), k8s.io/apiserver/pkg/authentication/request/websocket/protocol.go,
k8s.io/apiserver/pkg/server/filters/priority-and-fairness.go
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from orchestrator.api.errors import ApiError, Unauthorized
from orchestrator.api.streaming import BEARER_PROTOCOL_PREFIX
from orchestrator.apiserver import metrics
from orchestrator.apiserver.authz.requestinfo import request_attributes
from orchestrator.apiserver.flowcontrol import FlowController

access_log = logging.getLogger("orchestrator.apiserver.access")

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]

PUBLIC_PATHS = ("/healthz", "/livez", "/readyz")


async def _reject(scope: Scope, receive: Any, send: Any, err: ApiError) -> None:
    """Answer a request, or refuse a WebSocket upgrade, with ``err``'s Status before any route runs."""
    body = json.dumps(err.status(), separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if err.retry_after_seconds is not None:
        headers.append((b"retry-after", str(err.retry_after_seconds).encode()))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": err.code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": err.code, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without the denial-response extension: a bare 403
        await send({"type": "websocket.close", "code": 1008, "reason": err.message[:120]})


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k == name), None)


def _bearer_subprotocol(scope: Scope) -> str | None:
    """The token a WebSocket client (a browser cannot set headers) sent as a subprotocol, as an
    Authorization header value; the subprotocol is taken off the offered list, as Kubernetes does."""
    offered = scope.get("subprotocols") or []
    for proto in offered:
        if proto.startswith(BEARER_PROTOCOL_PREFIX):
            scope["subprotocols"] = [p for p in offered if p != proto]
            encoded = proto[len(BEARER_PROTOCOL_PREFIX):]
            try:
                token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthorized("Unauthorized: the bearer token subprotocol is not base64url") from None
            return f"Bearer {token}"
    return None


class AuthenticationMiddleware:
    """Puts the caller's ``User`` in ``scope["state"]["user"]`` or answers 401."""

    def __init__(self, app: ASGIApp, authenticate: Callable[[str | None, list[str]], Any]) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path in PUBLIC_PATHS:
            return await self.app(scope, receive, send)
        tls = (scope.get("extensions") or {}).get("tls") or {}
        try:
            authorization = _header(scope, b"authorization")
            if authorization is None and scope["type"] == "websocket":
                authorization = _bearer_subprotocol(scope)
            user = self.authenticate(authorization, tls.get("client_cert_chain") or [])
        except ApiError as err:
            await _reject(scope, receive, send, err)
            return None
        scope.setdefault("state", {})["user"] = user
        return await self.app(scope, receive, send)


class ImpersonationMiddleware:
    """``kubectl --as``: replaces the authenticated user with the one the ``Impersonate-*``
    headers name, once the authorizer allowed it (orchestrator/apiserver/authz/impersonation.py);
    403 or 400 otherwise. Runs after authentication, for requests and WebSocket upgrades alike:
    what a route authorizes (``create pods/exec`` included) is the impersonated user's."""

    def __init__(self, app: ASGIApp, impersonate: Callable[[Any, list[tuple[str, str]]], Any]) -> None:
        self.app = app
        self.impersonate = impersonate

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        state = scope.get("state") or {}
        if scope["type"] not in ("http", "websocket") or "user" not in state:
            return await self.app(scope, receive, send)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers") or []
                   if k.startswith(b"impersonate-")]
        if headers:
            try:
                state["user"] = await self.impersonate(state["user"], headers)
            except ApiError as err:
                await _reject(scope, receive, send, err)
                return None
        return await self.app(scope, receive, send)


class PriorityAndFairnessMiddleware:
    """Holds each authenticated HTTP request until its priority level has a seat for it (or answers
    429), and gives the seat back when the response starts: a watch or a followed log holds one only
    while it is set up. WebSocket streams (exec, attach, port-forward) are long-running and pass,
    as in Kubernetes. Runs after impersonation: ``kubectl --as`` is classified as the user it names."""

    def __init__(self, app: ASGIApp, controller: FlowController) -> None:
        self.app = app
        self.controller = controller

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        state = scope.get("state") or {}
        if scope["type"] != "http" or "user" not in state:
            return await self.app(scope, receive, send)
        attrs = request_attributes(state["user"], scope["method"], scope.get("path", ""), {})
        try:
            ticket = await self.controller.admit(attrs)
        except ApiError as err:
            await _reject(scope, receive, send, err)
            return None
        held = True
        pf_headers = [(b"x-kubernetes-pf-flowschema-uid", self.controller.schema_uids[ticket.schema.name].encode()),
                      (b"x-kubernetes-pf-prioritylevel-uid",
                       self.controller.level_uids[ticket.level.config.name].encode())]

        async def started(message: dict[str, Any]) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *pf_headers]
                if held:
                    held = False
                    self.controller.release(ticket)
            await send(message)

        try:
            await self.app(scope, receive, started)
        finally:
            if held:
                self.controller.release(ticket)


class NonResourceAuthorizationMiddleware:
    """Authorizes the requests that name no resource (``/api``, ``/apis/apps/v1``, ``/openapi/v3``,
    ``/version``, ``/metrics``) with their path and HTTP verb, as kube-apiserver does: every
    authenticated user may read discovery (system:discovery), only admins ``/metrics``.
    Resource requests are authorized by their route, which knows the resource."""

    def __init__(self, app: ASGIApp, authorize_path: Callable[[Any, str, str], Any]) -> None:
        self.app = app
        self.authorize_path = authorize_path

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        state = scope.get("state") or {}
        if scope["type"] != "http" or "user" not in state:
            return await self.app(scope, receive, send)
        try:
            await self.authorize_path(state["user"], scope["method"], scope.get("path", ""))
        except ApiError as err:
            await _reject(scope, receive, send, err)
            return None
        return await self.app(scope, receive, send)


class MetricsMiddleware:
    """apiserver_request_total and apiserver_request_duration_seconds for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        code = 500
        elapsed: float | None = None

        async def observe(message: dict[str, Any]) -> None:
            nonlocal code, elapsed
            if message["type"] == "http.response.start":
                code = message["status"]
                elapsed = time.perf_counter() - started  # a watch counts until its stream is set up
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            state = scope.get("state") or {}
            verb, group, resource, sub = state.get("metric_labels") or (scope["method"].lower(), "", "", "")
            taken = elapsed if elapsed is not None else time.perf_counter() - started
            metrics.REQUESTS.labels(verb, group, resource, sub, str(code)).inc()
            metrics.LATENCY.labels(verb, resource).observe(taken)
            if access_log.isEnabledFor(logging.DEBUG):  # one structured line per request, opt in: it costs time
                access_log.debug(json.dumps({"method": scope["method"], "path": scope.get("path"),
                                             "query": scope.get("query_string", b"").decode() or None,
                                             "code": code, "ms": round(taken * 1000, 2)}))
