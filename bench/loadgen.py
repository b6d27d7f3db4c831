"""A cheap HTTP/1.1 load generator: keep-alive connections driven by asyncio protocols and httptools.

Why not httpx: at 32 clients httpx spent ~0.7 ms of CPU per request, as much as the API server it
measured, on a 2-core machine where both share the cores — the load generator set the ceiling
(docs/benchmarks.md, "A cheaper load generator"). Here a request is bytes prepared once per
connection plus the body; the response is parsed by httptools (the C parser uvicorn uses), and the
caller gets the status and the body, nothing decoded.

One request at a time per connection, as a client that waits for each answer (kubectl, client-go's
per-connection behaviour over HTTP/1.1); "32 clients" means 32 connections.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import httptools


class ConnectionClosed(ConnectionError):
    """The server closed the connection before it answered."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.closed = False
        self.received_any = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's SSL transport is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionClosed(f"the server closed the connection: {exc or 'EOF'}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self._parser.get_status_code(), body))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)


class RawClient:
    """One keep-alive connection to `base_url` (http or https), reconnecting when the server closed it."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        url = urlsplit(base_url)
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl_context if url.scheme == "https" else None
        fixed = {"Host": f"{self._host}:{self._port}", **(headers or {})}
        self._fixed_headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode()
        self._protocol: _Protocol | None = None

    async def _connection(self) -> _Protocol:
        if self._protocol is None or self._protocol.closed:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, self._host, self._port, ssl=self._ssl)
            self._protocol = protocol
        return self._protocol

    async def request(self, method: str, path: str, body: bytes = b"", *,
                      content_type: str = "application/json") -> tuple[int, bytes]:
        """Send one request and return (status, body). A connection the server closed while idle
        (uvicorn closes keep-alive connections after 5 s) is re-opened and the request sent again,
        once, only when no byte of an answer had arrived: the server never read it."""
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed_headers
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
        message = head + b"\r\n" + body
        for attempt in (1, 2):
            protocol = await self._connection()
            protocol.received_any = False
            protocol.waiter = asyncio.get_running_loop().create_future()
            assert protocol.transport is not None
            protocol.transport.write(message)
            try:
                return await protocol.waiter
            except ConnectionClosed:
                if attempt == 2 or protocol.received_any:
                    raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
