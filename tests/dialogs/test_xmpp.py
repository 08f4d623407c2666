import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs import DialogOptions
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, run

CLIENT_HEADER = (
    b"<?xml version='1.0'?><stream:stream to='example.com' version='1.0' xmlns='jabber:client'"
    b" xmlns:stream='http://etherx.jabber.org/streams'>"
)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
# RFC 6120 section 9.1.1 and 9.1.2 (server side of the TLS example).
SERVER_HEADER = (
    b"<?xml version='1.0'?>"
    b"<stream:stream from='example.com' id='t7AMCin9zjMNwQKDnplntZPIDEI='"
    b" to='juliet@im.example.com' version='1.0' xml:lang='en'"
    b" xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)
FEATURES = (
    b"<stream:features>"
    b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    b"</stream:features>"
)
PROCEED = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"

TRANSCRIPTS = [
    Transcript("rfc", "xmpp", SERVER_HEADER + FEATURES + PROCEED, CLIENT_HEADER + STARTTLS),
    Transcript(
        "prefixed-and-chatty",
        "xmpp",
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'"
        b" id='1'>\n  <s:features>\n"
        b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
        b"<tls:starttls xmlns:tls='urn:ietf:params:xml:ns:xmpp-tls'/>"
        b"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='x' ver='a&amp;b'/>"
        b"</s:features>\n"
        b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'></proceed>",
        CLIENT_HEADER + STARTTLS,
    ),
    Transcript(
        "not-offered",
        "xmpp",
        SERVER_HEADER + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        b"<mechanism>PLAIN</mechanism></mechanisms>"
        b"<starttls xmlns='urn:example:not-tls'/></stream:features>",
        CLIENT_HEADER,
        Outcome.STARTTLS_UNSUPPORTED,
        "starttls not in stream features: mechanisms, starttls",
    ),
    # RFC 6120 section 5.4.2.2.
    Transcript(
        "failure",
        "xmpp",
        SERVER_HEADER + FEATURES + b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        CLIENT_HEADER + STARTTLS,
        Outcome.STARTTLS_REFUSED,
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    ),
    # RFC 6120 section 4.9.3.6.
    Transcript(
        "stream-error",
        "xmpp",
        SERVER_HEADER + b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>no such domain</text>"
        b"</stream:error>",
        CLIENT_HEADER,
        Outcome.STARTTLS_REFUSED,
        "stream error: host-unknown: no such domain",
    ),
    # RFC 6120 section 4.7.5: no version attribute, no stream features.
    Transcript(
        "pre-1.0-stream",
        "xmpp",
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x'>",
        CLIENT_HEADER,
        Outcome.STARTTLS_UNSUPPORTED,
        "stream version 0.9",
    ),
    Transcript(
        "server-to-server",
        "xmpp-server",
        SERVER_HEADER.replace(b"jabber:client", b"jabber:server") + FEATURES + PROCEED,
        CLIENT_HEADER.replace(b"jabber:client", b"jabber:server") + STARTTLS,
    ),
    Transcript(
        "xmpp-domain-option",
        "xmpp",
        SERVER_HEADER + FEATURES + PROCEED,
        CLIENT_HEADER.replace(b"example.com", b"chat.example.org &amp; co") + STARTTLS,
        options=DialogOptions(
            host="xmpp.example.com", values={"xmpp_domain": "chat.example.org & co"}
        ),
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [
        b"<html><body>hi</body></html>",  # not a stream
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'></stream:stream>",
        SERVER_HEADER + b"<!-- hello -->",  # RFC 6120 11.1: no comments
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>" + SERVER_HEADER,  # no DTDs
        SERVER_HEADER + b"<?pi data?>",  # no processing instructions
        SERVER_HEADER + b"<stream:features>&undefined;</stream:features>",
        SERVER_HEADER + b"<x:features>",  # unbound prefix
        SERVER_HEADER + b"<a>" * 20,  # deeper than any XMPP
        SERVER_HEADER + b"</stream:features>",  # mismatched end tag
    ],
)
def test_broken_or_forbidden_xml_is_a_protocol_error(server):
    with pytest.raises(DialogError):
        run("xmpp", [server])


@pytest.mark.parametrize("after", [b" ", b"<iq/>", b"<x", b"\x16\x03\x01"])
def test_anything_after_proceed_is_an_injection(after):
    with pytest.raises(DialogError):
        run("xmpp", [SERVER_HEADER + FEATURES + PROCEED + after])


def test_proceed_before_we_asked_is_not_taken():
    # <proceed/> must answer our <starttls/>; sent with the features it is ignored, not obeyed.
    sent, dialog = run("xmpp", [SERVER_HEADER + PROCEED])
    assert sent == CLIENT_HEADER and not dialog.done


def test_declared_unknown_encoding_is_not_a_crash():
    """Found by hypothesis: expat looked the declared encoding up and raised LookupError."""
    from certcensus.probe.dialogs import DIALOGS, DialogError, DialogOptions

    dialog = DIALOGS["xmpp"](DialogOptions(host="example.com"))
    dialog.initiate()
    try:
        dialog.receive_data(b"<?xml version='' encoding='U'?>")
    except DialogError:
        pass
