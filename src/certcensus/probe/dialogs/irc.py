"""IRC STARTTLS (IRCv3 "tls" extension, ircv3.net/specs/deprecated/tls): STARTTLS before login.

    C: STARTTLS
    S: :irc.example.net NOTICE * :*** Looking up your hostname...
    S: :irc.example.net 670 * :STARTTLS successful, proceed with TLS handshake

The spec has clients send STARTTLS after CAP LS; servers that implement it also accept it as the
very first line, which is what testssl.sh and openssl s_client -starttls irc do, because some
servers start their registration timeout on NICK/USER. 670 RPL_STARTTLS means go ahead, 691
ERR_STARTTLS means the server could not start TLS.
"""

from __future__ import annotations

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError, take_line
from certcensus.probe.identity.greetings import irc_server_name

# Modern IRC (RFC 1459 section 2.3 plus IRCv3 message tags): 512 bytes, plus up to 8191 of tags.
MAX_LINE = 512 + 8191
RPL_STARTTLS = "670"
ERR_STARTTLS = "691"
# 421 ERR_UNKNOWNCOMMAND; 451 ERR_NOTREGISTERED ("You have not registered"): either way the
# server does not offer STARTTLS before registration.
NOT_SUPPORTED = ("421", "451")


def command_and_text(line: bytes) -> tuple[str, str]:
    """The command (or numeric) of an IRC line and its final parameter, tags and prefix removed."""
    text = line.decode("utf-8", "replace")
    if text.startswith("@"):
        text = text.partition(" ")[2]
    if text.startswith(":"):
        text = text.partition(" ")[2]
    command, _, parameters = text.lstrip(" ").partition(" ")
    trailing = parameters.partition(":")[2] if ":" in parameters else parameters
    return command.upper(), trailing


class IRCDialog(Dialog):
    name = "irc"
    default_ports = (6667,)
    schemes = {"irc": 6667}

    def initiate(self) -> bytes:
        return b"STARTTLS\r\n"

    def _on_data(self) -> bytes:
        out = b""
        while not self.done:
            line = take_line(self._buffer)
            if line is None:
                if len(self._buffer) > MAX_LINE:
                    raise DialogError(f"IRC line longer than {MAX_LINE} bytes")
                return out
            if len(line) > MAX_LINE:
                raise DialogError(f"IRC line longer than {MAX_LINE} bytes")
            out += self._on_line(line)
        return out

    def _on_line(self, line: bytes) -> bytes:
        if not line.strip():
            return b""
        if self.identity is None:
            self.identity = irc_server_name(line)
        command, text = command_and_text(line)
        if command == RPL_STARTTLS:
            self.ready = True
            return b""
        if command == ERR_STARTTLS:
            return self._refuse(Outcome.STARTTLS_REFUSED, line)
        if command in NOT_SUPPORTED:
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, line)
        if command == "PING":
            # RFC 2812 section 3.7.2: some servers PING before registration and drop clients
            # that do not answer.
            return b"PONG :" + text.replace("\r", "").encode("utf-8", "replace") + b"\r\n"
        if command == "ERROR":
            # RFC 2812 section 3.7.4: the server is closing the link ("Too many connections").
            return self._refuse(Outcome.BUSY, line)
        if len(command) == 3 and command.isdigit() and command[0] in "45":
            return self._refuse(Outcome.STARTTLS_REFUSED, line)
        # NOTICE, 020 "please wait", CAP, and anything else before registration: not for us.
        return b""
