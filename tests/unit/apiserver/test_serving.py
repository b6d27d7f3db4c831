"""uvicorn with the lab's TLS settings hands the client certificate to the application (the ASGI
TLS extension), over HTTP and WebSocket, and lets an expired certificate through the handshake
for the x509 authenticator to refuse."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from orchestrator.apiserver.serving import TlsHTTPProtocol, TlsWSProtocol, client_ca_context
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, issue_client_certificate


async def echo_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers with the client certificate chain it was given."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain")
    body = json.dumps({"chain": chain}).encode()
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": body.decode()})
        await send({"type": "websocket.close"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def home(tmp_path: Path) -> LabHome:
    home = LabHome(tmp_path / "lab")
    ensure_pki(home)
    return home


@pytest.fixture
async def server(home: LabHome) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(echo_tls, host="127.0.0.1", port=port, ssl_certfile=str(home.apiserver_cert),
                            ssl_keyfile=str(home.apiserver_key), ssl_cert_reqs=ssl.CERT_OPTIONAL,
                            ssl_ca_certs=str(home.ca_cert), ssl_context_factory=client_ca_context,
                            http=TlsHTTPProtocol, ws=TlsWSProtocol, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _context(home: LabHome, tmp_path: Path, cert: tuple[bytes, bytes] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(home.ca_cert))
    if cert is not None:
        (tmp_path / "c.pem").write_bytes(cert[0])
        (tmp_path / "k.pem").write_bytes(cert[1])
        context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context


async def test_the_client_certificate_reaches_the_app_over_http_and_websocket(
        home: LabHome, server: str, tmp_path: Path) -> None:
    cert = issue_client_certificate(home, user="alice", groups=["dev"])
    context = _context(home, tmp_path, cert)
    async with httpx.AsyncClient(verify=context) as client:
        first = (await client.get(f"https://{server}/")).json()["chain"]
        second = (await client.get(f"https://{server}/")).json()["chain"]  # same connection, same certificate
    assert first == second == [cert[0].decode()]
    async with websockets.connect(f"wss://{server}/", ssl=context) as ws:
        assert json.loads(await ws.recv())["chain"] == [cert[0].decode()]


async def test_a_client_without_a_certificate_is_served_with_an_empty_chain(
        home: LabHome, server: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(verify=_context(home, tmp_path, None)) as client:
        assert (await client.get(f"https://{server}/")).json()["chain"] == []


async def test_an_expired_certificate_passes_the_handshake_for_the_authenticator_to_refuse(
        home: LabHome, server: str, tmp_path: Path) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    cert = issue_client_certificate(home, user="late", validity=dt.timedelta(days=1), not_before=long_ago)
    async with httpx.AsyncClient(verify=_context(home, tmp_path, cert)) as client:
        assert (await client.get(f"https://{server}/")).json()["chain"] == [cert[0].decode()]
