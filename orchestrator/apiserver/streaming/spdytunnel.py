"""kubectl port-forward: a SPDY/3.1 session tunnelled in WebSocket binary messages (KEP-4006).

kubectl opens one WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``) for the whole
``kubectl port-forward`` run and, for every local TCP connection it accepts, opens two SPDY
streams with the same ``requestID``: first ``streamType: error``, then ``streamType: data``,
both naming the ``port``. We answer each SYN_STREAM with a SYN_REPLY, dial the node agent once
both streams of a pair are there, and copy bytes: DATA frames on the data stream ⇄ the agent
connection. The end of the remote side is a FIN on the data stream and then on the error
stream — kubectl waits for both before it closes the local connection. A failure to reach the
port is written as text on the error stream (kubectl prints ``an error occurred forwarding
8080 -> 80: ...``). PING frames are echoed; GOAWAY or a closed WebSocket ends the session and
every connection in it.

Invariant: frames are encoded and sent under one lock, because header blocks share one zlib
stream per direction (orchestrator/api/spdy.py) and must reach the peer in the order they
were compressed.

Kubernetes equivalent: k8s.io/apiserver/pkg/util/proxy/streamtunnel.go,
pkg/kubelet/cri/streaming/portforward/httpstream.go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.websockets import WebSocket

from orchestrator.api import spdy
from orchestrator.api.errors import ApiError
from orchestrator.api.streaming import RELAY_CHUNK
from orchestrator.apiserver.streaming.agent import close_quietly

log = logging.getLogger(__name__)

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass
class _Pair:
    request_id: str
    port: int | None = None
    data_id: int | None = None
    error_id: int | None = None
    upstream: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # client → pod; None = FIN
    task: asyncio.Task[None] | None = None


class SpdyPortForward:
    """One tunnelled SPDY session on an accepted WebSocket; `dial(port)` reaches the pod's port."""

    def __init__(self, ws: WebSocket, dial: Dial) -> None:
        self._ws = ws
        self._dial = dial
        self._codec = spdy.HeaderCodec()
        self._frames = spdy.FrameReader(self._codec)
        self._send_lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}
        self._stream_pair: dict[int, _Pair] = {}

    async def send(self, frame: spdy.Frame) -> None:
        async with self._send_lock:
            await self._ws.send_bytes(spdy.encode(frame, self._codec))

    async def run(self) -> None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or b""
                for frame in self._frames.feed(data):
                    if not await self._handle(frame):
                        return
        except spdy.SpdyError as err:
            log.warning("port-forward session ended: %s", err)
            with contextlib.suppress(Exception):
                await self.send(spdy.GoAway(0, spdy.PROTOCOL_ERROR))
        finally:
            tasks = [p.task for p in self._pairs.values() if p.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._ws.close(1000)

    async def _handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False ends the session."""
        if isinstance(frame, spdy.SynStream):
            await self._open(frame)
        elif isinstance(frame, spdy.DataFrame):
            pair = self._stream_pair.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_id:
                if frame.data:
                    pair.upstream.put_nowait(frame.data)
                if frame.fin:
                    pair.upstream.put_nowait(None)
        elif isinstance(frame, spdy.RstStream):
            pair = self._stream_pair.get(frame.stream_id)
            if pair is not None and pair.task is not None:
                pair.task.cancel()
        elif isinstance(frame, spdy.Ping):
            await self.send(frame)
        elif isinstance(frame, spdy.GoAway):
            return False
        return True  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control, see api/spdy.py)

    async def _open(self, syn: spdy.SynStream) -> None:
        kind = syn.headers.get("streamtype")
        request_id = syn.headers.get("requestid", str(syn.stream_id))
        try:
            port = int(syn.headers.get("port", ""))
            if not 0 < port < 65536:
                raise ValueError(port)
        except ValueError:
            port = None
        if kind not in ("data", "error") or port is None:
            await self.send(spdy.RstStream(syn.stream_id, spdy.PROTOCOL_ERROR))
            return
        await self.send(spdy.SynReply(syn.stream_id))
        pair = self._pairs.setdefault(request_id, _Pair(request_id))
        pair.port = port
        if kind == "data":
            pair.data_id = syn.stream_id
        else:
            pair.error_id = syn.stream_id
        self._stream_pair[syn.stream_id] = pair
        if pair.data_id is not None and pair.error_id is not None and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair), name=f"port-forward-{request_id}")

    async def _forward(self, pair: _Pair) -> None:
        assert pair.port is not None and pair.data_id is not None and pair.error_id is not None
        data_id, error_id = pair.data_id, pair.error_id
        try:
            try:
                reader, writer = await self._dial(pair.port)
            except ApiError as err:
                await self.send(spdy.DataFrame(error_id, err.message.encode()))
                return

            async def up() -> None:
                while (chunk := await pair.upstream.get()) is not None:
                    writer.write(chunk)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                await asyncio.Event().wait()  # half-closed: wait for the remote to finish

            async def down() -> None:
                while chunk := await reader.read(RELAY_CHUNK):
                    await self.send(spdy.DataFrame(data_id, chunk))

            tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None and not isinstance(task.exception(), ConnectionError):
                        log.warning("port-forward %s: %r", pair.request_id, task.exception())
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await close_quietly(writer)
        except ConnectionError:
            pass
        finally:
            self._pairs.pop(pair.request_id, None)
            self._stream_pair.pop(data_id, None)
            self._stream_pair.pop(error_id, None)
            with contextlib.suppress(Exception):
                await self.send(spdy.DataFrame(data_id, b"", spdy.FLAG_FIN))
                await self.send(spdy.DataFrame(error_id, b"", spdy.FLAG_FIN))
