"""The SMTP STARTTLS dialog from transcripts: bytes in, bytes out, no sockets."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs import DialogError, DialogOptions
from certcensus.probe.dialogs.base import MAX_BUFFER
from certcensus.probe.dialogs.smtp import LMTPDialog, SMTPDialog

OPTIONS = DialogOptions(host="mail.example.com")

# RFC 3207 section 4's example, with the EHLO reply Postfix really sends.
GREETING = b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"
EHLO_REPLY = (
    b"250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
    b"250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
    b"250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)
GO_AHEAD = b"220 2.0.0 Ready to start TLS\r\n"


def run(dialog, server_chunks):
    """Feed chunks; return everything the client sent."""
    sent = dialog.initiate()
    for chunk in server_chunks:
        sent += dialog.receive_data(chunk)
        if dialog.done:
            break
    return sent


def test_rfc_exchange_reaches_ready():
    dialog = SMTPDialog(OPTIONS)
    sent = run(dialog, [GREETING, EHLO_REPLY, GO_AHEAD])
    assert sent == b"EHLO certcensus.invalid\r\nSTARTTLS\r\n"
    assert dialog.ready and dialog.refusal is None


def test_ehlo_name_is_configurable():
    dialog = SMTPDialog(DialogOptions(host="x", values={"ehlo_name": "probe.example.net"}))
    assert run(dialog, [GREETING]) == b"EHLO probe.example.net\r\n"


def test_lmtp_says_lhlo():
    dialog = LMTPDialog(OPTIONS)
    sent = run(dialog, [GREETING, EHLO_REPLY, GO_AHEAD])
    assert sent == b"LHLO certcensus.invalid\r\nSTARTTLS\r\n" and dialog.ready


def test_every_split_point_gives_the_same_result():
    transcript = GREETING + EHLO_REPLY + GO_AHEAD
    for cut in range(1, len(transcript)):
        dialog = SMTPDialog(OPTIONS)
        sent = run(dialog, [transcript[:cut], transcript[cut:]])
        assert dialog.ready, cut
        assert sent == b"EHLO certcensus.invalid\r\nSTARTTLS\r\n"


def _byte_by_byte(dialog, transcript):
    sent = b""
    for index in range(len(transcript)):
        sent += dialog.receive_data(transcript[index : index + 1])
    return sent


def test_one_byte_at_a_time():
    dialog = SMTPDialog(OPTIONS)
    assert _byte_by_byte(dialog, GREETING + EHLO_REPLY + GO_AHEAD).endswith(b"STARTTLS\r\n")
    assert dialog.ready


def test_multi_line_greeting_and_bare_lf():
    dialog = SMTPDialog(OPTIONS)
    run(
        dialog,
        [
            b"220-mail.example.com ESMTP\n220-no UCE\n220 welcome\n",
            b"250-x\n250 STARTTLS\n",
            b"220 go\n",
        ],
    )
    assert dialog.ready


def test_starttls_not_advertised_is_unsupported_with_the_servers_words():
    dialog = SMTPDialog(OPTIONS)
    run(dialog, [GREETING, b"250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"])
    assert dialog.refusal.outcome is Outcome.STARTTLS_UNSUPPORTED
    assert "PIPELINING" in dialog.refusal.server_said


def test_starttls_keyword_must_be_a_keyword_not_a_substring():
    dialog = SMTPDialog(OPTIONS)
    run(dialog, [GREETING, b"250-mail.example.com\r\n250 X-NOSTARTTLS\r\n"])
    assert dialog.refusal.outcome is Outcome.STARTTLS_UNSUPPORTED


@pytest.mark.parametrize(
    "reply, outcome",
    [
        (b"454 4.7.0 TLS not available due to temporary reason\r\n", Outcome.STARTTLS_REFUSED),
        (b"502 5.5.1 STARTTLS not implemented\r\n", Outcome.STARTTLS_REFUSED),
        (b"421 4.3.2 Service shutting down\r\n", Outcome.BUSY),
    ],
)
def test_refused_starttls(reply, outcome):
    dialog = SMTPDialog(OPTIONS)
    run(dialog, [GREETING, EHLO_REPLY, reply])
    assert dialog.refusal.outcome is outcome
    assert reply.decode().strip()[:3] in dialog.refusal.server_said


def test_busy_greeting():
    dialog = SMTPDialog(OPTIONS)
    assert run(dialog, [b"421 4.7.0 Too many connections, try later\r\n"]) == b""
    assert dialog.refusal.outcome is Outcome.BUSY
    assert "Too many connections" in dialog.refusal.server_said


def test_ehlo_refused_means_no_starttls():
    dialog = SMTPDialog(OPTIONS)
    run(dialog, [GREETING, b"502 5.5.2 Error: command not recognized\r\n"])
    assert dialog.refusal.outcome is Outcome.STARTTLS_UNSUPPORTED


def test_early_close_is_a_protocol_error():
    dialog = SMTPDialog(OPTIONS)
    dialog.receive_data(GREETING)
    with pytest.raises(DialogError, match="closed"):
        dialog.receive_data(b"")


@pytest.mark.parametrize(
    "garbage",
    [b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x03\x01\x00\x05hello\n", b"220-a\r\n250 b\r\n"],
)
def test_garbage_is_a_protocol_error(garbage):
    with pytest.raises(DialogError):
        SMTPDialog(OPTIONS).receive_data(garbage)


def test_data_after_go_ahead_is_an_injection():
    dialog = SMTPDialog(OPTIONS)
    run(dialog, [GREETING, EHLO_REPLY])
    with pytest.raises(DialogError, match="after agreeing"):
        dialog.receive_data(GO_AHEAD + b"250 injected\r\n")


def test_reply_without_newline_is_bounded():
    dialog = SMTPDialog(OPTIONS)
    with pytest.raises(DialogError, match="longer than"):
        for _ in range(MAX_BUFFER // 1000 + 2):
            dialog.receive_data(b"2" * 1000)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_server_bytes_never_crash_or_overflow(chunks):
    dialog = SMTPDialog(OPTIONS)
    try:
        for chunk in chunks + [b""]:
            dialog.receive_data(chunk)
            assert len(dialog._buffer) <= MAX_BUFFER
            if dialog.done:
                break
    except DialogError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_transcripts_never_crash(data):
    transcript = bytearray(GREETING + EHLO_REPLY + GO_AHEAD)
    for _ in range(data.draw(st.integers(1, 5))):
        index = data.draw(st.integers(0, len(transcript) - 1))
        transcript[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(transcript)))
    dialog = SMTPDialog(OPTIONS)
    try:
        for chunk in (bytes(transcript[:cut]), bytes(transcript[cut:]), b""):
            dialog.receive_data(chunk)
            if dialog.done:
                break
    except DialogError:
        pass
    else:
        assert dialog.done
