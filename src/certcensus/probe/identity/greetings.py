"""The backend's name in each protocol's greeting, as the STARTTLS dialogs and the implicit-TLS
greeting reader (after_tls.py) both see it. Pure functions of what the server sent.

- SMTP/LMTP (RFC 5321 section 4.2, 4.3.1): `220 SP Domain [SP text]` and EHLO's first line
  `250-Domain [SP greet]`: the Domain token names the host that answered. Exchange Online:
  `220 BN8PR11CA0012.outlook.office365.com Microsoft ESMTP MAIL Service ready at ...`.
- IMAP (RFC 3501 section 7.1) and POP3 (RFC 1939 section 4): the greeting's text, without an
  IMAP `[CAPABILITY ...]` response code (configuration, not a name). Exchange puts the backend's
  FQDN in brackets as base64 of UTF-16LE (`[QgBOADgAUABSADEAMQ...]`): that name, decoded, *is*
  the identity.
- FTP (RFC 959 section 4.2) and NNTP (RFC 3977 section 5.1): the banner's text.
- XMPP (RFC 6120 section 4.7): the stream's `from`; its `id` is unique per stream (section
  4.7.3), so it goes in the detail, never in the name a census groups by.
- MySQL: the server version string of the HandshakeV10 packet.
- IRC (RFC 2812 section 2.3.1): the prefix of the server's own messages, its server name.
"""

from __future__ import annotations

import base64
import binascii
import re

from certcensus.probe.identity.text import ServerIdentity, bounded, clean_text

# `[` base64 `]` in a greeting. 8 characters at least (a 4-character UTF-16 name is not a backend
# FQDN), and at most MAX_ENCODED_NAME: 255 characters of UTF-16LE are 510 bytes, 680 in base64.
MAX_ENCODED_NAME = 680
_BRACKETED_BASE64 = re.compile(rb"\[([A-Za-z0-9+/]{8,%d}={0,2})\]" % MAX_ENCODED_NAME)
# What a decoded name must look like to be taken for one (RFC 1123 host name characters, a dot).
_HOST_NAME = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\.?$"
)
_IMAP_CAPABILITY_CODE = re.compile(rb"^\[CAPABILITY [^\]]*\]\s*", re.IGNORECASE)


def first_token(text: str | bytes, what: str) -> ServerIdentity:
    """The first word of `text` (an SMTP greeting's or EHLO reply's Domain)."""
    token = clean_text(text).partition(" ")[0]
    if not token:
        return ServerIdentity(None, f"{what} names no host")
    return bounded(token, what)


def smtp_greeting_identity(first_line: str) -> ServerIdentity:
    """`first_line` is the text after `220 ` of the greeting's first line."""
    return first_token(first_line, "greeting")


def smtp_hello_identity(first_line: str) -> ServerIdentity:
    """`first_line` is the text after `250-` of the EHLO/LHLO reply's first line."""
    return first_token(first_line, "EHLO reply")


def exchange_encoded_name(text: bytes) -> str | None:
    """The host name Exchange hides in a greeting as `[base64 of UTF-16LE]`, or None."""
    for match in _BRACKETED_BASE64.finditer(text):
        try:
            raw = base64.b64decode(match.group(1), validate=True)
            name = raw.decode("utf-16-le") if len(raw) % 2 == 0 else ""
        except (binascii.Error, UnicodeDecodeError):
            continue
        if _HOST_NAME.match(name):
            return name
    return None


def greeting_text_identity(text: bytes) -> ServerIdentity:
    """IMAP's or POP3's greeting text after its status (`* OK `, `+OK `)."""
    text = _IMAP_CAPABILITY_CODE.sub(b"", text.strip())
    name = exchange_encoded_name(text)
    if name is not None:
        return bounded(name, "greeting")
    return bounded(text or None, "greeting")


def banner_identity(text: str | bytes) -> ServerIdentity:
    """FTP's or NNTP's banner text, after its reply code."""
    return bounded(text or None, "banner")


def xmpp_stream_identity(stream_from: str | None, stream_id: str | None) -> ServerIdentity:
    identity = bounded(stream_from, "stream from")
    if stream_id:
        identity = identity.with_detail(f"stream id {bounded(stream_id, 'stream id').text}")
    return identity


def mysql_version_identity(version: bytes) -> ServerIdentity:
    return bounded(version or None, "server version")


def irc_server_name(line: bytes) -> ServerIdentity | None:
    """The server name in a line's prefix (`:irc.example.net NOTICE ...`), tags skipped; None
    for a line without a prefix or with a user's (`nick!user@host`)."""
    if line.startswith(b"@"):
        line = line.partition(b" ")[2]
    if not line.startswith(b":"):
        return None
    prefix = line[1:].partition(b" ")[0]
    if not prefix or b"!" in prefix or b"@" in prefix:
        return None
    return bounded(prefix, "server name")
