"""RDP security negotiation ([MS-RDPBCGR] sections 2.2.1.1 and 2.2.1.2): X.224 CR/CC over TPKT.

    C: TPKT | X.224 Connection Request | RDP_NEG_REQ (requestedProtocols SSL | HYBRID)
    S: TPKT | X.224 Connection Confirm | RDP_NEG_RSP (selectedProtocol SSL or HYBRID)
    then the ClientHello (for HYBRID too: CredSSP runs inside the TLS connection).

A server that cannot or will not use TLS answers RDP_NEG_FAILURE with a failureCode; a server
from before RDP 5.2 sends a Connection Confirm without any negotiation data.
"""

from __future__ import annotations

import struct

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError

TPKT_VERSION = 3  # RFC 1006 section 6
X224_CONNECTION_REQUEST = 0xE0
X224_CONNECTION_CONFIRM = 0xD0
X224_DISCONNECT_REQUEST = 0x80
TYPE_RDP_NEG_REQ, TYPE_RDP_NEG_RSP, TYPE_RDP_NEG_FAILURE = 1, 2, 3
PROTOCOL_RDP, PROTOCOL_SSL, PROTOCOL_HYBRID = 0, 1, 2
REQUESTED_PROTOCOLS = PROTOCOL_SSL | PROTOCOL_HYBRID
TLS_PROTOCOLS = (PROTOCOL_SSL, PROTOCOL_HYBRID)

# [MS-RDPBCGR] 2.2.1.2.2 failureCode values.
FAILURE_CODES = {
    1: "SSL_REQUIRED_BY_SERVER",
    2: "SSL_NOT_ALLOWED_BY_SERVER",
    3: "SSL_CERT_NOT_ON_SERVER",
    4: "INCONSISTENT_FLAGS",
    5: "HYBRID_REQUIRED_BY_SERVER",
    6: "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
}
# The server allows only Standard RDP Security: it has no TLS to offer.
SSL_NOT_ALLOWED_BY_SERVER = 2


def connection_request() -> bytes:
    negotiation = struct.pack("<BBHI", TYPE_RDP_NEG_REQ, 0, 8, REQUESTED_PROTOCOLS)
    # X.224 CR TPDU: length indicator, code, DST-REF, SRC-REF, class 0 (ITU-T X.224 13.3).
    x224 = struct.pack("!BBHHB", 6 + len(negotiation), X224_CONNECTION_REQUEST, 0, 0, 0)
    body = x224 + negotiation
    return struct.pack("!BBH", TPKT_VERSION, 0, 4 + len(body)) + body


class RDPDialog(Dialog):
    name = "rdp"
    default_ports = (3389,)
    schemes = {"rdp": 3389}
    # xrdp listens with a backlog of 2 (listen(sck, 2)): more connections at once time out.
    polite_concurrency = 2

    def initiate(self) -> bytes:
        return connection_request()

    def _on_data(self) -> bytes:
        if len(self._buffer) < 4:
            return b""
        version, _, length = struct.unpack("!BBH", self._buffer[:4])
        if version != TPKT_VERSION or length < 4 + 7:
            raise DialogError(f"not a TPKT Connection Confirm (version {version}, length {length})")
        if len(self._buffer) < length:
            return b""
        tpdu = bytes(self._buffer[4:length])
        del self._buffer[:length]
        self._on_tpdu(tpdu)
        return b""

    def _on_tpdu(self, tpdu: bytes) -> None:
        indicator, code = tpdu[0], tpdu[1] & 0xF0
        if indicator + 1 > len(tpdu) or indicator < 6:
            raise DialogError(f"X.224 length indicator {indicator} for {len(tpdu)} bytes")
        if code == X224_DISCONNECT_REQUEST:
            self._refuse(Outcome.STARTTLS_REFUSED, "X.224 Disconnect Request")
            return
        if code != X224_CONNECTION_CONFIRM:
            raise DialogError(f"X.224 TPDU 0x{tpdu[1]:02x} is not a Connection Confirm")
        negotiation = tpdu[7 : indicator + 1]
        if not negotiation:
            self._refuse(Outcome.STARTTLS_UNSUPPORTED, "no RDP_NEG_RSP: Standard RDP Security only")
            return
        if len(negotiation) != 8:
            raise DialogError(f"RDP negotiation data of {len(negotiation)} bytes, not 8")
        kind, _flags, size, value = struct.unpack("<BBHI", negotiation)
        if size != 8:
            raise DialogError(f"RDP negotiation length field {size}, not 8")
        if kind == TYPE_RDP_NEG_FAILURE:
            name = FAILURE_CODES.get(value, f"unknown failureCode {value}")
            outcome = (
                Outcome.STARTTLS_UNSUPPORTED
                if value == SSL_NOT_ALLOWED_BY_SERVER
                else Outcome.STARTTLS_REFUSED
            )
            self._refuse(outcome, f"RDP_NEG_FAILURE {name}")
        elif kind != TYPE_RDP_NEG_RSP:
            raise DialogError(f"RDP negotiation type {kind}")
        elif value in TLS_PROTOCOLS:
            self.ready = True
        elif value == PROTOCOL_RDP:
            self._refuse(Outcome.STARTTLS_UNSUPPORTED, "RDP_NEG_RSP selected Standard RDP Security")
        else:
            raise DialogError(f"RDP_NEG_RSP selected protocol {value}, which we did not offer")
