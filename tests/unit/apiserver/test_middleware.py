"""Authentication and impersonation middleware on WebSocket upgrades: the credential is found
(header, bearer subprotocol, client certificate), impersonation applies, refusals are HTTP Status
answers."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus

from orchestrator.api.errors import Forbidden, Unauthorized
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.middleware import AuthenticationMiddleware, ImpersonationMiddleware
from orchestrator.apiserver.serving import WithTls
from orchestrator.lab.embedded.ports import free_port

BEARER = "base64url.bearer.authorization.k8s.io."


def authenticate(authorization: str | None, chain: list[str]) -> User:
    if chain:
        return User(f"cert:{chain[0]}")
    if authorization == "Bearer good":
        return User("admin", "admin", ("system:masters",))
    if authorization == "Bearer viewer":
        return User("viewer")
    raise Unauthorized("Unauthorized: no credential")


async def impersonate(user: User, headers: list[tuple[str, str]]) -> User:
    name = dict(headers)["impersonate-user"]
    if "system:masters" not in user.groups:
        raise Forbidden(f'users "{name}" is forbidden: User "{user.name}" cannot impersonate resource "users"')
    return User(name)


async def whoami(ws: WebSocket) -> None:
    await ws.accept(subprotocol=(ws.scope.get("subprotocols") or [None])[0])
    await ws.send_json({"user": ws.state.user.name, "offered": ws.scope.get("subprotocols")})
    await ws.close()


def build(wrap: Callable[[Any], Any] | None = None) -> Any:
    inner = Starlette(routes=[WebSocketRoute("/ws", whoami)])
    inner.add_middleware(ImpersonationMiddleware, impersonate=impersonate)
    inner.add_middleware(AuthenticationMiddleware, authenticate=authenticate)
    return wrap(inner) if wrap else inner


async def serve(app: Any) -> AsyncIterator[str]:
    """The app under uvicorn with wsproto, as the API server runs; yields its ws:// URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, ws="wsproto", log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async for u in serve(build()):
        yield u


async def test_the_bearer_subprotocol_authenticates_and_is_not_offered_on(url: str) -> None:
    token = base64.urlsafe_b64encode(b"good").decode().rstrip("=")
    async with websockets.connect(url, subprotocols=[BEARER + token, "v5.channel.k8s.io"]) as ws:  # type: ignore[list-item]
        assert json.loads(await ws.recv()) == {"user": "admin", "offered": ["v5.channel.k8s.io"]}


async def test_no_credential_is_a_401_status_answer_to_the_upgrade(url: str) -> None:
    with pytest.raises(InvalidStatus) as denied:
        async with websockets.connect(url):
            pass
    assert denied.value.response.status_code == 401
    assert json.loads(denied.value.response.body or b"{}")["reason"] == "Unauthorized"


async def test_impersonation_applies_to_websockets_and_its_refusal_is_a_403(url: str) -> None:
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer good",
                                                           "Impersonate-User": "viewer"}) as ws:
        assert json.loads(await ws.recv())["user"] == "viewer"
    with pytest.raises(InvalidStatus) as denied:
        async with websockets.connect(url, additional_headers={"Authorization": "Bearer viewer",
                                                               "Impersonate-User": "admin"}):
            pass
    assert denied.value.response.status_code == 403
    assert 'User "viewer" cannot impersonate' in json.loads(denied.value.response.body or b"{}")["message"]


async def test_a_client_certificate_in_the_tls_extension_authenticates() -> None:
    async for u in serve(build(lambda app: WithTls(app, {"client_cert_chain": ["PEM"]}))):
        async with websockets.connect(u) as ws:
            assert json.loads(await ws.recv())["user"] == "cert:PEM"
