"""Framing helpers shared by several dialogs (IMAP and ManageSieve literals, POP3 and NNTP dot-
terminated blocks, FTP's loose multi-line replies).

Each helper follows `take_line` and `take_coded_reply` in base.py: it removes one complete unit
from the buffer and returns it, or returns None and leaves the buffer alone until more bytes come.
"""

from __future__ import annotations

import re

from certcensus.probe.dialogs.base import (
    MAX_BUFFER,
    Dialog,
    DialogError,
    quoted,
    server_text,
    take_line,
)

# `{123}` (synchronizing) or `{123+}` (RFC 7888 LITERAL+) at the end of a line; `~{123}` is an
# RFC 3516 literal8, which only differs in what its bytes may contain.
_LITERAL_AT_END = re.compile(rb"~?\{(\d{1,10})\+?\}$")


def take_line_with_literals(buffer: bytearray) -> bytes | None:
    """Remove and return one logical IMAP/ManageSieve line, literals included, without final CRLF.

    RFC 3501 section 4.3: "A literal is a sequence of zero or more octets ... represented as the
    number of octets in braces, followed by CRLF, followed by the octets"; the line goes on after
    them. So a line only ends at a CRLF that does not follow a `{n}`. RFC 5804 section 4 uses the
    same literal syntax.
    """
    position = 0
    while True:
        end = buffer.find(b"\n", position)
        if end < 0:
            return None
        segment = bytes(buffer[position:end]).rstrip(b"\r")
        literal = _LITERAL_AT_END.search(segment)
        if literal is None:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            return line[:-1] if line.endswith(b"\r") else line
        size = int(literal.group(1))
        if size > MAX_BUFFER:
            raise DialogError(f"literal of {size} bytes is longer than {MAX_BUFFER}")
        if len(buffer) < end + 1 + size:
            return None
        position = end + 1 + size


def take_dot_terminated_lines(buffer: bytearray) -> list[bytes] | None:
    """Remove and return the lines of a multi-line block ending with a lone ".", or None.

    RFC 1939 section 3 (POP3) and RFC 3977 section 3.1.1 (NNTP): the block ends with a line that
    is exactly "."; a line that begins with "." has one more "." prepended ("dot-stuffing"),
    which we remove.
    """
    scan = bytearray(buffer)
    lines: list[bytes] = []
    while True:
        line = take_line(scan)
        if line is None:
            return None
        if line == b".":
            del buffer[: len(buffer) - len(scan)]
            return lines
        lines.append(line[1:] if line.startswith(b".") else line)


def take_ftp_reply(buffer: bytearray) -> tuple[int, list[str]] | None:
    """Remove and return one FTP reply as (code, lines), or None if it is not complete yet.

    RFC 959 section 4.2: a multi-line reply starts with "123-" and ends with a line that starts
    with the same code and a space ("123 "); lines in between may say anything, including lines
    that start with other digits. A lone "123" is accepted as a last line too (seen in the wild).
    """
    scan = bytearray(buffer)
    first = take_line(scan)
    if first is None:
        return None
    if len(first) < 3 or not first[:3].isdigit() or first[3:4] not in (b"", b" ", b"-"):
        raise DialogError(f"malformed FTP reply line: {quoted(first, 80)}")
    code = first[:3]
    lines = [server_text(first[4:])]
    if first[3:4] == b"-":
        while True:
            line = take_line(scan)
            if line is None:
                return None
            if line[:3] == code and line[3:4] in (b"", b" "):
                lines.append(server_text(line[4:]))
                break
            # Intermediate lines: RFC 959 lets them start with anything; drop a repeated "123-".
            text = line[4:] if line[:3] == code and line[3:4] == b"-" else line
            lines.append(server_text(text))
    del buffer[: len(buffer) - len(scan)]
    return int(code), lines


class StatusThenListDialog(Dialog):
    """POP3 and NNTP share one framing: single status lines, except that the answer to CAPA /
    CAPABILITIES is a dot-terminated list. Subclasses set `_state = "capabilities"` when that
    list is due, and implement `_on_status(line)` and `_on_capabilities(lines)`."""

    def __init__(self, options):
        super().__init__(options)
        self._state = "greeting"

    def _on_data(self) -> bytes:
        return self._each_unit(self._take_unit, self._on_unit)

    def _take_unit(self, buffer: bytearray):
        if self._state == "capabilities":
            return take_dot_terminated_lines(buffer)
        return take_line(buffer)

    def _on_unit(self, unit) -> bytes:
        if self._state == "capabilities":
            return self._on_capabilities(unit)
        return self._on_status(unit)

    def _on_status(self, line: bytes) -> bytes:
        raise NotImplementedError

    def _on_capabilities(self, lines) -> bytes:
        raise NotImplementedError
