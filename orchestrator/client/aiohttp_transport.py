"""The REST client's transport for requests (not streams): httpx's client API on aiohttp's
connection pool and C HTTP parser.

Why: through httpcore (h11's pure-Python parser, anyio's TLS streams, a pool that polls each idle
connection whenever a request starts or ends) one GET of a pod cost the client ~1.1 ms of CPU; on
aiohttp's pool the same GET costs ~0.4 ms (docs/benchmarks.md, "The client's requests on
aiohttp"). Every component's requests go through here: the scheduler's Bindings, the controllers'
writes, the node agents' status updates and Lease renewals.

What stays httpx's: building the request (URL, query, headers), the `httpx.Response` callers read,
content decoding, timeouts as `httpx.Timeout` says them, and the exceptions: aiohttp's are raised
as the `httpx.TransportError` of the same meaning, so `ApiClient`'s retry rules do not change.
Streams (watches, followed logs) stay on httpcore (transport.py): they are few and long.

The pool belongs to the event loop that made it; used from another loop (a client kept across
`asyncio.run` calls), the transport starts a pool of that loop's and lets the old one go.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import certifi
import httpx

__all__ = ["AiohttpTransport"]

# Framing headers aiohttp writes itself from the body it is given.
_FRAMING = frozenset((b"content-length", b"transfer-encoding"))
# The longest response line and header field read. aiohttp's default is 8,190 bytes, but the API
# server sends all of a request's warnings in one Warning header (one per unknown field), and
# httpcore read far longer ones. kube-apiserver bounds request headers at 1 MiB.
MAX_HEADER_BYTES = 1 << 20


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `connections` kept-alive HTTP/1.1 connections, each reused for up to
    `keepalive_expiry` seconds idle, verified by `verify` (an SSL context, True for the default
    trust store, or False)."""

    def __init__(self, *, verify: ssl.SSLContext | bool, connections: int, keepalive_expiry: float) -> None:
        # True: the trust store httpx uses (certifi's), as the stream pool does, not the system's
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=certifi.where()) if verify is True else verify
        self._connections = connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_of_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._let_go()
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=self._keepalive_expiry,
                                             ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False,  # httpx decodes, as from any transport
                cookie_jar=aiohttp.DummyCookieJar(),
                # httpx already wrote these (or chose not to): aiohttp must not add its own
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES,
            )
            # aiohttp sends a GET, PUT or DELETE again, once, when a kept-alive connection fails
            # under it, before this transport sees an error. ApiClient decides what is resent
            # (reads only): an update resent after the server applied it would come back a
            # Conflict. No public switch; tests/unit/client/test_aiohttp_transport.py checks it.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._loop = loop
        return self._session

    def _let_go(self) -> None:
        """Forget the pool of another loop. Nothing of it can be awaited from here: its kept
        connections are closed when it is collected (aiohttp says "Unclosed connector" then, and
        rightly: the loop that owned them ended without closing this client)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            session.detach()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session_of_this_loop()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                   if k.lower() not in _FRAMING]
        body = await request.aread()
        timeouts = request.extensions.get("timeout", {})
        # The pool's wait is ApiClient's (a semaphore as wide as this pool): here only connecting and reading.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read"))
        try:
            async with session.request(request.method, str(request.url), headers=headers, data=body or None,
                                       allow_redirects=False, timeout=timeout) as answer:
                content = await answer.read()
                return httpx.Response(answer.status, headers=list(answer.raw_headers), stream=httpx.ByteStream(content),
                                      extensions={"http_version": b"HTTP/1.1", "reason_phrase": (answer.reason or "").encode()})
        except TimeoutError as err:  # before ClientError: aiohttp's timeouts are both
            if isinstance(err, getattr(aiohttp, "ConnectionTimeoutError", ())):
                raise httpx.ConnectTimeout(str(err) or "timed out connecting", request=request) from err
            raise httpx.ReadTimeout(str(err) or "timed out waiting for the answer", request=request) from err
        except aiohttp.ClientConnectorError as err:  # refused, unreachable, TLS verification
            raise httpx.ConnectError(str(err), request=request) from err
        except aiohttp.ServerDisconnectedError as err:
            raise httpx.RemoteProtocolError(str(err) or "the server closed the connection", request=request) from err
        except aiohttp.ClientPayloadError as err:
            raise httpx.ReadError(str(err), request=request) from err
        except aiohttp.ClientOSError as err:
            raise httpx.NetworkError(str(err), request=request) from err
        except aiohttp.ClientError as err:
            raise httpx.ProtocolError(str(err), request=request) from err
        except ValueError as err:  # a header aiohttp will not send (a newline in a token): httpcore's LocalProtocolError
            raise httpx.LocalProtocolError(str(err), request=request) from err

    async def aclose(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            same_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            self._session = None
            await session.close()
        else:
            self._let_go()
