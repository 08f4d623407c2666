"""IMAP STARTTLS (RFC 3501 section 6.2.1, RFC 9051 section 6.2.1): greeting, CAPABILITY, STARTTLS.

    S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] IMAP4rev1 Service Ready
    C: a1 STARTTLS
    S: a1 OK Begin TLS negotiation now

When the greeting carries no CAPABILITY response code, or one without STARTTLS, we ask:

    C: a1 CAPABILITY
    S: * CAPABILITY IMAP4rev1 STARTTLS
    S: a1 OK CAPABILITY completed
    C: a2 STARTTLS
    S: a2 OK Begin TLS negotiation now
"""

from __future__ import annotations

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError, printable, quoted
from certcensus.probe.dialogs.framing import take_line_with_literals
from certcensus.probe.identity.greetings import greeting_text_identity


class IMAPDialog(Dialog):
    name = "imap"
    default_ports = (143,)
    schemes = {"imap": 143}
    aliases = ("imap4",)

    def __init__(self, options):
        super().__init__(options)
        self._state = "greeting"
        self._tag = b""
        self._capabilities: set[str] = set()

    def _on_data(self) -> bytes:
        return self._each_unit(take_line_with_literals, self._on_line)

    def _command(self, tag: bytes, command: bytes) -> bytes:
        self._tag = tag
        return tag + b" " + command + b"\r\n"

    def _on_line(self, line: bytes) -> bytes:
        tag, _, rest = line.partition(b" ")
        status, _, text = rest.partition(b" ")
        status = status.upper()
        if self._state == "greeting":
            self.identity = greeting_text_identity(text)
        if tag == b"*" and status == b"BYE":
            # RFC 3501 section 7.1.5: "the server is about to close the connection", in a greeting
            # "the server is not willing to accept a connection from this client".
            return self._refuse(Outcome.BUSY, line)
        if self._state == "greeting":
            return self._on_greeting(line, tag, status, text)
        if tag == b"*":
            # RFC 3501 section 7: untagged data may come at any time; only CAPABILITY matters.
            if status == b"CAPABILITY":
                self._capabilities |= _atoms(text)
            return b""
        if tag == b"+":
            raise DialogError(f"unexpected continuation request: {quoted(line, 80)}")
        if tag != self._tag:
            raise DialogError(f"reply with unknown tag: {quoted(line, 80)}")
        self._capabilities |= _capability_code(text)
        if self._state == "capability":
            if status != b"OK":
                said = f"CAPABILITY failed: {printable(line)}"
                return self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
            return self._starttls_if_advertised(b"a2")
        if status == b"OK":  # state "starttls"
            self.ready = True
            return b""
        if status in (b"NO", b"BAD"):
            return self._refuse(Outcome.STARTTLS_REFUSED, line)
        raise DialogError(f"tagged reply is not OK/NO/BAD: {quoted(line, 80)}")

    def _on_greeting(self, line: bytes, tag: bytes, status: bytes, text: bytes) -> bytes:
        if tag != b"*" or status not in (b"OK", b"PREAUTH"):
            raise DialogError(f"greeting is not * OK/PREAUTH/BYE: {quoted(line, 80)}")
        if status == b"PREAUTH":
            # RFC 3501 section 6.2.1: STARTTLS is valid only in the not-authenticated state, and a
            # PREAUTH greeting puts the connection in the authenticated state.
            said = f"PREAUTH greeting: {printable(line)}"
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
        self._capabilities = _capability_code(text)
        if "STARTTLS" in self._capabilities:
            self._state = "starttls"
            return self._command(b"a1", b"STARTTLS")
        self._state = "capability"
        return self._command(b"a1", b"CAPABILITY")

    def _starttls_if_advertised(self, tag: bytes) -> bytes:
        if "STARTTLS" not in self._capabilities:
            listed = " ".join(sorted(self._capabilities))
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, f"STARTTLS not advertised: {listed}")
        self._state = "starttls"
        return self._command(tag, b"STARTTLS")


def _atoms(text: bytes) -> set[str]:
    return {atom.upper() for atom in text.decode("ascii", "replace").split()}


def _capability_code(text: bytes) -> set[str]:
    """The atoms of a `[CAPABILITY ...]` response code at the start of `text` (RFC 3501 7.1)."""
    if not text.upper().startswith(b"[CAPABILITY "):
        return set()
    end = text.find(b"]")
    if end < 0:
        raise DialogError(f"unterminated response code: {quoted(text, 80)}")
    return _atoms(text[len(b"[CAPABILITY ") : end])
