"""SPDY/3.1 framing: the small part of the protocol kubectl's port-forward speaks.

kubectl 1.31+ runs ``kubectl port-forward`` as SPDY/3.1 frames tunnelled in WebSocket binary
messages (subprotocol ``SPDY/3.1+portforward.k8s.io``, KEP-4006): the WebSocket messages, joined
end to end, are one SPDY byte stream, and message boundaries mean nothing. Each forwarded TCP
connection is a pair of client-opened SPDY streams (``streamType: error`` and ``streamType: data``)
that share a ``requestID`` header and name the ``port``.

This module is the codec only (bytes ⇄ frame values, no I/O). Layouts, from the SPDY/3.1 draft
(section 2.2 and 2.6); every multi-byte number is big-endian::

    control frame   |1| version (15) = 3 | type (16) |  flags (8) | length (24) | data...
    data frame      |0| stream id (31)               |  flags (8) | length (24) | data...

    SYN_STREAM (1)   stream id (31) | associated-to id (31) | priority (3) unused (5) slot (8) | headers
    SYN_REPLY (2)    stream id (31) | headers
    RST_STREAM (3)   stream id (31) | status code (32)
    SETTINGS (4)     count (32) | count × [flags (8) id (24) value (32)]
    PING (6)         id (32)
    GOAWAY (7)       last good stream id (31) | status code (32)
    HEADERS (8)      stream id (31) | headers
    WINDOW_UPDATE (9) stream id (31) | delta (31)

    headers = zlib( count (32) | count × [name length (32) name | value length (32) value] )

Multiple values of one header are joined with NUL bytes. Header blocks are compressed with
one zlib stream per direction for the whole session (not per frame), primed with the
dictionary of section 2.6.10.1 and ended with a sync flush per frame, so the decompressor must
see every header block of the session in order — which is why `HeaderCodec` is a per-session
object.

Flow control (WINDOW_UPDATE) is parsed and ignored: the Go implementation kubectl uses
(moby/spdystream) neither sends nor honours windows.

Kubernetes equivalent: github.com/moby/spdystream/spdy (types.go, read.go, write.go),
k8s.io/apimachinery/pkg/util/httpstream/spdy.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes (section 2.4.2).
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

MAX_LENGTH = (1 << 24) - 1  # the 24-bit length field
_STREAM_MASK = 0x7FFFFFFF

# The header-compression dictionary of section 2.6.10.1: 65 length-prefixed header names and
# values, then a run of status codes, reason phrases, dates and media types.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()


class SpdyError(ValueError):
    """The peer sent bytes that are not SPDY/3.1 (the session cannot continue)."""


# --------------------------------------------------------------------------------------------
# Frame values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    associated_to: int = 0
    priority: int = 0
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()  # (flags, id, value)
    flags: int = 0


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: Mapping[str, str] = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = DataFrame | SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate


# --------------------------------------------------------------------------------------------
# Header blocks
# --------------------------------------------------------------------------------------------


class HeaderCodec:
    """One session's header compression: a compressor for what we send, a decompressor for
    what we receive (each a single zlib stream across all frames of the session)."""

    def __init__(self) -> None:
        self._compress = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)
        self._decompress = zlib.decompressobj(15, zdict=DICTIONARY)

    def encode(self, headers: Mapping[str, str]) -> bytes:
        raw = [struct.pack(">I", len(headers))]
        for name, value in headers.items():
            n, v = name.lower().encode(), value.encode()
            raw.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
        return self._compress.compress(b"".join(raw)) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._decompress.decompress(block)
        except zlib.error as err:
            raise SpdyError(f"header block does not decompress: {err}") from None
        try:
            (count,) = struct.unpack_from(">I", raw, 0)
            offset, headers = 4, {}
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, offset)
                name = raw[offset + 4: offset + 4 + n].decode()
                offset += 4 + n
                (v,) = struct.unpack_from(">I", raw, offset)
                value = raw[offset + 4: offset + 4 + v].decode()
                offset += 4 + v
                headers[name.lower()] = value
        except (struct.error, UnicodeDecodeError) as err:
            raise SpdyError(f"malformed header block: {err}") from None
        if offset != len(raw):
            raise SpdyError(f"header block has {len(raw) - offset} bytes after its {count} headers")
        return headers


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_LENGTH:
        raise ValueError(f"a SPDY frame carries at most {MAX_LENGTH} bytes, got {len(payload)}")
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def encode(frame: Frame, codec: HeaderCodec | None = None) -> bytes:
    """The bytes of `frame`; frames with headers need the session's `codec`."""
    if isinstance(frame, DataFrame):
        if len(frame.data) > MAX_LENGTH:
            raise ValueError(f"a SPDY frame carries at most {MAX_LENGTH} bytes, got {len(frame.data)}")
        return struct.pack(">II", frame.stream_id & _STREAM_MASK, (frame.flags << 24) | len(frame.data)) + frame.data
    if isinstance(frame, (SynStream, SynReply, Headers)):
        if codec is None:
            raise ValueError(f"{type(frame).__name__} needs the session's HeaderCodec")
        block = codec.encode(frame.headers)
        if isinstance(frame, SynStream):
            head = struct.pack(">IIBB", frame.stream_id & _STREAM_MASK, frame.associated_to & _STREAM_MASK,
                               (frame.priority & 0x7) << 5, 0)
            return _control(SYN_STREAM, frame.flags, head + block)
        kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
        return _control(kind, frame.flags, struct.pack(">I", frame.stream_id & _STREAM_MASK) + block)
    if isinstance(frame, RstStream):
        return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id & _STREAM_MASK, frame.status))
    if isinstance(frame, Settings):
        body = struct.pack(">I", len(frame.entries)) + b"".join(
            struct.pack(">II", (f << 24) | (i & 0xFFFFFF), v) for f, i, v in frame.entries)
        return _control(SETTINGS, frame.flags, body)
    if isinstance(frame, Ping):
        return _control(PING, 0, struct.pack(">I", frame.id))
    if isinstance(frame, GoAway):
        return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id & _STREAM_MASK, frame.status))
    if isinstance(frame, WindowUpdate):
        return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id & _STREAM_MASK,
                                                      frame.delta & _STREAM_MASK))
    raise TypeError(f"not a SPDY frame: {frame!r}")


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


