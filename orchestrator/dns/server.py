"""The DNS wire protocol over UDP and TCP on asyncio: parse with dnslib, answer from `ClusterRecords`.

UDP: one datagram in, one out; an answer longer than 512 bytes (or the client's EDNS0 size) is
cut to the header and question with the TC bit set, and the client retries over TCP (RFC 1035
4.2.1, RFC 7766). TCP: each message is prefixed with its 2-byte length; a connection may carry
several queries; idle connections are closed after 10 s.

Everything runs on the event loop that also runs the informers, so the records read caches that
never change under them (no threads, no locks). A malformed query gets FORMERR when its header
can be read, and nothing otherwise.

Kubernetes equivalent: CoreDNS's server (core/dnsserver/server.go); the wire format is dnslib's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass, field
from typing import cast

from dnslib import QTYPE, RCODE, DNSError, DNSHeader, DNSRecord

from orchestrator.dns.records import ClusterRecords

__all__ = ["DnsServer", "handle_query"]

log = logging.getLogger(__name__)

_UDP_DEFAULT_SIZE = 512
_TCP_IDLE_SECONDS = 10.0


def handle_query(data: bytes, records: ClusterRecords, *, max_size: int | None = None) -> bytes | None:
    """The wire answer to one wire query (`max_size`: UDP's limit; None for TCP)."""
    try:
        query = DNSRecord.parse(data)
    except (DNSError, struct.error, ValueError, IndexError, UnicodeDecodeError):
        if len(data) < 12:  # not even a header: nothing to answer to
            return None
        return DNSRecord(DNSHeader(id=struct.unpack("!H", data[:2])[0], qr=1, rcode=RCODE.FORMERR)).pack()
    reply = DNSRecord(DNSHeader(id=query.header.id, qr=1, aa=1, rd=query.header.rd, ra=0), q=query.q)
    if query.header.opcode != 0 or len(query.questions) != 1:
        reply.header.rcode = RCODE.NOTIMP if query.header.opcode != 0 else RCODE.FORMERR
        return reply.pack()
    answer = records.answer(query.q.qname, query.q.qtype)
    reply.header.rcode = answer.rcode
    if answer.rcode == RCODE.REFUSED:
        reply.header.aa = 0
    for rr in answer.answers:
        reply.add_answer(rr)
    for rr in answer.authority:
        reply.add_auth(rr)
    wire = reply.pack()
    if max_size is not None:
        limit = max(_UDP_DEFAULT_SIZE, next((rr.edns_len for rr in query.ar if rr.rtype == QTYPE.OPT), 0))
        if len(wire) > limit:
            reply = DNSRecord(DNSHeader(id=query.header.id, qr=1, aa=1, tc=1, rd=query.header.rd, ra=0,
                                        rcode=answer.rcode), q=query.q)
            wire = reply.pack()
    return wire


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, records: ClusterRecords) -> None:
        self.records = records
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = handle_query(data, self.records, max_size=_UDP_DEFAULT_SIZE)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


@dataclass
class DnsServer:
    """UDP and TCP listeners on every (host, port) given; `start` binds them, `close` ends them."""

    records: ClusterRecords
    addresses: list[tuple[str, int]]
    _udp: list[asyncio.DatagramTransport] = field(default_factory=list)
    _tcp: list[asyncio.Server] = field(default_factory=list)

    async def start(self) -> list[tuple[str, int]]:
        """Bind every address (port 0: one free port, the same for UDP and TCP); the bound addresses."""
        loop = asyncio.get_running_loop()
        bound = []
        for host, port in self.addresses:
            tcp = await asyncio.start_server(self._serve_tcp, host, port)
            port = tcp.sockets[0].getsockname()[1]
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self.records), local_addr=(host, port))
            self._tcp.append(tcp)
            self._udp.append(transport)
            bound.append((host, port))
        return bound

    def close(self) -> None:
        for transport in self._udp:
            transport.close()
        for server in self._tcp:
            server.close()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), _TCP_IDLE_SECONDS)
                data = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]), _TCP_IDLE_SECONDS)
                out = handle_query(data, self.records)
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
