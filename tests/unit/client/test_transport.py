"""The REST client's transport (client/transport.py) on a real loopback server: its streams are in
use, and a kept connection the server has closed is noticed and replaced, never reused. And the
client's limit on requests in flight (client/rest.py)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from orchestrator.api.errors import Unavailable
from orchestrator.client.rest import REQUEST_CONNECTIONS, ApiClient
from orchestrator.client.transport import _readable, transport, uses_cheap_streams

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=30)


def test_the_transport_puts_its_streams_in_the_pool_httpx_built() -> None:
    # Fails when httpcore keeps its network backend elsewhere: the client would still work, on
    # httpx's slower default streams, and this says so.
    assert uses_cheap_streams(transport(verify=False, limits=LIMITS))


def test_a_socket_is_readable_once_its_peer_closed_and_not_while_idle() -> None:
    a, b = socket.socketpair()
    try:
        assert not _readable(a)
        b.close()
        assert _readable(a)
        a.close()
        assert _readable(a)  # no descriptor any more: the next read would end at once
    finally:
        a.close()


async def test_a_kept_connection_the_server_closed_is_replaced_not_reused() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
            await writer.drain()

    server = await asyncio.start_server(lambda r, w: _quietly(serve(r, w)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     transport=transport(verify=False, limits=LIMITS)) as client:
            assert (await client.get("/a")).json() == {}
            assert (await client.get("/b")).json() == {}
            assert len(accepted) == 1  # kept alive and reused
            accepted[0].close()  # the server ends the idle connection, as uvicorn does after 5 s
            await asyncio.sleep(0.05)
            assert (await client.get("/c")).json() == {}
            assert len(accepted) == 2  # a new connection, not a failed request on the closed one
    finally:
        server.close()
        await server.wait_closed()


async def _quietly(coro: object) -> None:
    try:
        await coro  # type: ignore[misc]
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


async def test_requests_beyond_the_in_flight_limit_wait_and_one_waiting_too_long_is_unavailable() -> None:
    release = asyncio.Event()
    started = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal started
        started += 1
        await release.wait()
        return httpx.Response(201, json={"kind": "Status", "status": "Success"})

    async with ApiClient("https://api.test", transport=httpx.MockTransport(handler), timeout=0.3) as client:
        held = [asyncio.create_task(client.bind("default", f"p{i}", "n1")) for i in range(REQUEST_CONNECTIONS)]
        await asyncio.sleep(0.05)
        assert started == REQUEST_CONNECTIONS  # all of them sent at once
        with pytest.raises(Unavailable, match="no connection to https://api.test free"):
            await client.bind("default", "late", "n1")  # waited the pool timeout for a slot, never sent
        assert started == REQUEST_CONNECTIONS
        release.set()
        await asyncio.gather(*held)
        await client.bind("default", "after", "n1")  # the slots came back
        assert started == REQUEST_CONNECTIONS + 1
