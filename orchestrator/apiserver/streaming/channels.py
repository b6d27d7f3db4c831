"""Channel WebSockets (`v5.channel.k8s.io`, `v4.channel.k8s.io`) ⇄ node agent streams.

Exec and attach: every client message is ``<channel byte><data>``; stdin (0), resize (4) and,
on v5, close (255 0 = "no more stdin") are passed to the agent as agent frames
(orchestrator/api/streaming.py); the agent's stdout (1), stderr (2) and the final Status (3)
come back as messages, after which the WebSocket is closed normally. v4 has no way to say
"stdin is finished", which is why kubectl 1.30+ prefers v5 (``echo hi | kubectl exec -i``
would otherwise never end).

The Python client's port-forward (``kubernetes.stream.portforward``): ``?ports=8080,9090``; port
number i gets channels 2i (data) and 2i+1 (error), and the server's first message on each of
them is the port as two little-endian bytes. Each port is one agent connection, dialled before
the WebSocket is accepted; the WebSocket closes once every remote end has closed.

Clients may send text messages (the Python client does for ``str`` data): their first character
is the channel, as with binary ones.

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/httpstream/wsstream/conn.go,
pkg/kubelet/cri/streaming/portforward/websocket.go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from orchestrator.api.streaming import (
    CLOSE,
    ERROR,
    RELAY_CHUNK,
    RESIZE,
    STDIN,
    V5,
    agent_frame,
    failure_status,
    read_agent_frame,
    status_bytes,
)
from orchestrator.apiserver.streaming.agent import close_quietly

log = logging.getLogger(__name__)



async def _receive(ws: WebSocket) -> bytes | None:
    """The next message's bytes; ``None`` once the client is gone."""
    message: dict[str, Any] = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data = message.get("bytes")
    if data is None:
        data = (message.get("text") or "").encode()
    return data


async def _run_until_first(*coros: Any) -> None:
    """Run the coroutines; when the first ends, cancel the rest (their cleanup runs)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, (ConnectionError, WebSocketDisconnect)):
            log.warning("stream ended with %r", result)


# client-go's WebSocket executor (kubectl exec) reads frames as soon as the handshake is done but
# registers its stdout/stderr streams a moment later, and drops a frame for a stream it does not have
# yet ("Unknown stream id 2, discarding message"). Output ready at once (the simulated runtime's
# answer, a command that fails to start) is held back this long after the accept; a real process
# takes longer than that to print anything.
CLIENT_STREAMS_GRACE_SECONDS = 0.025


async def bridge_process(ws: WebSocket, protocol: str, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
    """Exec or attach: the accepted WebSocket ⇄ the agent's frames, until the Status or a hang-up."""

    async def client_to_agent() -> None:
        while (data := await _receive(ws)) is not None:
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN:
                writer.write(agent_frame(STDIN, payload))
            elif channel == RESIZE:
                writer.write(agent_frame(RESIZE, payload))
            elif channel == CLOSE and protocol == V5 and payload[:1] == bytes([STDIN]):
                writer.write(agent_frame(CLOSE))
            else:
                continue  # a channel the client may not write (stdout, ...): ignored, as kube-apiserver does
            await writer.drain()

    async def agent_to_client() -> None:
        loop = asyncio.get_running_loop()
        first_at: float | None = loop.time() + CLIENT_STREAMS_GRACE_SECONDS
        while (frame := await read_agent_frame(reader)) is not None:
            channel, payload = frame
            if first_at is not None:
                await asyncio.sleep(max(0.0, first_at - loop.time()))
                first_at = None
            await ws.send_bytes(bytes([channel]) + payload)
            if channel == ERROR:
                return
        await ws.send_bytes(bytes([ERROR]) + status_bytes(
            failure_status("the node agent ended the stream without reporting an exit status")))

    try:
        await _run_until_first(client_to_agent(), agent_to_client())
    finally:
        # The client first: it has its Status and waits for the close, while the agent connection's
        # TLS shutdown takes a round trip nobody needs to wait for.
        with contextlib.suppress(Exception):
            await ws.close(1000)
        await close_quietly(writer)


async def bridge_port_forward(ws: WebSocket, ports: list[int],
                              conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    """The Python client's port-forward: channels 2i/2i+1 of the accepted WebSocket ⇄ agent connection i."""
    send_lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with send_lock:
            await ws.send_bytes(bytes([channel]) + data)

    for i, port in enumerate(ports):
        await send(2 * i, struct.pack("<H", port))
        await send(2 * i + 1, struct.pack("<H", port))

    async def client_to_agents() -> None:
        while (data := await _receive(ws)) is not None:
            if len(data) < 2 or data[0] % 2 or data[0] // 2 >= len(conns):
                continue
            writer = conns[data[0] // 2][1]
            writer.write(data[1:])
            await writer.drain()

    async def agent_to_client(i: int) -> None:
        reader = conns[i][0]
        while chunk := await reader.read(RELAY_CHUNK):
            await send(2 * i, chunk)

    async def all_remotes_closed() -> None:
        await asyncio.gather(*(agent_to_client(i) for i in range(len(conns))))

    try:
        await _run_until_first(client_to_agents(), all_remotes_closed())
    finally:
        for _, writer in conns:
            await close_quietly(writer)
        with contextlib.suppress(Exception):
            await ws.close(1000)
