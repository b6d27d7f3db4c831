"""kubectl's port-forward session (SPDY/3.1 in WebSocket messages) against a fake WebSocket
and a real local TCP server standing in for the pod: the frames kubectl sees, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.api import spdy
from orchestrator.api.errors import Unavailable
from orchestrator.apiserver.streaming.spdytunnel import SpdyPortForward


class FakeWebSocket:
    """The client side as kubectl's tunnel: frames in, frames out, any message boundaries."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client_codec = spdy.HeaderCodec()  # kubectl's compressor
        self.reader = spdy.FrameReader(spdy.HeaderCodec())  # kubectl's decompressor
        self.received: asyncio.Queue[spdy.Frame] = asyncio.Queue()
        self.closed = False

    def send_frames(self, *frames: spdy.Frame, split: int | None = None) -> None:
        wire = b"".join(spdy.encode(f, self.client_codec) for f in frames)
        pieces = [wire[i:i + split] for i in range(0, len(wire), split)] if split else [wire]
        for piece in pieces:
            self.incoming.put_nowait({"type": "websocket.receive", "bytes": piece})

    def hang_up(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send_bytes(self, data: bytes) -> None:
        for frame in self.reader.feed(data):
            self.received.put_nowait(frame)

    async def close(self, code: int = 1000) -> None:
        self.closed = True

    async def next(self) -> spdy.Frame:
        return await asyncio.wait_for(self.received.get(), 5)


@pytest.fixture
async def pod_port() -> AsyncIterator[int]:
    """A 'container' that answers each line with its upper-case version, then closes after 'BYE'."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
            if line.strip() == b"bye":
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def pair(request_id: int, port: int, first_id: int) -> tuple[spdy.SynStream, spdy.SynStream]:
    headers = {"port": str(port), "requestid": str(request_id)}
    return (spdy.SynStream(first_id, {"streamtype": "error", **headers}),
            spdy.SynStream(first_id + 2, {"streamtype": "data", **headers}))


async def test_a_forwarded_connection_carries_data_and_ends_with_fin_on_both_streams(pod_port: int) -> None:
    ws = FakeWebSocket()

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert port == 8080
        return await asyncio.open_connection("127.0.0.1", pod_port)

    session = asyncio.create_task(SpdyPortForward(ws, dial).run())  # type: ignore[arg-type]
    # kubectl closes its side of the error stream at once (FIN), and sends in odd-sized pieces.
    ws.send_frames(*pair(0, 8080, 1), spdy.DataFrame(1, b"", spdy.FLAG_FIN), spdy.Ping(1), split=7)
    assert await ws.next() == spdy.SynReply(1, {})
    assert await ws.next() == spdy.SynReply(3, {})
    assert await ws.next() == spdy.Ping(1)
    ws.send_frames(spdy.DataFrame(3, b"hello\n"))
    assert await ws.next() == spdy.DataFrame(3, b"HELLO\n")
    ws.send_frames(spdy.DataFrame(3, b"bye\n"))
    assert await ws.next() == spdy.DataFrame(3, b"BYE\n")
    # the pod closed: FIN on the data stream, then on the error stream (kubectl waits for both)
    assert await ws.next() == spdy.DataFrame(3, b"", spdy.FLAG_FIN)
    assert await ws.next() == spdy.DataFrame(1, b"", spdy.FLAG_FIN)
    ws.hang_up()
    await asyncio.wait_for(session, 5)
    assert ws.closed


async def test_an_unreachable_port_is_reported_on_the_error_stream() -> None:
    ws = FakeWebSocket()

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise Unavailable(f"error forwarding port {port}: connection refused")

    session = asyncio.create_task(SpdyPortForward(ws, dial).run())  # type: ignore[arg-type]
    ws.send_frames(*pair(7, 9999, 5))
    assert await ws.next() == spdy.SynReply(5, {})
    assert await ws.next() == spdy.SynReply(7, {})
    assert await ws.next() == spdy.DataFrame(5, b"error forwarding port 9999: connection refused")
    finishing = {await ws.next(), await ws.next()}
    assert finishing == {spdy.DataFrame(7, b"", spdy.FLAG_FIN), spdy.DataFrame(5, b"", spdy.FLAG_FIN)}
    ws.send_frames(spdy.GoAway(7))
    await asyncio.wait_for(session, 5)


async def test_a_stream_without_a_port_is_reset_and_bad_bytes_end_the_session() -> None:
    ws = FakeWebSocket()

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise AssertionError("not dialled")

    session = asyncio.create_task(SpdyPortForward(ws, dial).run())  # type: ignore[arg-type]
    ws.send_frames(spdy.SynStream(1, {"streamtype": "data", "requestid": "0"}))
    assert await ws.next() == spdy.RstStream(1, spdy.PROTOCOL_ERROR)
    ws.incoming.put_nowait({"type": "websocket.receive", "bytes": bytes.fromhex("80020001 00000000")})
    assert await ws.next() == spdy.GoAway(0, spdy.PROTOCOL_ERROR)
    await asyncio.wait_for(session, 5)
