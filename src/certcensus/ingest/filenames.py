"""File names as text that can be stored, printed and turned back into the name, losslessly.

A POSIX file name is bytes; Python hands out the bytes that are not UTF-8 as lone surrogates
(PEP 383), which neither SQLite nor a UTF-8 terminal can take. `escaped_name` writes each such
byte as `\\xNN` (as `ls -b` and Python's bytes repr do), and so also control characters (a
newline in a name must not break a one-line report); a backslash is doubled so that the
escaping can be undone: `unescaped_name(escaped_name(p)) == p` for every path.
"""

from __future__ import annotations

import os
import re

_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # PEP 383: byte 0x80..0xff -> U+DC80..U+DCFF
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def escaped_name(path: str | bytes) -> str:
    """`path` as printable UTF-8 text: undecodable bytes and control characters as `\\xNN`."""
    text = os.fsencode(path).decode("utf-8", "surrogateescape")
    if text.isprintable() and "\\" not in text:
        return text  # the common case, untouched
    out = []
    for character in text:
        if character == "\\":
            out.append("\\\\")
        elif ord(character) in _SURROGATE_BYTES:
            out.append(f"\\x{ord(character) - 0xDC00:02x}")
        elif not character.isprintable():
            out.append("".join(f"\\x{byte:02x}" for byte in character.encode("utf-8")))
        else:
            out.append(character)
    return "".join(out)


def unescaped_name(text: str) -> str:
    """The path `escaped_name` was given (as `os.fsdecode` would spell it)."""
    raw = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        raw += text[position : match.start()].encode("utf-8")
        escape = match[1]
        raw += b"\\" if escape == "\\" else bytes([int(escape[1:], 16)])
        position = match.end()
    raw += text[position:].encode("utf-8")
    return os.fsdecode(bytes(raw))
