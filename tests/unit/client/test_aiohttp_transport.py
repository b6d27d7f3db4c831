"""The REST client's request transport (client/aiohttp_transport.py) on a real loopback server:
what httpx sends arrives as sent, what the server answers reaches the caller as httpx would give
it, a kept connection is reused, and each way a request can fail is the httpx error ApiClient's
retry rules expect."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from aiohttp import web

from orchestrator.api.errors import Unavailable
from orchestrator.client.aiohttp_transport import AiohttpTransport
from orchestrator.client.rest import ApiClient


def _transport() -> AiohttpTransport:
    return AiohttpTransport(verify=False, connections=4, keepalive_expiry=4.0)


async def _serve(handler: Callable[[web.Request], object]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    seen: list[dict[str, object]] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append({"method": request.method, "path": request.path_qs, "headers": dict(request.headers),
                     "body": body, "peer": peer})
        if request.path == "/gzip":
            return web.Response(body=gzip.compress(b'{"zipped":true}'),
                                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        return web.json_response({"method": request.method, "length": len(body)}, status=201 if body else 200,
                                 headers={"X-Answer": "yes"})

    runner, url = await _serve(handler)
    try:
        yield url, seen
    finally:
        await runner.cleanup()


async def test_a_request_arrives_as_httpx_built_it_and_the_answer_comes_back_whole(
    echo: tuple[str, list[dict[str, object]]],
) -> None:
    url, seen = echo
    async with httpx.AsyncClient(base_url=url, transport=_transport(), headers={"Authorization": "Bearer t"}) as client:
        got = await client.get("/api/v1/pods", params={"labelSelector": "app=web"})
        posted = await client.post("/api/v1/namespaces/default/pods", content=b'{"kind":"Pod"}',
                                   headers={"Content-Type": "application/json"})
    assert got.status_code == 200 and got.json() == {"method": "GET", "length": 0}
    assert got.headers["x-answer"] == "yes"
    assert posted.status_code == 201 and posted.json() == {"method": "POST", "length": 14}
    first, second = seen
    assert first["path"] == "/api/v1/pods?labelSelector=app%3Dweb"
    headers = second["headers"]
    assert isinstance(headers, dict)
    assert headers["Authorization"] == "Bearer t"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == "14"
    assert second["body"] == b'{"kind":"Pod"}'
    assert "aiohttp" not in headers.get("User-Agent", "")  # httpx's (the caller's), not aiohttp's


async def test_a_compressed_answer_is_decoded_once_by_httpx(echo: tuple[str, list[dict[str, object]]]) -> None:
    url, _ = echo
    async with httpx.AsyncClient(base_url=url, transport=_transport()) as client:
        answer = await client.get("/gzip")
    assert answer.json() == {"zipped": True}


async def test_a_kept_alive_connection_is_used_again(echo: tuple[str, list[dict[str, object]]]) -> None:
    url, seen = echo
    async with httpx.AsyncClient(base_url=url, transport=_transport()) as client:
        for _ in range(3):
            await client.get("/x")
    assert len({str(s["peer"]) for s in seen}) == 1


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        async with httpx.AsyncClient(transport=_transport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")


async def test_a_connection_closed_without_an_answer_is_a_transport_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(transport=_transport()) as client:
            with pytest.raises(httpx.TransportError):
                await client.get(f"http://127.0.0.1:{port}/")
    finally:
        server.close()


async def test_an_answer_slower_than_the_read_timeout_is_a_read_timeout() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    runner, url = await _serve(slow)
    try:
        async with httpx.AsyncClient(transport=_transport(), timeout=httpx.Timeout(5.0, read=0.2)) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(url)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("closed_between", [True, False])
@pytest.mark.filterwarnings("ignore:Unclosed connector:ResourceWarning")  # the unclosed case leaks, and says so
def test_one_transport_serves_one_event_loop_after_another(closed_between: bool) -> None:
    # A client kept across asyncio.run calls: a new loop each time.
    transport = _transport()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def once() -> int:
        runner, url = await _serve(ok)
        try:
            status = (await httpx.AsyncClient(transport=transport).get(url)).status_code
            if closed_between:
                await transport.aclose()
            return status
        finally:
            await runner.cleanup()

    assert asyncio.run(once()) == 200
    assert asyncio.run(once()) == 200


async def test_apiclient_reads_are_retried_and_then_unavailable_through_it() -> None:
    # ApiClient's rules unchanged: a GET that cannot connect is retried, then Unavailable.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        async with ApiClient(f"http://127.0.0.1:{port}", read_retries=1, retry_backoff=0.01) as client:
            with pytest.raises(Unavailable):
                await client.get("pods", "web", namespace="default")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_write_the_server_read_is_never_sent_again(method: str) -> None:
    # aiohttp would resend a PUT or DELETE once when a kept-alive connection fails under it; an
    # update the server had applied then comes back a Conflict. ApiClient alone decides resends.
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            verb = head.split(b" ", 1)[0].decode()
            seen.append(verb)
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if length:
                await reader.readexactly(length)
            if verb != "GET":
                break  # read, maybe applied, never answered
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(transport=_transport()) as client:
            await client.get(f"http://127.0.0.1:{port}/warm")  # the connection is kept alive
            with pytest.raises(httpx.TransportError):
                await client.request(method, f"http://127.0.0.1:{port}/x", content=b"{}")
    finally:
        server.close()
    assert seen == ["GET", method]


async def test_a_long_warning_header_is_read_as_httpcore_read_it() -> None:
    warning = "299 - " + 'unknown field \\"spec.x\\", ' * 400  # ~9 KB: many unknown fields

    async def warn(request: web.Request) -> web.Response:
        return web.json_response({}, status=201, headers={"Warning": warning})

    runner, url = await _serve(warn)
    try:
        async with httpx.AsyncClient(transport=_transport()) as client:
            answer = await client.post(url, content=b"{}")
    finally:
        await runner.cleanup()
    assert answer.status_code == 201 and answer.headers["warning"] == warning.strip()


async def test_a_header_aiohttp_will_not_send_is_a_transport_error(echo: tuple[str, list[dict[str, object]]]) -> None:
    # e.g. a kubeconfig token with a newline in it: httpcore said LocalProtocolError too
    url, _ = echo
    async with httpx.AsyncClient(base_url=url, transport=_transport()) as client:
        with pytest.raises(httpx.TransportError):
            await client.get("/x", headers={"Authorization": "Bearer abc\ndef"})
