"""A server's words about itself, made safe to store and print: one line, printable, bounded.

Whoever runs the server chooses these bytes, so they may be binary, hold terminal escapes or
bidirectional overrides, or run to megabytes. They are decoded as UTF-8 (invalid bytes shown as
`\\xNN`, so the evidence survives), stripped of control and format characters, whitespace runs
folded to one space, and cut to MAX_IDENTITY characters; what was done is said in `detail`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# 255 characters: a DNS name's limit (RFC 1035 section 2.3.4 allows 255 octets), so a host token
# always fits, and short enough for a table cell and a store column interned per distinct value.
MAX_IDENTITY = 255
# Unicode categories removed: Cc (C0/C1 controls, incl. ESC), Cf (format: bidi overrides, zero-
# width characters), Cs (lone surrogates), Co (private use), Cn (unassigned), Zl/Zp (separators).
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What one probe learned about the server it reached.

    `text` names the backend (None: the server said nothing usable); `detail` says why it is
    missing or truncated, and holds what else the server said that does not name it (an XMPP
    stream id, which changes per connection)."""

    text: str | None = None
    detail: str = ""

    def with_detail(self, note: str) -> ServerIdentity:
        return ServerIdentity(self.text, _joined(self.detail, note))


def _joined(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def clean_text(raw: str | bytes) -> str:
    """`raw` as one printable line, unbounded (callers bound it with `bounded`)."""
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    if text.isprintable():  # the common case, checked in C: nothing to strip
        return " ".join(text.split())
    kept = []
    for character in text:
        if character.isspace():
            kept.append(" ")
        elif unicodedata.category(character) not in _STRIPPED_CATEGORIES:
            kept.append(character)
    return " ".join("".join(kept).split())


def bounded(raw: str | bytes | None, what: str = "greeting") -> ServerIdentity:
    """An identity from one thing the server said (`what` names it in the detail)."""
    if raw is None:
        return ServerIdentity(None, f"no {what}")
    text = clean_text(raw)
    if not text:
        return ServerIdentity(None, f"{what} holds no printable text")
    if len(text) > MAX_IDENTITY:
        return ServerIdentity(  # no blank left at the cut
            text[:MAX_IDENTITY].rstrip(),
            f"{what} truncated from {len(text)} to {MAX_IDENTITY} characters",
        )
    return ServerIdentity(text)


def combined(parts: Iterable[ServerIdentity], separator: str = " / ") -> ServerIdentity:
    """Several identities (a greeting's host, then EHLO's) as one: distinct texts in order
    (compared without case, as host names are), details joined, bounded again."""
    texts: list[str] = []
    details: list[str] = []
    for part in parts:
        if part.text and part.text.lower() not in {t.lower() for t in texts}:
            texts.append(part.text)
        details.append(part.detail)
    if not texts:
        return ServerIdentity(None, _joined(*details))
    whole = bounded(separator.join(texts), "identity")
    return ServerIdentity(whole.text, _joined(*details, whole.detail))
