"""The REST client's HTTP transport: httpx's own, on network streams that answer httpcore's
"has the server closed this idle connection?" with one poll of a socket found once.

httpcore asks that of every idle connection in a pool each time a request starts or ends
(``AsyncConnectionPool._assign_requests_to_connections``). Its anyio stream answers by asking the
TLS stream for the raw socket, and anyio builds the dict of every attribute of the stream to look
one up, ``getpeername()`` included, every time. With 16 kept connections that was a fifth of the
scheduler's CPU under a burst of binds (docs/benchmarks.md, "Scheduler"). Reading, writing, TLS
and closing are anyio's, unchanged.

httpx has no option for the network backend, so `transport` sets it on the pool httpx built. If a
later httpcore keeps it elsewhere, the transport stays httpx's default, slower and still correct
(tests/unit/client/test_transport.py says which one is in use).
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["transport"]


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._stream.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """Whether a read would return at once: data, or the b"" of a connection the server closed.
    A socket without a descriptor any more counts as readable, as in httpcore."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._backend.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                                       socket_options=socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._backend.connect_unix_socket(path, timeout=timeout, socket_options=socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def transport(*, verify: ssl.SSLContext | bool, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An HTTP/1.1 transport with these TLS settings and pool limits, on the cheaper streams."""
    built = httpx.AsyncHTTPTransport(verify=verify, http1=True, http2=False, limits=limits)
    pool = getattr(built, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend()
    return built


def uses_cheap_streams(built: httpx.AsyncHTTPTransport) -> bool:
    """Whether `transport` could put its streams in place (this httpcore keeps them where expected)."""
    return isinstance(getattr(getattr(built, "_pool", None), "_network_backend", None), _Backend)
