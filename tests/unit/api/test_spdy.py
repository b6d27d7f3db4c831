"""SPDY/3.1 frames byte for byte, from the layouts of the SPDY/3.1 draft (sections 2.2, 2.6)."""

from __future__ import annotations

import struct
import zlib

import pytest

from orchestrator.api import spdy


def test_the_header_dictionary_is_the_drafts() -> None:
    # Section 2.6.10.1's dictionary: 1423 bytes, starting with the length-prefixed "options".
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_a_data_frame_is_stream_id_flags_length_data() -> None:
    assert spdy.encode(spdy.DataFrame(5, b"hi", spdy.FLAG_FIN)) == bytes.fromhex("00000005 01000002 6869")


@pytest.mark.parametrize(("frame", "expected"), [
    (spdy.Ping(7), "80030006 00000004 00000007"),
    (spdy.RstStream(3, spdy.CANCEL), "80030003 00000008 00000003 00000005"),
    (spdy.GoAway(9, 0), "80030007 00000008 00000009 00000000"),
    (spdy.WindowUpdate(1, 65536), "80030009 00000008 00000001 00010000"),
    (spdy.Settings(((0, 7, 1000),)), "80030004 0000000c 00000001 00000007 000003e8"),
])
def test_control_frames_have_the_drafts_layout(frame: spdy.Frame, expected: str) -> None:
    data = spdy.encode(frame)
    assert data == bytes.fromhex(expected)
    assert list(spdy.FrameReader(spdy.HeaderCodec()).feed(data)) == [frame]


def test_syn_stream_carries_ids_priority_and_a_zlib_block_primed_with_the_dictionary() -> None:
    codec = spdy.HeaderCodec()
    data = spdy.encode(spdy.SynStream(1, {"streamType": "error", "port": "8080"}, priority=2, flags=spdy.FLAG_FIN),
                       codec)
    control, flags_length = struct.unpack_from(">II", data)
    assert control == 0x80030001 and flags_length >> 24 == spdy.FLAG_FIN and flags_length & 0xFFFFFF == len(data) - 8
    assert struct.unpack_from(">IIBB", data, 8) == (1, 0, 2 << 5, 0)
    block = data[18:]
    assert block[1] & 0x20, "the zlib header sets FDICT"
    assert struct.unpack_from(">I", block, 2)[0] == zlib.adler32(spdy.DICTIONARY)
    raw = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(block)
    # count, then (length, name, length, value) pairs; names are lower case on the wire
    assert raw == (b"\x00\x00\x00\x02" + b"\x00\x00\x00\x0astreamtype" + b"\x00\x00\x00\x05error"
                   + b"\x00\x00\x00\x04port" + b"\x00\x00\x00\x048080")


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    frames = [spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}),
              spdy.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}),
              spdy.SynReply(2, {})]
    wire = b"".join(spdy.encode(f, sender) for f in frames)
    assert list(spdy.FrameReader(receiver).feed(wire)) == frames
    # The second block is only readable after the first: a fresh decompressor fails on it.
    second = spdy.encode(spdy.SynReply(4, {"a": "b"}), sender)
    with pytest.raises(spdy.SpdyError):
        list(spdy.FrameReader(spdy.HeaderCodec()).feed(second))


def test_frames_arriving_a_byte_at_a_time_come_out_whole() -> None:
    sender = spdy.HeaderCodec()
    frames = [spdy.SynStream(1, {"port": "8080"}), spdy.DataFrame(1, b"x" * 300), spdy.Ping(1),
              spdy.DataFrame(1, b"", spdy.FLAG_FIN)]
    wire = b"".join(spdy.encode(f, sender) for f in frames)
    reader = spdy.FrameReader(spdy.HeaderCodec())
    out = [frame for i in range(len(wire)) for frame in reader.feed(wire[i:i + 1])]
    assert out == frames
    assert out[-1].fin  # type: ignore[union-attr]


def test_unknown_control_frames_are_ignored_and_other_versions_refused() -> None:
    reader = spdy.FrameReader(spdy.HeaderCodec())
    assert list(reader.feed(bytes.fromhex("8003000a 00000000"))) == []  # type 10 (CREDENTIAL) has no meaning here
    with pytest.raises(spdy.SpdyError, match="version 2"):
        list(reader.feed(bytes.fromhex("80020006 00000004 00000001")))


def test_a_truncated_control_frame_is_an_error() -> None:
    with pytest.raises(spdy.SpdyError, match="too short"):
        list(spdy.FrameReader(spdy.HeaderCodec()).feed(bytes.fromhex("80030003 00000004 00000001")))


def test_a_payload_beyond_24_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        spdy.encode(spdy.DataFrame(1, b"\0" * (spdy.MAX_LENGTH + 1)))
