"""FTP AUTH TLS (RFC 4217): greeting, FEAT (RFC 2389), AUTH TLS.

    S: 220 ProFTPD Server ready.
    C: FEAT
    S: 211-Features:
    S:  AUTH TLS
    S:  PBSZ
    S: 211 End
    C: AUTH TLS
    S: 234 AUTH TLS successful

RFC 4217 section 6 says a server that implements FEAT lists AUTH TLS there. A server without
FEAT (500/502) may still know AUTH TLS, so then we ask anyway.
"""

from __future__ import annotations

import re

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError
from certcensus.probe.dialogs.framing import take_ftp_reply
from certcensus.probe.identity.greetings import banner_identity

SERVICE_NOT_AVAILABLE = 421
# RFC 959 section 4.2: 500 "command unrecognized", 502 "command not implemented", 504 "not
# implemented for that parameter": the server does not know AUTH TLS at all.
NOT_IMPLEMENTED = (500, 502, 504)


class FTPDialog(Dialog):
    name = "ftp"
    default_ports = (21,)
    schemes = {"ftp": 21}
    # ProFTPD (like vsftpd and Pure-FTPd) forks a session process per connection before it
    # greets: 64 at once took 4 s each for AUTH TLS here where 8 take 0.6 s, and FTP servers cap
    # connections per client host (MaxClientsPerHost).
    polite_concurrency = 8
    aliases = ("ftpes",)  # "explicit FTPS", as FileZilla calls it

    def __init__(self, options):
        super().__init__(options)
        self._state = "greeting"

    def _on_data(self) -> bytes:
        return self._each_unit(take_ftp_reply, lambda reply: self._on_reply(*reply))

    def _on_reply(self, code: int, lines: list[str]) -> bytes:
        text = f"{code} " + " / ".join(line.strip() for line in lines)
        if self._state == "greeting" and not 100 <= code < 200:
            self.identity = banner_identity(text[4:])
        if code == SERVICE_NOT_AVAILABLE:
            return self._refuse(Outcome.BUSY, text)
        if self._state == "greeting":
            if 100 <= code < 200:
                # RFC 959 section 5.4: "120 Service ready in nnn minutes", then 220 follows.
                return b""
            if code != 220:
                return self._refuse(Outcome.STARTTLS_REFUSED, f"greeting: {text}")
            self._state = "feat"
            return b"FEAT\r\n"
        if self._state == "feat":
            if code == 211:
                if not _lists_auth_tls(lines[1:-1]):
                    said = f"AUTH TLS not in FEAT: {text}"
                    return self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
            elif 200 <= code < 300:
                raise DialogError(f"unexpected FEAT reply: {text}")
            self._state = "auth"
            return b"AUTH TLS\r\n"
        # state "auth"
        if code == 234:  # RFC 4217 section 4.1: "234 Security data exchange complete."
            self.ready = True
            return b""
        if code in NOT_IMPLEMENTED:
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, text)
        return self._refuse(Outcome.STARTTLS_REFUSED, text)


def _lists_auth_tls(features: list[str]) -> bool:
    """RFC 2389 section 3.2: one feature per line, led by a space; AUTH lists its mechanisms,
    separated by ";" in the wild ("AUTH TLS;TLS-C;SSL") or on separate AUTH lines."""
    for feature in features:
        name, _, arguments = feature.strip().partition(" ")
        if name.upper() == "AUTH":
            if "TLS" in {mechanism.upper() for mechanism in re.split(r"[;,\s]+", arguments)}:
                return True
    return False
