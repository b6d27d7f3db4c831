"""The words the streaming subresources (exec, attach, port-forward) share: channels, the
Status that reports an exit code, and the frames between the API server and a node agent.

**Client ⇄ API server** (WebSocket, `*.channel.k8s.io`): every binary message starts with one
channel byte::

    0 stdin   1 stdout   2 stderr   3 error (a Status, the last message)   4 resize ({"Width","Height"})
    255 close (v5 only; the next byte names the channel the client closed, 0 = stdin)

A command that exits non-zero is reported on channel 3 as a ``Failure`` Status with reason
``NonZeroExitCode`` and a cause ``ExitCode`` holding the number — which is how kubectl prints
``command terminated with exit code 3`` and itself exits 3.

**API server ⇄ node agent** (this project's own, one HTTP/1.1 upgrade per stream): after
``101 Switching Protocols`` both sides send `agent frames`: the same channel byte, a 4-byte
big-endian length, then the payload. Channel 3 carries the final Status, built by the agent
(as kubelet builds it); 255 with an empty payload closes stdin. A port-forward connection
carries the forwarded bytes as frames on channel 0 and the end of one direction as a 255 frame
(`FramedPort`): the hop is TLS, which has no half-close (asyncio's SSL transport cannot
``write_eof``), and a client that half-closes must still get the server's answer.

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/remotecommand/constants.go,
k8s.io/apimachinery/pkg/util/httpstream/wsstream/conn.go, pkg/kubelet/cri/streaming/remotecommand.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

STDIN = 0
STDOUT = 1
STDERR = 2
ERROR = 3
RESIZE = 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
SPDY_PORTFORWARD_TUNNEL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOLS = (V5, V4)  # in order of preference
# Browsers cannot set headers on a WebSocket, so Kubernetes also accepts the bearer token as a
# subprotocol: base64url.bearer.authorization.k8s.io.<base64url(token)>.
BEARER_PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io."

AGENT_UPGRADE = "labkit-stream/1"  # the Upgrade token of API server → node agent streams
_AGENT_HEAD = struct.Struct(">BI")
MAX_AGENT_FRAME = 1 << 20
# What a relay reads and forwards at a time, and the read buffer of each relayed connection.
# Per chunk the Python relays pay a fixed cost (a frame header, a WebSocket message, a few
# awaits); at 32 KiB that cost capped port-forward (docs/benchmarks.md, "Port-forward chunks").
RELAY_CHUNK = 256 * 1024
RELAY_BUFFER = 2 * RELAY_CHUNK


def choose_protocol(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """The first of `supported` the client offered (our preference wins, as kube-apiserver's)."""
    return next((p for p in supported if p in offered), None)


def success_status() -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


def exit_status(command: list[str], exit_code: int) -> dict[str, Any]:
    """The error-channel Status for a finished command (Success for 0)."""
    if exit_code == 0:
        return success_status()
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command}, "
                   f"exit code {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def failure_status(message: str, *, reason: str = "InternalError", code: int = 500) -> dict[str, Any]:
    """An error-channel Status for a stream that failed for another reason than an exit code."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def status_bytes(status: dict[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """``{"Width":80,"Height":24}`` → (80, 24); ``None`` when it is not a terminal size."""
    try:
        size = json.loads(payload)
        width, height = int(size["Width"]), int(size["Height"])
    except (ValueError, KeyError, TypeError):
        return None
    if not (0 < width < 65536 and 0 < height < 65536):
        return None
    return width, height


def agent_frame(channel: int, payload: bytes = b"") -> bytes:
    """One API server ⇄ node agent frame."""
    return _AGENT_HEAD.pack(channel, len(payload)) + payload


async def read_agent_frame(reader: Any) -> tuple[int, bytes] | None:
    """The next frame from an ``asyncio.StreamReader``; ``None`` at a clean end of stream.

    Raises ``ValueError`` on a frame larger than `MAX_AGENT_FRAME` and
    ``asyncio.IncompleteReadError`` when the peer vanished mid-frame.
    """
    try:
        head = await reader.readexactly(_AGENT_HEAD.size)
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            return None
        raise
    channel, length = _AGENT_HEAD.unpack(head)
    if length > MAX_AGENT_FRAME:
        raise ValueError(f"agent frame of {length} bytes on channel {channel} exceeds {MAX_AGENT_FRAME}")
    return channel, (await reader.readexactly(length) if length else b"")


class FramedPortReader:
    """The reading half of a port-forward connection on the agent hop: frames in, bytes out;
    ``b""`` once the peer ended its direction (a 255 frame) or the connection."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._ended = False

    async def read(self, n: int = -1) -> bytes:  # noqa: ARG002 - a frame is returned whole
        while not self._ended:
            frame = await read_agent_frame(self._reader)
            if frame is None or frame[0] == CLOSE:
                self._ended = True
                break
            if frame[1]:
                return frame[1]
        return b""


class FramedPortWriter:
    """The writing half: bytes as channel-0 frames, `write_eof` as a 255 frame (TLS cannot half-close)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), MAX_AGENT_FRAME):
            self._writer.write(agent_frame(STDIN, data[start:start + MAX_AGENT_FRAME]))

    async def drain(self) -> None:
        await self._writer.drain()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._writer.write(agent_frame(CLOSE))

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def close(self) -> None:
        self._writer.close()

    async def wait_closed(self) -> None:
        await self._writer.wait_closed()


def framed_port(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[FramedPortReader, FramedPortWriter]:
    """A port-forward connection on the agent hop (after the upgrade), both sides use it."""
    return FramedPortReader(reader), FramedPortWriter(writer)
