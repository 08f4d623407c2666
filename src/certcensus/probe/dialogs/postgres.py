"""PostgreSQL SSLRequest (PostgreSQL protocol docs, "SSL Session Encryption", section 55.2.10).

    C: int32 8, int32 80877103          (the SSLRequest code: 1234 << 16 | 5679)
    S: 'S'                              (go ahead: our next bytes are the ClientHello)
    S: 'N'                              (this server does not do SSL)

"The server then responds with a single byte containing S or N ... or E (ErrorResponse) if the
server is very old"; a server from before protocol 3 answers with 'E' and an old-style message.
"""

from __future__ import annotations

import struct

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError, printable

SSL_REQUEST = struct.pack("!II", 8, 80877103)
# An ErrorResponse says a few hundred bytes; a length past this is not PostgreSQL talking.
MAX_ERROR_LENGTH = 16 * 1024
# SQLSTATE 53300 too_many_connections, 57P03 cannot_connect_now (starting up / shutting down).
BUSY_SQLSTATES = ("53300", "57P03")


class PostgresDialog(Dialog):
    name = "postgres"
    default_ports = (5432,)
    schemes = {"postgres": 5432, "postgresql": 5432}
    aliases = ("postgresql", "pgsql", "psql")

    def initiate(self) -> bytes:
        return SSL_REQUEST

    def _on_data(self) -> bytes:
        if not self._buffer:
            return b""
        answer = self._buffer[:1]
        if answer == b"S":
            del self._buffer[:1]
            self.ready = True  # base.py rejects anything after the 'S' (CVE-2021-23222)
        elif answer == b"N":
            del self._buffer[:1]
            self._refuse(Outcome.STARTTLS_UNSUPPORTED, "N: the server does not accept SSL")
        elif answer == b"E":
            self._on_error()
        else:
            raise DialogError(f"SSLRequest answer is not S, N or E: {bytes(answer)!r}")
        return b""

    def _on_error(self) -> None:
        # Protocol 3 ErrorResponse: 'E', int32 length (itself included), then fields, each a type
        # byte and a NUL-terminated string, ended by a NUL byte.
        if len(self._buffer) < 5:
            return
        (length,) = struct.unpack("!I", self._buffer[1:5])
        if length < 4 or length > MAX_ERROR_LENGTH:
            raise DialogError(f"ErrorResponse length {length}")
        if len(self._buffer) < 1 + length:
            return
        body = bytes(self._buffer[5 : 1 + length])
        del self._buffer[: 1 + length]
        fields = {
            item[:1]: item[1:].decode("utf-8", "replace") for item in body.split(b"\0") if item
        }
        code = fields.get(b"C", "")
        said = " ".join(part for part in (fields.get(b"S", ""), code, fields.get(b"M", "")) if part)
        outcome = Outcome.BUSY if code in BUSY_SQLSTATES else Outcome.STARTTLS_REFUSED
        self._refuse(outcome, f"ErrorResponse: {printable(said) or 'no message'}")
