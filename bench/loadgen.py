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
import os
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httptools

from orchestrator.client.rest import read_kubeconfig


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


class _LineProtocol(asyncio.Protocol):
    """A streamed answer (a watch) cut into lines, each handed on with the time its bytes arrived."""

    def __init__(self, on_line: Callable[[bytes, float], bool]) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._on_line = on_line
        self._partial = b""
        self.transport: asyncio.Transport | None = None
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stopped = False
        self._arrived = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._arrived = time.perf_counter()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(None if self._stopped else ConnectionClosed(f"the watch ended: {exc or 'EOF'}"))

    def on_headers_complete(self) -> None:
        if not self.status.done():
            self.status.set_result(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        if self._stopped:
            return
        lines = (self._partial + body).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line and self._on_line(line, self._arrived):
                self._stopped = True
                self._finish(None)
                return

    def on_message_complete(self) -> None:
        self._finish(None if self._stopped else ConnectionClosed("the watch ended: the answer was complete"))

    def _finish(self, exc: Exception | None) -> None:
        if not self.status.done():
            self.status.set_exception(exc or ConnectionClosed("no answer"))
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


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

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str]) -> RawClient:
        """A connection as the kubeconfig's current context: its server, CA, and token or client
        certificate (read as ApiClient reads them)."""
        creds = read_kubeconfig(path)
        context = creds.tls_context()
        return cls(creds.server, headers={"Authorization": f"Bearer {creds.token}"} if creds.token else None,
                   ssl_context=context if isinstance(context, ssl.SSLContext) else ssl.create_default_context())

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

    async def stream_lines(self, path: str, on_line: Callable[[bytes, float], bool], *,
                           on_open: Callable[[], None] | None = None) -> int:
        """GET `path` on a connection of its own and call ``on_line(line, arrival time)`` for each
        non-empty line of the answer until it returns True (``on_open()`` first, once the 200's
        headers are in). Returns the answer's status at once if it is not 200; raises
        ConnectionClosed if the answer ends before `on_line` said stop."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: _LineProtocol(on_line), self._host, self._port, ssl=self._ssl)
        assert protocol.transport is not None
        protocol.transport.write(f"GET {path} HTTP/1.1\r\n".encode() + self._fixed_headers + b"\r\n")
        try:
            status = await protocol.status
            if status != 200:
                return status
            if on_open is not None:
                on_open()
            await protocol.done
            return status
        finally:
            protocol.transport.close()

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


class RawPool:
    """`size` RawClients shared by many tasks: each request borrows one connection, as a client
    library's pool does (the scheduler benchmark's 32 creating tasks)."""

    def __init__(self, clients: list[RawClient]) -> None:
        self._clients = clients
        self._free: asyncio.Queue[RawClient] = asyncio.Queue()
        for client in clients:
            self._free.put_nowait(client)

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str], size: int) -> RawPool:
        return cls([RawClient.from_kubeconfig(path) for _ in range(size)])

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        client = await self._free.get()
        try:
            return await client.request(method, path, body)
        finally:
            self._free.put_nowait(client)

    async def expect(self, status: int, method: str, path: str, body: bytes = b"") -> bytes:
        """`request`, raising RuntimeError with the server's answer unless it is `status`."""
        got, answer = await self.request(method, path, body)
        if got != status:
            raise RuntimeError(f"{method} {path}: HTTP {got}: {answer[:500]!r}")
        return answer

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
