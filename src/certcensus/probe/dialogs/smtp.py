"""SMTP STARTTLS (RFC 3207) and its LMTP twin (RFC 2033): greeting, EHLO/LHLO, STARTTLS, 220.

    S: 220 mail.example.com ESMTP
    C: EHLO certcensus.invalid
    S: 250-mail.example.com
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 2.0.0 Ready to start TLS

RFC 3207 section 4: the server answers STARTTLS with 220 to go ahead, or 454 "TLS not available
due to temporary reason", or 501/5xx. 421 at any point means the service is shutting the
connection down (RFC 5321 section 3.8): recorded as `busy`, as testssl.sh words it.
"""

from __future__ import annotations

from certcensus.model.defaults import EHLO_NAME
from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError, DialogOption, take_coded_reply
from certcensus.probe.identity.greetings import smtp_greeting_identity, smtp_hello_identity
from certcensus.probe.identity.text import combined

SERVICE_NOT_AVAILABLE = 421
EHLO_NAME_OPTION = DialogOption(
    "ehlo_name", "--ehlo-name", EHLO_NAME, "Name sent in SMTP EHLO / LMTP LHLO."
)


class SMTPDialog(Dialog):
    name = "smtp"
    default_ports = (25, 587, 2525)
    schemes = {"smtp": 25, "submission": 587}
    aliases = ("submission", "esmtp")  # port 587's IANA name; what some tools call SMTP
    command_line_options = (EHLO_NAME_OPTION,)
    hello_verb = b"EHLO"

    def __init__(self, options):
        super().__init__(options)
        self._state = "greeting"

    def _on_data(self) -> bytes:
        return self._each_unit(take_coded_reply, self._on_reply)

    def _on_reply(self, reply) -> bytes:
        if self._state == "greeting":
            self.identity = smtp_greeting_identity(reply.lines[0])
        if reply.code == SERVICE_NOT_AVAILABLE:
            return self._refuse(Outcome.BUSY, reply.text)
        if self._state == "greeting":
            if reply.code != 220:
                return self._refuse(Outcome.STARTTLS_REFUSED, f"greeting: {reply.text}")
            self._state = "hello"
            name = self.options.value(EHLO_NAME_OPTION) or EHLO_NAME
            return self.hello_verb + b" " + name.encode("ascii", "replace") + b"\r\n"
        if self._state == "hello":
            if reply.code == 250 and self.identity is not None:
                # Behind a proxy the greeting may name the proxy and EHLO the backend: keep both.
                hello = smtp_hello_identity(reply.lines[0])
                self.identity = combined([self.identity, hello])
            if reply.code != 250:
                return self._refuse(
                    Outcome.STARTTLS_UNSUPPORTED,
                    f"{self.hello_verb.decode()} refused: {reply.text}",
                )
            # The first line is the server's name; each later line starts with a keyword.
            keywords = {line.split(" ", 1)[0].upper() for line in reply.lines[1:]}
            if "STARTTLS" not in keywords:
                return self._refuse(
                    Outcome.STARTTLS_UNSUPPORTED, f"STARTTLS not advertised: {reply.text}"
                )
            self._state = "starttls"
            return b"STARTTLS\r\n"
        if self._state == "starttls":
            if reply.code == 220:
                self.ready = True
                return b""
            return self._refuse(Outcome.STARTTLS_REFUSED, reply.text)
        raise DialogError(f"unexpected reply in state {self._state}")


class LMTPDialog(SMTPDialog):
    name = "lmtp"
    default_ports = (24,)  # type: ignore[assignment]  # LMTP inherits SMTP's dialog, not its ports
    schemes = {"lmtp": 24}
    aliases = ()  # type: ignore[assignment]  # not SMTP's (the registry reads its own)
    hello_verb = b"LHLO"
