"""The lean Lease renewer against a small HTTP/1.1 server: keep-alive, chunked answers, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from orchestrator.api.errors import NotFound, Unavailable
from orchestrator.nodeagent.heartbeat import LeaseRenewer


class Server:
    """Answers each request per `self.mode`; records request lines, bodies and connections."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict]] = []
        self.connections = 0
        self.mode = "length"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while line := await reader.readline():
                headers = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = json.loads(await reader.readexactly(int(headers["content-length"])))
                self.requests.append((line.decode().strip(), headers, body))
                if self.mode == "notfound":
                    payload = json.dumps({"kind": "Status", "code": 404, "reason": "NotFound",
                                          "message": 'leases "x" not found'}).encode()
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
                elif self.mode == "chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n")
                elif self.mode == "close":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                    await writer.drain()
                    break
                elif self.mode == "drop-idle":  # answers, then drops the connection as an idle keep-alive
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    await writer.drain()
                    break
                elif self.mode == "hang":
                    await asyncio.sleep(10)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    s = Server()
    srv = await asyncio.start_server(s.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield s, f"http://127.0.0.1:{port}"
    finally:
        srv.close()


async def test_renewals_reuse_one_kept_alive_connection_and_send_a_merge_patch(server: tuple[Server, str]) -> None:
    s, url = server
    renewer = LeaseRenewer(url, token="secret", ssl_context=None)
    for _ in range(5):
        await renewer.renew("node-7", "2026-01-01T00:00:00.000000Z")
    await renewer.close()
    assert s.connections == 1
    line, headers, body = s.requests[0]
    assert line == "PATCH /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-7 HTTP/1.1"
    assert headers["authorization"] == "Bearer secret"
    assert headers["content-type"] == "application/merge-patch+json"
    assert body == {"spec": {"holderIdentity": "node-7", "renewTime": "2026-01-01T00:00:00.000000Z"}}


async def test_chunked_answers_and_connection_close_are_understood(server: tuple[Server, str]) -> None:
    s, url = server
    renewer = LeaseRenewer(url, token=None, ssl_context=None)
    s.mode = "chunked"
    await renewer.renew("a", "t")
    await renewer.renew("a", "t")
    s.mode = "close"
    await renewer.renew("a", "t")
    await renewer.renew("a", "t")
    await renewer.close()
    assert len(s.requests) == 4
    assert s.connections == 2  # the first one ends at the first "Connection: close", a new one serves the last


async def test_a_missing_lease_raises_not_found_and_a_silent_server_unavailable(server: tuple[Server, str]) -> None:
    s, url = server
    renewer = LeaseRenewer(url, token=None, ssl_context=None, timeout=0.3)
    s.mode = "notfound"
    with pytest.raises(NotFound, match="not found"):
        await renewer.renew("x", "t")
    s.mode = "hang"
    with pytest.raises(Unavailable, match="renewing the Lease of x"):
        await renewer.renew("x", "t")
    await renewer.close()
    with pytest.raises(Unavailable, match="cannot reach"):
        await LeaseRenewer("http://127.0.0.1:1", token=None, ssl_context=None).renew("x", "t")


async def test_a_kept_alive_connection_the_server_dropped_is_replaced_without_an_error(
        server: tuple[Server, str]) -> None:
    s, url = server
    s.mode = "drop-idle"
    renewer = LeaseRenewer(url, token=None, ssl_context=None)
    for _ in range(3):
        await renewer.renew("a", "t")
    await renewer.close()
    assert len(s.requests) == 3
    assert s.connections == 3
