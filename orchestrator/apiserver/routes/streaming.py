"""``pods/exec``, ``pods/attach`` and ``pods/portforward``: WebSocket endpoints.

Each request is judged before the WebSocket is accepted — authenticated and impersonated
(``kubectl exec --as``) by the middleware like every request (orchestrator/apiserver/middleware.py:
client certificate, bearer token in the ``Authorization`` header or as a
``base64url.bearer.authorization.k8s.io.`` subprotocol), authorized as ``create`` on the
subresource for that user (node identities and viewers are refused), the pod read, the container
and the node checked, and the node agent's stream opened. A refusal is the usual ``Status`` with
its HTTP code, sent as the answer to the upgrade request, so kubectl and the Python client print
the reason.

kubectl treats a refused WebSocket upgrade as "the server has no WebSocket support" and retries
at once the old way, an SPDY upgrade by POST, and prints only the retry's answer. So the POST
routes below answer with the refusal the WebSocket just got (remembered for `REFUSAL_TTL`
seconds per user as impersonated, pod and subresource: the node agent's reasons, such as a
container that is not running, cannot be judged again without starting something), else judge
the request the same way; one that passes every check is told that this server streams over
WebSocket only.

Subprotocols: exec and attach speak `v5.channel.k8s.io` (preferred) or `v4.channel.k8s.io`;
port-forward speaks SPDY/3.1 in a WebSocket tunnel for kubectl, and `v4.channel.k8s.io`
(or v5, the same frames) for the Python client. See orchestrator/apiserver/streaming/.

Kubernetes equivalent: pkg/registry/core/pod/rest/subresources.go,
k8s.io/apiserver/pkg/util/proxy (the WebSocket translators of KEP-4006).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.websockets import WebSocket

from orchestrator.api.errors import ApiError, BadRequest
from orchestrator.api.streaming import (
    CHANNEL_PROTOCOLS,
    SPDY_PORTFORWARD_TUNNEL,
    choose_protocol,
    framed_port,
)
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes
from orchestrator.apiserver.state import ServerState
from orchestrator.apiserver.streaming import agent
from orchestrator.apiserver.streaming.channels import bridge_port_forward, bridge_process
from orchestrator.apiserver.streaming.spdytunnel import SpdyPortForward

log = logging.getLogger(__name__)

router = APIRouter()

POD_PATH = "/api/v1/namespaces/{namespace}/pods/{name}"
VERB = {"exec": "exec", "attach": "attach to", "portforward": "forward a port of"}
REFUSAL_TTL = 10.0
MAX_REFUSALS = 1024
# (user, namespace, pod, subresource) -> (when, the refusal): see the module docstring.
RefusalKey = tuple[User, str, str, str]
_refusals: dict[RefusalKey, tuple[float, ApiError]] = {}


def _remember(key: RefusalKey, err: ApiError) -> None:
    now = time.monotonic()
    if len(_refusals) >= MAX_REFUSALS:
        for k in [k for k, (at, _) in _refusals.items() if now - at > REFUSAL_TTL] or list(_refusals)[:1]:
            _refusals.pop(k, None)
    _refusals[key] = (now, err)


def _recall(key: RefusalKey) -> ApiError | None:
    entry = _refusals.pop(key, None)
    if entry is None or time.monotonic() - entry[0] > REFUSAL_TTL:
        return None
    return entry[1]


@dataclass(frozen=True)
class Judged:
    state: ServerState
    user: User
    pod: dict[str, Any]
    node: str


def _flag(params: Any, name: str) -> bool:
    return str(params.get(name, "")).lower() in ("true", "1")


def _offered(ws: WebSocket) -> list[str]:
    return [p.strip() for p in ws.scope.get("subprotocols") or []]


def _user(conn: WebSocket | Request) -> User:
    """The caller, as the middleware authenticated and (``--as``) impersonated it."""
    user: User = conn.state.user
    return user


async def _judge(state: ServerState, user: User, subresource: str, namespace: str, name: str) -> Judged:
    await state.authz.check(Attributes(user=user, verb="create", resource="pods", subresource=subresource,
                                       namespace=namespace, name=name))
    pod = await state.store.get("pods", namespace, name)
    return Judged(state, user, pod, agent.check_running(pod, VERB[subresource]))


async def _deny(ws: WebSocket, err: ApiError, subresource: str, namespace: str, name: str) -> None:
    _remember((_user(ws), namespace, name, subresource), err)
    body = json.dumps(err.status(), separators=(",", ":"))
    try:
        await ws.send_denial_response(Response(body, status_code=err.code, media_type="application/json"))
    except RuntimeError:  # a server without the denial-response extension: a bare 403
        with contextlib.suppress(Exception):
            await ws.close(1008)


def _command_params(params: Any, container: str) -> list[tuple[str, str]]:
    out = [("container", container)]
    out += [(k, "true" if _flag(params, k) else "false") for k in ("stdin", "stdout", "stderr", "tty")]
    return out


async def _process(ws: WebSocket, subresource: str, namespace: str, name: str) -> None:
    state: ServerState = ws.app.state.server
    offered = _offered(ws)
    try:
        judged = await _judge(state, _user(ws), subresource, namespace, name)
        container = agent.pick_container(judged.pod, ws.query_params.get("container"))
        protocol = choose_protocol(offered, CHANNEL_PROTOCOLS)
        if protocol is None:
            raise BadRequest(f"{subresource} speaks the WebSocket subprotocols {list(CHANNEL_PROTOCOLS)}; "
                             f"the client offered {offered or 'none'}")
        params = _command_params(ws.query_params, container)
        if subresource == "exec":
            command = ws.query_params.getlist("command")
            if not command:
                raise BadRequest("you must specify at least 1 command (the command query parameter)")
            params += [("command", c) for c in command]
        reader, writer = await agent.open_stream(
            state.store, state.kubelet, node_name=judged.node,
            path=f"/{subresource}/{namespace}/{name}/{container}", params=params)
    except ApiError as err:
        await _deny(ws, err, subresource, namespace, name)
        return
    try:
        await ws.accept(subprotocol=protocol)
    except BaseException:
        await agent.close_quietly(writer)
        raise
    log.info("%s %s/%s/%s by %s (%s)", subresource, namespace, name, container, judged.user.name, protocol)
    await bridge_process(ws, protocol, reader, writer)


@router.websocket(POD_PATH + "/exec")
async def exec_ws(ws: WebSocket, namespace: str, name: str) -> None:
    await _process(ws, "exec", namespace, name)


@router.websocket(POD_PATH + "/attach")
async def attach_ws(ws: WebSocket, namespace: str, name: str) -> None:
    await _process(ws, "attach", namespace, name)


@router.websocket(POD_PATH + "/portforward")
async def portforward_ws(ws: WebSocket, namespace: str, name: str) -> None:
    state: ServerState = ws.app.state.server
    offered = _offered(ws)
    try:
        judged = await _judge(state, _user(ws), "portforward", namespace, name)

        async def dial(port: int) -> Any:
            return framed_port(*await agent.open_stream(state.store, state.kubelet, node_name=judged.node,
                                                        path=f"/portForward/{namespace}/{name}",
                                                        params=[("port", str(port))]))

        if SPDY_PORTFORWARD_TUNNEL in offered:
            await ws.accept(subprotocol=SPDY_PORTFORWARD_TUNNEL)
            log.info("port-forward %s/%s by %s (SPDY tunnel)", namespace, name, judged.user.name)
            await SpdyPortForward(ws, dial).run()
            return
        protocol = choose_protocol(offered, CHANNEL_PROTOCOLS)
        ports = _ports(ws.query_params)
        conns = []
        try:
            for port in ports:
                conns.append(await dial(port))
        except ApiError:
            for _, writer in conns:
                await agent.close_quietly(writer)
            raise
    except ApiError as err:
        await _deny(ws, err, "portforward", namespace, name)
        return
    try:
        await ws.accept(subprotocol=protocol)
    except BaseException:
        for _, writer in conns:
            await agent.close_quietly(writer)
        raise
    log.info("port-forward %s/%s %s by %s (%s)", namespace, name, ports, judged.user.name, protocol)
    await bridge_port_forward(ws, ports, conns)


def _ports(params: Any) -> list[int]:
    ports: list[int] = []
    for value in params.getlist("ports"):
        for item in value.split(","):
            try:
                port = int(item)
            except ValueError:
                raise BadRequest(f"ports: {item!r} is not a port number") from None
            if not 0 < port < 65536:
                raise BadRequest(f"ports: {port} is out of range 1-65535")
            ports.append(port)
    if not ports:
        raise BadRequest("ports: at least one port is required (?ports=8080)")
    return ports


async def spdy_fallback(request: Request, namespace: str, name: str) -> Response:
    """kubectl's retry by SPDY upgrade after a refused WebSocket: the same checks, the same answer."""
    subresource = request.url.path.rsplit("/", 1)[-1]
    state: ServerState = request.app.state.server
    user = _user(request)
    refusal = _recall((user, namespace, name, subresource))
    if refusal is not None:
        raise refusal
    judged = await _judge(state, user, subresource, namespace, name)
    if subresource != "portforward":
        agent.pick_container(judged.pod, request.query_params.get("container"))
    tunnel = f", {SPDY_PORTFORWARD_TUNNEL}" if subresource == "portforward" else ""
    raise BadRequest(f"this API server streams pods/{subresource} over WebSocket only "
                     f"({', '.join(CHANNEL_PROTOCOLS)}{tunnel}); SPDY upgrades are not supported")


async def plain_get(request: Request, namespace: str, name: str) -> Response:
    """A GET without a WebSocket upgrade (curl, a browser): say what the endpoint needs."""
    subresource = request.url.path.rsplit("/", 1)[-1]
    await _judge(request.app.state.server, _user(request), subresource, namespace, name)
    raise BadRequest(f"Upgrade request required: pods/{subresource} is a WebSocket endpoint "
                     f"(subprotocols {', '.join(CHANNEL_PROTOCOLS)})")


for _sub in VERB:
    router.add_api_route(POD_PATH + "/" + _sub, spdy_fallback, methods=["POST"], include_in_schema=False)
    router.add_api_route(POD_PATH + "/" + _sub, plain_get, methods=["GET"], include_in_schema=False)
