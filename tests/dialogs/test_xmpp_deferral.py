"""The XMPP dialog is right whatever expat does with reparse deferral.

Expat 2.6 (and Debian 12's 2.5.0, with the fix backported) defers a parse when the previous call
consumed nothing, until the buffered bytes have doubled (`callProcessor` in xmlparse.c). Fed a
reply in small pieces, a dialog that handed expat everything could wait forever for a
`<proceed/>` expat had not reported. Every transcript runs here against expat that does not
defer, expat that does (the real one where this Python can switch it on, or is built so), and an
emulation of the heuristic over a parser that does not defer, so every machine tests both.
"""

from __future__ import annotations

import pyexpat
from xml.parsers import expat

import pytest

from certcensus.probe.dialogs import xmpp

from .test_xmpp import TRANSCRIPTS
from .transcripts import check_transcript

PROBE_DOCUMENT = b"<root>" + b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" * 3


def _plain_parser():
    return expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")


def _defers(parser) -> bool:
    """Does this parser hold back a complete tag when fed one byte at a time?"""
    started: list[str] = []
    parser.StartElementHandler = lambda name, attributes: started.append(name)
    for index in range(len(PROBE_DOCUMENT)):
        parser.Parse(PROBE_DOCUMENT[index : index + 1], False)
        if len(started) < PROBE_DOCUMENT[: index + 1].count(b">"):
            return True
    return False


class DeferringParser:
    """expat >= 2.6's reparse deferral over a parser that does not defer.

    As in callProcessor: when a call consumed nothing (the parse position did not move), the
    next attempt waits until the unconsumed bytes are at least twice as many as then; until
    then new bytes are only buffered. A call that consumed anything resets the rule.
    """

    def __init__(self, inner):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_held", b"")  # bytes not yet given to the inner parser
        object.__setattr__(self, "_given", 0)  # bytes given to the inner parser
        object.__setattr__(self, "_partial_before", 0)

    def __setattr__(self, name, value):
        setattr(self._inner, name, value)  # handlers go to the parser that parses

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _consumed(self) -> int:
        # Outside a handler, expat's byte index is where parsing stopped: the first byte of the
        # incomplete token it keeps for the next call.
        return max(0, self._inner.CurrentByteIndex)

    def Parse(self, data: bytes, final: bool = False):  # noqa: N802 (expat's name)
        held = self._held + data
        have_now = self._given - self._consumed() + len(held)
        if not final and self._partial_before and have_now < 2 * self._partial_before:
            object.__setattr__(self, "_held", held)
            return 1
        object.__setattr__(self, "_held", b"")
        before = self._consumed()
        object.__setattr__(self, "_given", self._given + len(held))
        result = self._inner.Parse(held, final)
        moved = self._consumed() > before
        object.__setattr__(self, "_partial_before", 0 if moved else have_now)
        return result


def _not_deferring():
    parser = _plain_parser()
    if hasattr(parser, "SetReparseDeferralEnabled"):
        parser.SetReparseDeferralEnabled(False)
    elif _defers(_plain_parser()):
        pytest.skip(f"{pyexpat.EXPAT_VERSION} defers and this Python cannot switch it off")
    return parser


def _real_deferring():
    parser = _plain_parser()
    if hasattr(parser, "SetReparseDeferralEnabled"):
        parser.SetReparseDeferralEnabled(True)
    elif not _defers(_plain_parser()):
        pytest.skip(f"{pyexpat.EXPAT_VERSION} predates reparse deferral (the emulation runs)")
    return parser


def _emulated_deferring():
    return DeferringParser(_not_deferring())


PARSERS = {"expat-not-deferring": _not_deferring, "expat-deferring": _real_deferring,
           "emulated-deferring": _emulated_deferring}  # fmt: skip


@pytest.fixture(params=list(PARSERS))
def expat_kind(request, monkeypatch):
    make = PARSERS[request.param]
    make()  # skip here, not inside the dialog, when this kind is not available
    monkeypatch.setattr(xmpp, "create_parser", make)
    return request.param


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split_whatever_expat_defers(transcript, expat_kind):
    check_transcript(transcript)


def test_the_emulation_holds_back_a_complete_tag_as_expat_does():
    assert _defers(DeferringParser(_not_deferring()))  # what broke the dialog before
    assert not _defers(_not_deferring())


def test_the_emulation_defers_exactly_where_real_expat_does():
    real = _real_deferring()
    emulated = DeferringParser(_not_deferring())
    seen: dict[str, list[tuple[int, str]]] = {"real": [], "emulated": []}
    for label, parser in (("real", real), ("emulated", emulated)):
        events = seen[label]
        parser.StartElementHandler = lambda name, _attributes, events=events: events.append(name)
        for index in range(len(PROBE_DOCUMENT)):
            before = len(events)
            parser.Parse(PROBE_DOCUMENT[index : index + 1], False)
            events[before:] = [(index, name) for name in events[before:]]
    assert seen["emulated"] == seen["real"]