class FrameReader:
    """Cuts a byte stream that arrives in arbitrary pieces into frames.

    ``feed`` the bytes of each WebSocket message as they come; it yields every frame completed
    so far and keeps the rest for the next call.
    """

    def __init__(self, codec: HeaderCodec) -> None:
        self._codec = codec
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buffer += data
        while len(self._buffer) >= 8:
            word, flags_length = struct.unpack_from(">II", self._buffer, 0)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                return
            flags = flags_length >> 24
            payload = bytes(self._buffer[8: 8 + length])
            del self._buffer[: 8 + length]
            if word & 0x80000000:
                version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
                if version != VERSION:
                    raise SpdyError(f"SPDY version {version} is not supported (only 3)")
                frame = self._control(kind, flags, payload)
                if frame is not None:
                    yield frame
            else:
                yield DataFrame(word & _STREAM_MASK, payload, flags)

    def _control(self, kind: int, flags: int, p: bytes) -> Frame | None:
        try:
            if kind == SYN_STREAM:
                sid, assoc, pri, _slot = struct.unpack_from(">IIBB", p, 0)
                return SynStream(sid & _STREAM_MASK, self._codec.decode(p[10:]), assoc & _STREAM_MASK, pri >> 5, flags)
            if kind == SYN_REPLY:
                (sid,) = struct.unpack_from(">I", p, 0)
                return SynReply(sid & _STREAM_MASK, self._codec.decode(p[4:]), flags)
            if kind == HEADERS:
                (sid,) = struct.unpack_from(">I", p, 0)
                return Headers(sid & _STREAM_MASK, self._codec.decode(p[4:]), flags)
            if kind == RST_STREAM:
                sid, status = struct.unpack_from(">II", p, 0)
                return RstStream(sid & _STREAM_MASK, status)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", p, 0)
                entries = []
                for i in range(count):
                    fid, value = struct.unpack_from(">II", p, 4 + 8 * i)
                    entries.append((fid >> 24, fid & 0xFFFFFF, value))
                return Settings(tuple(entries), flags)
            if kind == PING:
                return Ping(struct.unpack_from(">I", p, 0)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">II", p, 0) if len(p) >= 8 else (*struct.unpack_from(">I", p, 0), 0)
                return GoAway(last & _STREAM_MASK, status)
            if kind == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", p, 0)
                return WindowUpdate(sid & _STREAM_MASK, delta & _STREAM_MASK)
        except struct.error as err:
            raise SpdyError(f"control frame of type {kind} is too short ({len(p)} bytes): {err}") from None
        return None  # unknown control frames are ignored, as the draft asks (section 2.2.1)
