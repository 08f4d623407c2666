"""POP3 STLS (RFC 2595 section 4): greeting, CAPA (RFC 2449), STLS.

S: +OK POP3 server ready
C: CAPA
S: +OK Capability list follows
S: USER
S: STLS
S: .
C: STLS
S: +OK Begin TLS negotiation
"""

from __future__ import annotations

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError, printable, quoted, server_text
from certcensus.probe.dialogs.framing import StatusThenListDialog
from certcensus.probe.identity.greetings import greeting_text_identity


class POP3Dialog(StatusThenListDialog):
    name = "pop3"
    default_ports = (110,)
    schemes = {"pop3": 110}
    aliases = ("pop",)

    def _on_status(self, line: bytes) -> bytes:
        # RFC 1939 section 3: every response starts with a status indicator, "+OK" or "-ERR".
        if line[:3].upper() == b"+OK":
            ok = True
        elif line[:4].upper() == b"-ERR":
            ok = False
        else:
            raise DialogError(f"reply is not +OK/-ERR: {quoted(line, 80)}")
        if self._state == "greeting":
            self.identity = greeting_text_identity(line[3:] if ok else line[4:])
            if not ok:
                # RFC 1939 section 4 allows only +OK here; a -ERR greeting is a server turning
                # connections away (Dovecot: "-ERR [SYS/TEMP] Max connections reached").
                return self._refuse(Outcome.BUSY, line)
            self._state = "capa"
            return b"CAPA\r\n"
        if self._state == "capa":
            if not ok:
                # RFC 2595 section 4: STLS is announced in CAPA; no CAPA, no way to know.
                return self._refuse(Outcome.STARTTLS_UNSUPPORTED, f"CAPA failed: {printable(line)}")
            self._state = "capabilities"
            return b""
        # state "stls"
        if ok:
            self.ready = True
            return b""
        return self._refuse(Outcome.STARTTLS_REFUSED, line)

    def _on_capabilities(self, lines: list[bytes]) -> bytes:
        # RFC 2449 section 5: each line is a capability name, then optional arguments.
        names = {line.split(b" ", 1)[0].upper() for line in lines if line}
        if b"STLS" not in names:
            listed = " / ".join(server_text(line) for line in lines)
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, f"STLS not in CAPA: {listed}")
        self._state = "stls"
        return b"STLS\r\n"
