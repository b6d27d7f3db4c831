"""HTTP/1.1 written by hand over TLS, for requests httpx will not send: bodies sent as slowly as a
test likes, paths with literal ``../`` (httpx normalizes them away), bytes that are not UTF-8."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.reliability.security.conftest import SecureServer


class RawConnection:
    """One TLS connection to the suite's API server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, timeout: float) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of the answer; the server closes the connection after it."""
        raw = await asyncio.wait_for(self.reader.read(), timeout=timeout)
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        return int(status_line.split()[1]), headers, body

    def close(self) -> None:
        self.writer.close()


async def open_raw(server: SecureServer) -> RawConnection:
    reader, writer = await asyncio.open_connection(server.host, server.port, ssl=server.ssl_context(),
                                                   server_hostname=server.host)
    return RawConnection(reader, writer)


@asynccontextmanager
async def raw_connection(server: SecureServer) -> AsyncIterator[RawConnection]:
    conn = await open_raw(server)
    try:
        yield conn
    finally:
        conn.close()


def request_head(server: SecureServer, method: str, target: bytes | str, *, length: int | None = None,
                 close: bool = True, identity: str = "admin", content_type: str = "application/json") -> bytes:
    """The request line and headers; ``target`` is sent byte for byte."""
    target_bytes = target.encode("latin-1") if isinstance(target, str) else target
    head = (f"Host: {server.host}:{server.port}\r\nAuthorization: Bearer {server.tokens[identity]}\r\n"
            f"Content-Type: {content_type}\r\n")
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    if close:
        head += "Connection: close\r\n"
    return method.encode() + b" " + target_bytes + b" HTTP/1.1\r\n" + head.encode() + b"\r\n"


async def raw_request(server: SecureServer, method: str, target: bytes | str, body: bytes = b"", *,
                      timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    async with raw_connection(server) as conn:
        await conn.send(request_head(server, method, target, length=len(body) if body or method != "GET" else None))
        if body:
            await conn.send(body)
        return await conn.response(timeout)
