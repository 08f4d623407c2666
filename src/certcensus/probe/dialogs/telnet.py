"""Telnet START_TLS (draft-altman-telnet-starttls-02, option 46) on RFC 854 option negotiation.

    C: IAC WILL START_TLS
    S: IAC DO START_TLS
    S: IAC SB START_TLS FOLLOWS IAC SE
    C: IAC SB START_TLS FOLLOWS IAC SE
    then the ClientHello.

The draft: once WILL/DO agree, the server sends the FOLLOWS sub-negotiation, the client answers
with the same, and from then on both sides speak TLS and nothing else (no telnet commands). A server
may also ask first with IAC DO START_TLS; we answer WILL unless we already offered it (RFC 1143:
never acknowledge what is already agreed, or both ends loop). Every other option is refused
(RFC 854: a party may always refuse with WONT/DONT), and text the server prints is skipped.
"""

from __future__ import annotations

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
START_TLS = 46
FOLLOWS = 1
# Sub-negotiations are short (terminal types, window sizes); longer ones are not telnet.
MAX_SUBNEGOTIATION = 1024


class TelnetDialog(Dialog):
    name = "telnet"
    default_ports = (23,)
    schemes = {"telnet": 23}

    def __init__(self, options):
        super().__init__(options)
        self._agreed = False  # the server said DO START_TLS

    def initiate(self) -> bytes:
        return bytes([IAC, WILL, START_TLS])

    def _on_data(self) -> bytes:
        out = bytearray()
        while not self.done:
            start = self._buffer.find(IAC)
            if start < 0:
                self._buffer.clear()  # plain text: banners, login prompts
                return bytes(out)
            del self._buffer[:start]
            if len(self._buffer) < 2:
                return bytes(out)
            command = self._buffer[1]
            if command in (DO, DONT, WILL, WONT):
                if len(self._buffer) < 3:
                    return bytes(out)
                option = self._buffer[2]
                del self._buffer[:3]
                out += self._on_negotiation(command, option)
            elif command == SB:
                end = self._buffer.find(bytes([IAC, SE]))
                if end < 0:
                    if len(self._buffer) > MAX_SUBNEGOTIATION:
                        raise DialogError(f"sub-negotiation longer than {MAX_SUBNEGOTIATION} bytes")
                    return bytes(out)
                body = bytes(self._buffer[2:end])
                del self._buffer[: end + 2]
                out += self._on_subnegotiation(body)
            else:
                # IAC IAC (a data byte 255), NOP, GA, and the other two-byte commands.
                del self._buffer[:2]
        return bytes(out)

    def _on_negotiation(self, command: int, option: int) -> bytes:
        if option == START_TLS:
            if command == DO:
                self._agreed = True
                return b""  # we offered WILL in initiate(); DO is the acknowledgement
            if command == DONT:
                return self._refuse(Outcome.STARTTLS_UNSUPPORTED, "IAC DONT START_TLS")
            return bytes([IAC, DONT, option])  # WILL/WONT: the server side never starts TLS
        if command == DO:
            return bytes([IAC, WONT, option])
        if command == WILL:
            return bytes([IAC, DONT, option])
        return b""  # WONT/DONT of something we never enabled: nothing to acknowledge

    def _on_subnegotiation(self, body: bytes) -> bytes:
        if body[:1] != bytes([START_TLS]):
            return b""  # sub-negotiation of an option we refused: ignore
        if body != bytes([START_TLS, FOLLOWS]):
            raise DialogError(f"START_TLS sub-negotiation other than FOLLOWS: {body!r}")
        if not self._agreed:
            raise DialogError("START_TLS FOLLOWS before the server agreed with DO START_TLS")
        self.ready = True
        return bytes([IAC, SB, START_TLS, FOLLOWS, IAC, SE])
