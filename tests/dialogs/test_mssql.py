import struct

import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, prelogin_response, run, tds_packet

ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0, 1, 2, 3
# [MS-TDS] 4.1 style PRELOGIN: header (type 0x12, EOM, length 47, SPID 0, PacketID 1, Window 0),
# tokens VERSION(0x1a,6) ENCRYPTION(0x20,1)=ON INSTOPT(0x21,1) THREADID(0x22,4) MARS(0x26,1).
PRELOGIN = bytes.fromhex(
    "1201002f0000010000001a00060100200001020021000103002200040400260001ff00000000000001000000000000"
)

TRANSCRIPTS = [
    Transcript("encrypt-on", "mssql", tds_packet(0x04, prelogin_response(ENCRYPT_ON)), PRELOGIN),
    Transcript(
        "encrypt-required", "mssql", tds_packet(0x04, prelogin_response(ENCRYPT_REQ)), PRELOGIN
    ),
    # ENCRYPT_OFF from the server: TLS still protects the login, so the handshake still happens.
    Transcript("encrypt-off", "mssql", tds_packet(0x04, prelogin_response(ENCRYPT_OFF)), PRELOGIN),
    Transcript(
        "response-in-two-packets",
        "mssql",
        tds_packet(0x04, prelogin_response(ENCRYPT_ON)[:10], last=False)
        + tds_packet(0x04, prelogin_response(ENCRYPT_ON)[10:], packet_id=2),
        PRELOGIN,
    ),
    Transcript(
        "not-supported",
        "mssql",
        tds_packet(0x04, prelogin_response(ENCRYPT_NOT_SUP)),
        PRELOGIN,
        Outcome.STARTTLS_UNSUPPORTED,
        "PRELOGIN ENCRYPTION=ENCRYPT_NOT_SUP",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [
        tds_packet(0x12, prelogin_response(ENCRYPT_ON)),  # wrong packet type
        tds_packet(0x04, b"\x00\x00\x10\x00\x06"),  # no terminator
        tds_packet(0x04, b"\x00\x00\xff\x00\x06\xff"),  # option points past the message
        tds_packet(0x04, b"\x00\x00\x06\x00\x00\xff"),  # no ENCRYPTION option
        tds_packet(0x04, b"\x01\x00\x06\x00\x01\xff\x07"),  # ENCRYPTION value 7
        struct.pack("!BBHHBB", 4, 1, 4, 0, 1, 0),  # length shorter than the header
    ],
)
def test_broken_prelogin_responses_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("mssql", [server])


def ready_dialog():
    sent, dialog = run("mssql", [tds_packet(0x04, prelogin_response(ENCRYPT_ON))])
    assert dialog.ready
    return dialog


def test_wrap_tls_puts_records_in_prelogin_packets():
    dialog = ready_dialog()
    records = bytes(range(256)) * 20  # 5120 bytes: more than one 4096-byte packet
    wire = dialog.wrap_tls(records)
    first, second = wire[:4096], wire[4096:]
    assert struct.unpack("!BBHHBB", first[:8]) == (0x12, 0, 4096, 0, 2, 0)
    assert struct.unpack("!BBHHBB", second[:8]) == (0x12, 1, 8 + 5120 - 4088, 0, 3, 0)
    assert first[8:] + second[8:] == records
    # Packet ids go on from where the last call stopped.
    assert struct.unpack("!BBHHBB", dialog.wrap_tls(b"x")[:8]) == (0x12, 1, 9, 0, 4, 0)
    assert dialog.wrap_tls(b"") == b""


def test_unwrap_tls_reassembles_across_every_split():
    records = b"\x16\x03\x03" + bytes(range(200)) + b"\x14\x03\x03\x00\x01\x01"
    wire = tds_packet(0x12, records[:100], last=False) + tds_packet(
        0x12, records[100:], packet_id=2
    )
    for cut in range(len(wire) + 1):
        dialog = ready_dialog()
        assert dialog.unwrap_tls(wire[:cut]) + dialog.unwrap_tls(wire[cut:]) == records
    dialog = ready_dialog()
    assert b"".join(dialog.unwrap_tls(wire[i : i + 1]) for i in range(len(wire))) == records


def test_unwrap_tls_rejects_a_broken_packet_length():
    with pytest.raises(DialogError):
        ready_dialog().unwrap_tls(struct.pack("!BBHHBB", 0x12, 1, 3, 0, 1, 0))
