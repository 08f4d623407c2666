"""NNTP STARTTLS (RFC 4642, on RFC 3977): greeting, CAPABILITIES, STARTTLS.

S: 200 news.example.com InterNetNews NNRP server ready
C: CAPABILITIES
S: 101 Capability list:
S: VERSION 2
S: READER
S: STARTTLS
S: .
C: STARTTLS
S: 382 Continue with TLS negotiation
"""

from __future__ import annotations

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError, printable, quoted, server_text
from certcensus.probe.dialogs.framing import StatusThenListDialog
from certcensus.probe.identity.greetings import banner_identity

# RFC 3977 section 3.2.1: 500 unknown command, 501 syntax error, 502 command unavailable.
UNKNOWN_COMMAND = 500


class NNTPDialog(StatusThenListDialog):
    name = "nntp"
    default_ports = (119,)
    schemes = {"nntp": 119}
    # INN forks an nnrpd per connection, and each costs tens of milliseconds of CPU before it
    # greets: 64 at once made every probe wait (1.7 s median for STARTTLS, past --timeout on a
    # busy machine) where 8 take 0.5 s; news servers also cap connections per client host.
    polite_concurrency = 8

    def _on_status(self, line: bytes) -> bytes:
        # RFC 3977 section 3.2: "an initial line containing a three-digit status indicator".
        if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b"", b" "):
            raise DialogError(f"malformed status line: {quoted(line, 80)}")
        code = int(line[:3])
        if self._state == "greeting":
            self.identity = banner_identity(line[4:])
            # RFC 3977 section 5.1.1: 200/201 service available, 400 "service temporarily
            # unavailable", 502 "service permanently unavailable".
            if code in (200, 201):
                self._state = "capabilities-status"
                return b"CAPABILITIES\r\n"
            if code == 400:
                return self._refuse(Outcome.BUSY, line)
            return self._refuse(Outcome.STARTTLS_REFUSED, f"greeting: {printable(line)}")
        if code == 400:  # RFC 3977 section 3.2.1: 400 may come at any time before closing
            return self._refuse(Outcome.BUSY, line)
        if self._state == "capabilities-status":
            if code != 101:
                # RFC 977 servers do not know CAPABILITIES, and so do not know STARTTLS either.
                return self._refuse(
                    Outcome.STARTTLS_UNSUPPORTED, f"CAPABILITIES failed: {printable(line)}"
                )
            self._state = "capabilities"
            return b""
        # state "starttls": RFC 4642 section 2.2: 382 continue, 502 "command unavailable", 580
        # "can not initiate TLS negotiation".
        if code == 382:
            self.ready = True
            return b""
        if code == UNKNOWN_COMMAND:
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, line)
        return self._refuse(Outcome.STARTTLS_REFUSED, line)

    def _on_capabilities(self, lines: list[bytes]) -> bytes:
        # RFC 3977 section 5.2.2: each line is a capability label, then optional arguments.
        labels = {line.split(b" ", 1)[0].upper() for line in lines if line}
        if b"STARTTLS" not in labels:
            listed = " / ".join(server_text(line) for line in lines)
            said = f"STARTTLS not in CAPABILITIES: {listed}"
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
        self._state = "starttls"
        return b"STARTTLS\r\n"
