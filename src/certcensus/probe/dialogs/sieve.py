"""ManageSieve STARTTLS (RFC 5804 sections 1.7 and 2.2): capabilities, then STARTTLS.

    S: "IMPLEMENTATION" "Example1 ManageSieved v001"
    S: "SIEVE" "fileinto vacation"
    S: "SASL" "PLAIN"
    S: "STARTTLS"
    S: "VERSION" "1.0"
    S: OK
    C: STARTTLS
    S: OK "Begin TLS negotiation now"

The server speaks first with its capability list, which ends with an OK response (or NO/BYE).
"""

from __future__ import annotations

import re

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError, printable
from certcensus.probe.dialogs.base import quoted as quoted_line
from certcensus.probe.dialogs.framing import take_line_with_literals

# RFC 5804 section 4: quoted strings with \\ and \" escapes, literals {n} / {n+} and CRLF then
# n octets, and atoms (OK, NO, BYE, response codes in parentheses).
_TOKEN = re.compile(
    rb'\s*(?:"((?:[^"\\\r\n]|\\.)*)"|\{(\d+)\+?\}\r?\n|(\([^)]*\))|([^\s"(){]+))', re.DOTALL
)

_BLANK_TO_END = re.compile(rb"\s*$")


def tokens(line: bytes) -> list[str]:
    """The strings and atoms of one complete response line, literals included."""
    found: list[str] = []
    position = 0
    while position < len(line):
        if _BLANK_TO_END.match(line, position):
            break
        match = _TOKEN.match(line, position)
        if match is None:
            raise DialogError(f"malformed ManageSieve line: {quoted_line(line, 80)}")
        quoted, literal_size, code, atom = match.groups()
        position = match.end()
        if quoted is not None:
            found.append(re.sub(rb"\\(.)", rb"\1", quoted).decode("utf-8", "replace"))
        elif literal_size is not None:
            size = int(literal_size)
            found.append(line[position : position + size].decode("utf-8", "replace"))
            position += size
        else:
            found.append((code or atom).decode("utf-8", "replace"))
    return found


class SieveDialog(Dialog):
    name = "sieve"
    default_ports = (4190,)
    schemes = {"sieve": 4190}
    aliases = ("managesieve",)

    def __init__(self, options):
        super().__init__(options)
        self._state = "capabilities"
        self._capabilities: set[str] = set()

    def _on_data(self) -> bytes:
        return self._each_unit(
            take_line_with_literals, lambda line: self._on_line(tokens(line), line)
        )

    def _on_line(self, words: list[str], line: bytes) -> bytes:
        if not words:
            raise DialogError("empty ManageSieve line")
        status = words[0].upper() if not line.lstrip().startswith((b'"', b"{")) else ""
        if status not in ("OK", "NO", "BYE"):
            if self._state != "capabilities":
                raise DialogError(f"unexpected line after STARTTLS: {quoted_line(line, 80)}")
            # RFC 5804 section 1.7: each capability line is a quoted name, then its arguments.
            if not line.lstrip().startswith((b'"', b"{")):
                raise DialogError(f"capability is not a string: {quoted_line(line, 80)}")
            self._capabilities.add(words[0].upper())
            return b""
        if self._state == "capabilities":
            if status == "BYE":
                return self._refuse(Outcome.BUSY, line)
            if status == "NO":
                return self._refuse(Outcome.STARTTLS_REFUSED, f"greeting: {printable(line)}")
            if "STARTTLS" not in self._capabilities:
                listed = " ".join(sorted(self._capabilities))
                said = f"STARTTLS not advertised: {listed}"
                return self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
            self._state = "starttls"
            return b"STARTTLS\r\n"
        if status == "OK":
            self.ready = True
            return b""
        return self._refuse(Outcome.STARTTLS_REFUSED, line)
