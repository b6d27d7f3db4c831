"""The channel vocabulary: exit-code Status, subprotocol choice, resize messages, agent frames."""

from __future__ import annotations

import asyncio
import json

import pytest

from orchestrator.api import streaming


def test_a_non_zero_exit_is_a_status_kubectl_turns_into_its_exit_code() -> None:
    status = streaming.exit_status(["sh", "-c", "exit 3"], 3)
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert streaming.exit_status(["true"], 0)["status"] == "Success"


def test_our_preferred_protocol_wins_over_the_clients_order() -> None:
    assert streaming.choose_protocol(["v4.channel.k8s.io", "v5.channel.k8s.io"], streaming.CHANNEL_PROTOCOLS) == \
        "v5.channel.k8s.io"
    assert streaming.choose_protocol(["channel.k8s.io"], streaming.CHANNEL_PROTOCOLS) is None


@pytest.mark.parametrize(("payload", "size"), [
    (b'{"Width":80,"Height":24}', (80, 24)),
    (b'{"Width":0,"Height":24}', None),
    (b"not json", None),
    (b'{"Width":"x"}', None),
])
def test_resize_messages(payload: bytes, size: tuple[int, int] | None) -> None:
    assert streaming.parse_resize(payload) == size


async def test_agent_frames_round_trip_and_end_cleanly() -> None:
    reader = asyncio.StreamReader()
    status = streaming.status_bytes(streaming.success_status())
    reader.feed_data(streaming.agent_frame(1, b"out") + streaming.agent_frame(255) + streaming.agent_frame(3, status))
    reader.feed_eof()
    assert await streaming.read_agent_frame(reader) == (1, b"out")
    assert await streaming.read_agent_frame(reader) == (255, b"")
    channel, payload = await streaming.read_agent_frame(reader) or (0, b"")
    assert channel == 3 and json.loads(payload)["status"] == "Success"
    assert await streaming.read_agent_frame(reader) is None


async def test_an_oversized_or_cut_agent_frame_is_an_error() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(bytes([1]) + (streaming.MAX_AGENT_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="exceeds"):
        await streaming.read_agent_frame(reader)
    cut = asyncio.StreamReader()
    cut.feed_data(streaming.agent_frame(1, b"abcdef")[:-2])
    cut.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError):
        await streaming.read_agent_frame(cut)


async def test_a_framed_port_passes_bytes_and_a_half_close_that_tls_cannot() -> None:
    received: list[bytes] = []

    async def echo_then_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port_reader, port_writer = streaming.framed_port(reader, writer)
        while chunk := await port_reader.read(1024):
            received.append(chunk)
        port_writer.write(b"answer after the client's end")  # the other direction still open
        port_writer.write_eof()
        await port_writer.drain()
        writer.close()

    server = await asyncio.start_server(echo_then_answer, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        port_reader, port_writer = streaming.framed_port(reader, writer)
        port_writer.write(b"x" * (streaming.MAX_AGENT_FRAME + 10))  # more than one frame holds
        port_writer.write_eof()
        await port_writer.drain()
        assert await port_reader.read() == b"answer after the client's end"
        assert await port_reader.read() == b""
        writer.close()
        assert b"".join(received) == b"x" * (streaming.MAX_AGENT_FRAME + 10) and len(received) == 2
    finally:
        server.close()
