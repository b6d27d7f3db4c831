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
