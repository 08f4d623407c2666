import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, ber, check_transcript, ldap_extended_response, run

# RFC 4511 section 4.14.1 ExtendedRequest, messageID 1, requestName 1.3.6.1.4.1.1466.20037,
# as ldapsearch -ZZ sends it.
START_TLS_REQUEST = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"
START_TLS_OID = b"1.3.6.1.4.1.1466.20037"

TRANSCRIPTS = [
    Transcript("success", "ldap", ldap_extended_response(1, 0), START_TLS_REQUEST),
    Transcript(
        "success-with-name",
        "ldap",
        ldap_extended_response(1, 0, b"", START_TLS_OID),
        START_TLS_REQUEST,
    ),
    # BER allows long-form lengths where short would do (RFC 4511 5.1 only forbids indefinite).
    Transcript(
        "long-form-lengths",
        "ldap",
        bytes.fromhex("3084000000100201017884000000070a0100040004 00".replace(" ", "")),
        START_TLS_REQUEST,
    ),
    # RFC 4511 section 4.12: an unrecognised extended operation gets protocolError.
    Transcript(
        "not-recognised",
        "ldap",
        ldap_extended_response(1, 2, b"unsupported extended operation"),
        START_TLS_REQUEST,
        Outcome.STARTTLS_UNSUPPORTED,
        "resultCode 2 (protocolError): unsupported extended operation",
    ),
    Transcript(
        "no-certificate",
        "ldap",
        ldap_extended_response(1, 52, b"Could not initialize TLS"),
        START_TLS_REQUEST,
        Outcome.STARTTLS_UNSUPPORTED,
        "resultCode 52 (unavailable): Could not initialize TLS",
    ),
    Transcript(
        "refused",
        "ldap",
        ldap_extended_response(1, 1, b"TLS already started"),
        START_TLS_REQUEST,
        Outcome.STARTTLS_REFUSED,
        "resultCode 1 (operationsError): TLS already started",
    ),
    Transcript(
        "busy",
        "ldap",
        ldap_extended_response(1, 51, b"too many operations"),
        START_TLS_REQUEST,
        Outcome.BUSY,
        "resultCode 51 (busy): too many operations",
    ),
    # RFC 4511 section 4.4.1: Notice of Disconnection, messageID 0.
    Transcript(
        "notice-of-disconnection",
        "ldap",
        ldap_extended_response(0, 52, b"server shutting down", b"1.3.6.1.4.1.1466.20036"),
        START_TLS_REQUEST,
        Outcome.BUSY,
        "notice of disconnection: resultCode 52 (unavailable): server shutting down",
    ),
]


def test_long_form_transcript_is_what_it_claims():
    # messageID 1, ExtendedResponse { success, "", "" } with 4-byte lengths on both SEQUENCEs.
    body = bytes.fromhex("0a0100") + bytes.fromhex("0400") + bytes.fromhex("0400")
    op = bytes.fromhex("7884") + len(body).to_bytes(4, "big") + body
    message = bytes.fromhex("020101") + op
    assert (
        TRANSCRIPTS[2].server == bytes.fromhex("3084") + len(message).to_bytes(4, "big") + message
    )


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [
        bytes.fromhex("3080"),  # indefinite length
        bytes.fromhex("3085ffffffffff"),  # length of five octets
        bytes.fromhex("3f01"),  # high tag number
        ldap_extended_response(2, 0),  # a reply to a message we never sent
        ber(
            0x30,
            ber(0x02, b"\x01") + ber(0x61, ber(0x0A, b"\x00") + ber(0x04, b"") + ber(0x04, b"")),
        ),
        ber(0x31, b""),
        ber(0x30, ber(0x02, b"\x01") + ber(0x78, ber(0x0A, b"\x00"))),  # LDAPResult cut short
        ber(0x30, ber(0x02, b"\x01") + bytes.fromhex("7805") + ber(0x0A, b"\x00")),  # overrun
        b"HTTP/1.1 400 Bad Request\r\n",
    ],
)
def test_broken_ber_is_a_protocol_error(server):
    with pytest.raises(DialogError):
        run("ldap", [server])
