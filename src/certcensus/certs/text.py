"""Text from certificates is data, never terminal control: what every human-readable rendering
passes subjects, issuers and names through.

A CA or a server chooses a certificate's subject. Control characters in it (ESC starting a
terminal escape sequence, CR and LF adding lines to a listing or to INSTALL.txt) and Unicode
format characters (bidi overrides such as U+202E that make "moc.knab" read as "bank.com",
zero-width characters, line and paragraph separators) are shown escaped, as \\x1b or \\u202e, so
what a user reads is what the certificate says. JSON keeps the text as it is (JSON has its own
escaping, and programs read it); HTML escapes it and applies this as well.
"""

from __future__ import annotations

import unicodedata

# Unicode categories shown escaped: controls (Cc), format characters (Cf: bidi controls,
# zero-width, BOM), line (Zl) and paragraph (Zp) separators, and unassigned or surrogate code
# points that a terminal may render as anything.
ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co"}


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(text: object) -> str:
    """`text` with every control and format character escaped (see the module docstring)."""
    value = str(text)
    if value.isprintable() and value.isascii():
        return value  # the common case, checked fast
    return "".join(
        _escaped(c) if unicodedata.category(c) in ESCAPED_CATEGORIES else c for c in value
    )
