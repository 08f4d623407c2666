import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, rdp_negotiation, run, x224_confirm

# [MS-RDPBCGR] 4.1.1 without the cookie: TPKT, X.224 CR, RDP_NEG_REQ for SSL|HYBRID.
CONNECTION_REQUEST = bytes.fromhex(
    "0300 0013 0ee0 0000 0000 00 01 00 0800 03000000".replace(" ", "")
)
NEG_RSP, NEG_FAILURE = 2, 3

TRANSCRIPTS = [
    Transcript("ssl", "rdp", x224_confirm(rdp_negotiation(NEG_RSP, 1)), CONNECTION_REQUEST),
    # [MS-RDPBCGR] 4.1.2: the server selects CredSSP (HYBRID), which starts with TLS.
    Transcript(
        "hybrid", "rdp", bytes.fromhex("030000130ed000001234000200080002000000"), CONNECTION_REQUEST
    ),
    Transcript(
        "certificate-missing",
        "rdp",
        x224_confirm(rdp_negotiation(NEG_FAILURE, 3)),
        CONNECTION_REQUEST,
        Outcome.STARTTLS_REFUSED,
        "RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER",
    ),
    Transcript(
        "standard-security-only",
        "rdp",
        x224_confirm(rdp_negotiation(NEG_FAILURE, 2)),
        CONNECTION_REQUEST,
        Outcome.STARTTLS_UNSUPPORTED,
        "RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER",
    ),
    Transcript(
        "pre-5.2-server",
        "rdp",
        x224_confirm(b""),
        CONNECTION_REQUEST,
        Outcome.STARTTLS_UNSUPPORTED,
        "no RDP_NEG_RSP",
    ),
    Transcript(
        "rdp-selected",
        "rdp",
        x224_confirm(rdp_negotiation(NEG_RSP, 0)),
        CONNECTION_REQUEST,
        Outcome.STARTTLS_UNSUPPORTED,
        "selected Standard RDP Security",
    ),
    Transcript(
        "disconnect",
        "rdp",
        bytes.fromhex("030000 0b 06 80 0000 0000 00".replace(" ", "")),
        CONNECTION_REQUEST,
        Outcome.STARTTLS_REFUSED,
        "X.224 Disconnect Request",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [
        b"SSH-2.0-x\r\n",  # not TPKT
        bytes.fromhex("03000005ff"),  # TPKT too short for X.224
        x224_confirm(rdp_negotiation(NEG_RSP, 4)),  # RDSTLS: we did not offer it
        x224_confirm(rdp_negotiation(9, 1)),  # unknown negotiation type
        x224_confirm(b"\x02\x00\x08\x00\x01"),  # negotiation data cut short
        bytes.fromhex("0300000b06e00000000000"),  # a Connection Request back at us
    ],
)
def test_broken_confirms_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("rdp", [server])
