"""The SMTP front end of the lab pool: RFC 5321 greeting and EHLO, RFC 3207 STARTTLS.

Knobs make it misbehave (no STARTTLS, a refusal, a 421 greeting, one byte per write) so the
client's SMTP dialog is tested against a real peer, not only transcripts.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certcensus.lab.pool import Backend, PoolServer

# RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets including CRLF. We allow
# more so that a sloppy client is answered with 500 rather than cut off mid-line.
MAX_COMMAND_LINE = 4096


@dataclass(frozen=True)
class SMTPBehaviour:
    """How the SMTP front end talks; the non-default values are misbehaviours for tests."""

    name: str = "pool.certcensus.test"
    greeting: str | None = None  # None: "220 <name> ESMTP"; "421 busy" turns clients away
    advertise_starttls: bool = True  # False: a middlebox stripped the keyword from EHLO
    starttls_reply: str = "220 2.0.0 Ready to start TLS"  # anything but 220 refuses the upgrade
    split_writes: bool = False  # send plaintext replies one byte per write, to test framing
    # Each backend greets as "<backend name>.<name>", as Exchange Online's do: what backend
    # attribution (census/backends.py) reads.
    name_backends: bool = False

    @property
    def greeting_line(self) -> str:
        return self.greeting if self.greeting is not None else f"220 {self.name} ESMTP"


class SMTPConnection(asyncio.StreamReaderProtocol):
    """A stream connection whose transport the pool can abort even before its task runs."""

    def __init__(self, pool: PoolServer):
        super().__init__(asyncio.StreamReader(limit=MAX_COMMAND_LINE), pool._serve_smtp)
        self._pool = pool

    def connection_made(self, transport):
        self._pool._transports.add(transport)
        self._raw_transport = transport
        super().connection_made(transport)

    def connection_lost(self, exc):
        self._pool._transports.discard(self._raw_transport)
        super().connection_lost(exc)


_VERB = re.compile(rb"^([A-Za-z]+)(?:[ \t]+(.*))?$")


class SMTPSession:
    """The server side of RFC 5321 greeting, EHLO/HELO, RFC 3207 STARTTLS, NOOP, RSET and QUIT."""

    def __init__(self, pool: PoolServer, backend: Backend, reader, writer):
        self.pool, self.backend, self.reader, self.writer = pool, backend, reader, writer
        self.behaviour = pool.smtp
        self.tls_active = False
        behaviour = self.behaviour
        self.host_name = (
            f"{backend.name}.{behaviour.name}" if behaviour.name_backends else behaviour.name
        )

    async def run(self) -> None:
        greeting = self.behaviour.greeting_line
        if self.behaviour.greeting is None:
            greeting = f"220 {self.host_name} ESMTP"
        await self.reply(greeting)
        if not greeting.startswith("220"):
            return  # 421 and 554 greetings: the server will not talk (RFC 5321 section 3.1)
        while True:
            try:
                line = await asyncio.wait_for(self.reader.readuntil(b"\n"), self.pool._idle_timeout)
            except TimeoutError:
                await self.reply("421 4.4.2 Idle timeout, closing connection")
                return
            except asyncio.LimitOverrunError:
                await self.reply("500 5.5.6 Line too long")
                return
            if not await self.handle(line.rstrip(b"\r\n")):
                return

    async def handle(self, line: bytes) -> bool:
        """Answer one command; False when the connection should end."""
        match = _VERB.match(line)
        verb = match.group(1).upper() if match else b""
        argument = (match.group(2) or b"").strip() if match else b""
        name = self.host_name
        if verb == b"EHLO" and argument:
            keywords = ["PIPELINING", "SIZE 35882577"]
            if self.behaviour.advertise_starttls and not self.tls_active:
                keywords.append("STARTTLS")
            keywords += ["ENHANCEDSTATUSCODES", "8BITMIME"]
            await self.reply(
                f"250-{name} Hello", *(f"250-{k}" for k in keywords[:-1]), f"250 {keywords[-1]}"
            )
        elif verb == b"HELO" and argument:
            await self.reply(f"250 {name}")
        elif verb in (b"EHLO", b"HELO"):
            await self.reply("501 5.5.4 Syntax: EHLO hostname")
        elif verb == b"STARTTLS":
            return await self.starttls(argument)
        elif verb in (b"NOOP", b"RSET"):
            await self.reply("250 2.0.0 OK")
        elif verb == b"QUIT":
            await self.reply("221 2.0.0 Bye")
            return False
        else:
            await self.reply("500 5.5.2 Command unrecognized")
        return True

    async def starttls(self, argument: bytes) -> bool:
        # RFC 3207 section 4: STARTTLS takes no parameters (501), and is refused once TLS is up.
        if argument:
            await self.reply("501 5.5.4 Syntax: STARTTLS (no parameters)")
            return True
        if self.tls_active:
            await self.reply("503 5.5.1 TLS already active")
            return True
        answer = self.behaviour.starttls_reply
        await self.reply(answer)
        if not answer.startswith("220"):
            return not answer.startswith("421")
        # No await may yield between the last byte of the 220 and start_tls: the ClientHello
        # that follows must reach the TLS layer, not the plaintext reader (see reply()).
        self.pool.served[self.backend.name] += 1
        await self.writer.start_tls(
            self.pool._contexts[self.backend.name],
            ssl_handshake_timeout=self.pool._handshake_timeout,
        )
        self.tls_active = True  # RFC 3207 section 4.2: the client starts over with EHLO
        return True

    async def reply(self, *lines: str) -> None:
        data = "".join(f"{line}\r\n" for line in lines).encode()
        if not self.behaviour.split_writes:
            self.writer.write(data)
            await self.writer.drain()
            return
        for index in range(len(data)):
            self.writer.write(data[index : index + 1])
            await self.writer.drain()
            if index < len(data) - 1:
                # Yield so each byte leaves in its own segment; never after the last byte,
                # because the client may answer it with a ClientHello (see starttls()).
                await asyncio.sleep(0)
