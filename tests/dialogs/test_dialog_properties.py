"""Every registered dialog against random and mutated server bytes (hypothesis).

Whatever a server sends, a dialog must: raise nothing but DialogError, return from every call,
never hold more than MAX_BUFFER bytes, and once done (ready or refused) stay exactly so.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcensus.probe.dialogs import DIALOGS
from certcensus.probe.dialogs.base import MAX_BUFFER, DialogError

from . import (
    test_ftp,
    test_imap,
    test_irc,
    test_ldap,
    test_mssql,
    test_mysql,
    test_nntp,
    test_pop3,
    test_postgres,
    test_rdp,
    test_sieve,
    test_telnet,
    test_xmpp,
)
from .transcripts import OPTIONS, crlf

SEEDS: dict[str, list[bytes]] = {}
for _module in (
    test_ftp,
    test_imap,
    test_irc,
    test_ldap,
    test_mssql,
    test_mysql,
    test_nntp,
    test_pop3,
    test_postgres,
    test_rdp,
    test_sieve,
    test_telnet,
    test_xmpp,
):
    for _transcript in _module.TRANSCRIPTS:
        SEEDS.setdefault(_transcript.protocol, []).append(_transcript.server)
SEEDS["smtp"] = [crlf("220 mx ESMTP", "250-mx", "250 STARTTLS", "220 go")]
SEEDS["lmtp"] = SEEDS["smtp"]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 8))
    return bytes(data)


@st.composite
def chunked(draw, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a]


def server_bytes(protocol: str):
    return st.one_of(st.binary(max_size=600), mutated(SEEDS[protocol])).flatmap(chunked)


def assert_clean_identity(dialog) -> None:
    """What the server said about itself: one printable line of at most 255 characters, or
    None with a reason."""
    identity = dialog.identity
    if identity is None:
        return
    if identity.text is None:
        assert identity.detail
    else:
        assert 0 < len(identity.text) <= 255 and identity.text.isprintable()
        assert identity.text == identity.text.strip()


def exercise(protocol: str, chunks: list[bytes]) -> None:
    dialog = DIALOGS[protocol](OPTIONS)
    dialog.initiate()
    for chunk in [*chunks, b""]:
        state = (dialog.ready, dialog.refusal)
        was_done = dialog.done
        try:
            dialog.receive_data(chunk)
        except DialogError:
            if was_done:
                assert (dialog.ready, dialog.refusal) == state, "a done dialog changed state"
                continue
            return  # the dialog ended in protocol-error: nothing more to check
        finally:
            assert len(dialog._buffer) <= MAX_BUFFER
            assert_clean_identity(dialog)
        assert not was_done, "a done dialog accepted more data"
        assert not (dialog.ready and dialog.refusal), "both ready and refused"
    # The final b"" (server closed) either found the dialog done or raised DialogError above.
    assert dialog.done


@pytest.mark.parametrize("protocol", sorted(SEEDS))
def test_registered_dialogs_have_seeds(protocol):
    assert protocol in DIALOGS


def test_every_registered_dialog_is_exercised():
    assert set(DIALOGS) <= set(SEEDS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", sorted(SEEDS))
def test_any_server_bytes_end_cleanly(protocol):
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(server_bytes(protocol))
    def run(chunks):
        exercise(protocol, chunks)

    run()


@pytest.mark.parametrize("protocol", sorted(SEEDS))
def test_an_endless_reply_stops_at_the_buffer_limit(protocol):
    """A server that never finishes its reply: DialogError at MAX_BUFFER, or nothing is held."""
    dialog = DIALOGS[protocol](OPTIONS)
    dialog.initiate()
    chunk = b"A" * 4096
    with pytest.raises(DialogError):
        for _ in range(MAX_BUFFER // len(chunk) + 2):
            dialog.receive_data(chunk)
            assert len(dialog._buffer) <= MAX_BUFFER
        dialog.receive_data(b"")
