"""The chain-capture engine, bytes in and bytes out, against a scripted server (peer.py): each
real behaviour of RFC 8446 / RFC 5246 servers that the engine must handle, and each refusal."""

from __future__ import annotations

import dataclasses

import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.native import CaptureError, ChainCapture, codes
from certcensus.probe.native.clients import ALL_SPECS
from certcensus.probe.native.server_hello import DOWNGRADE_TO_TLS12

from .hello_parser import parse_client_hello_records
from .peer import Tls13Server, handshake, records, tls12_flight, u16, v16, v24

DEFAULT = ALL_SPECS["default"]


def feed(capture: ChainCapture, data: bytes, piece: int | None = None) -> bytes:
    """Give the engine `data`, in pieces of `piece` bytes (the socket's reads); what it sends."""
    out = b""
    step = piece or len(data) or 1
    for start in range(0, len(data), step):
        out += capture.receive_data(data[start : start + step])
    return out


def refused(capture: ChainCapture, data: bytes) -> CaptureError:
    with pytest.raises(CaptureError) as caught:
        feed(capture, data)
        capture.receive_data(b"")  # a server that stops short has closed
    return caught.value


# --- TLS 1.3 ------------------------------------------------------------------------------------


def test_tls13_chain_is_decrypted_and_recorded_in_wire_order(chain_ders):
    capture = ChainCapture(DEFAULT, "native.test")
    server = Tls13Server(chain_ders)
    assert feed(capture, server.respond(capture.initiate())) == b""
    assert capture.done
    result = capture.result
    assert result.certificates == tuple(chain_ders)
    assert (result.version_name, result.cipher_name) == ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
    assert result.server_hello.extension_types == (43, 51)  # as the server sent them
    assert result.encrypted_extension_types == ()
    assert result.hello_retry_request is None


@pytest.mark.parametrize("piece", [1, 3, 100])
@pytest.mark.parametrize("record_size", [1, 7, 700])
def test_messages_split_across_records_and_records_across_reads(chain_ders, piece, record_size):
    capture = ChainCapture(DEFAULT, "native.test")
    flight = Tls13Server(chain_ders, record_size=record_size).respond(capture.initiate())
    feed(capture, flight, piece)
    assert capture.result.certificates == tuple(chain_ders)


def test_certificate_request_and_middlebox_ccs_are_passed_over(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    feed(
        capture,
        Tls13Server(chain_ders, middlebox_ccs=2, certificate_request=True).respond(
            capture.initiate()
        ),
    )
    assert capture.result.certificates == tuple(chain_ders)
    assert capture.result.certificate_requested


def test_more_ccs_than_a_middlebox_shim_is_refused(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    error = refused(capture, Tls13Server(chain_ders, middlebox_ccs=3).respond(capture.initiate()))
    assert error.outcome is Outcome.HANDSHAKE_FAILED and "MAX_MIDDLEBOX_CCS" in error.detail


def test_ocsp_staple_and_scts_of_the_leaf_entry_are_recorded(chain_ders):
    ocsp, scts = b"\x30\x03\x0a\x01\x00", v16(v16(b"sct-bytes"))
    status = b"\x01" + v24(ocsp)
    server = Tls13Server(chain_ders, leaf_extensions=[(5, status), (18, scts)])
    capture = ChainCapture(ALL_SPECS["java-17"], "native.test")
    feed(capture, server.respond(capture.initiate()))
    assert capture.result.ocsp_response == ocsp
    assert capture.result.signed_certificate_timestamps == scts


def test_hello_retry_request_gets_a_second_hello_with_the_asked_group_and_cookie(chain_ders):
    capture = ChainCapture(DEFAULT, "native.test")
    first = capture.initiate()
    assert parse_client_hello_records(first).key_share_groups == (codes.X25519,)
    server = Tls13Server(chain_ders)
    second = feed(capture, server.respond(first, retry_group=codes.SECP256R1, cookie=b"c00kie"))
    retried = parse_client_hello_records(second)
    assert retried.key_share_groups == (codes.SECP256R1,)
    assert retried.extension(codes.EXT_COOKIE) == v16(b"c00kie")
    # RFC 8446 section 4.1.2: the same random and session id as the first hello.
    assert (
        second[11:43] == first[11:43]
        and retried.session_id == parse_client_hello_records(first).session_id
    )
    feed(capture, server.respond(second))
    assert capture.result.certificates == tuple(chain_ders)
    assert capture.result.hello_retry_request.extension_types == (43, 51, 44)


def test_second_hello_retry_request_is_refused(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    server = Tls13Server(chain_ders)
    second = feed(capture, server.respond(capture.initiate(), retry_group=codes.SECP256R1))
    error = refused(capture, server.respond(second, retry_group=codes.SECP384R1))
    assert "second HelloRetryRequest" in error.detail


def test_hello_retry_request_for_a_group_already_shared_is_refused(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    error = refused(
        capture, Tls13Server(chain_ders).respond(capture.initiate(), retry_group=codes.X25519)
    )
    assert "illegal parameter" in error.detail


@pytest.mark.parametrize("algorithm", [codes.COMPRESSION_ZLIB, codes.COMPRESSION_BROTLI])
def test_compressed_certificate_is_inflated_when_offered(chain_ders, algorithm):
    if algorithm == codes.COMPRESSION_BROTLI:
        pytest.importorskip("brotli")
    spec = dataclasses.replace(
        DEFAULT,
        extensions=DEFAULT.extensions + (codes.EXT_COMPRESS_CERTIFICATE,),
        compress_certificate=(codes.COMPRESSION_ZLIB, codes.COMPRESSION_BROTLI),
    )
    capture = ChainCapture(spec, None)
    hello = capture.initiate()
    assert (
        parse_client_hello_records(hello).extension(codes.EXT_COMPRESS_CERTIFICATE)
        == b"\x04\x00\x01\x00\x02"
    )
    feed(capture, Tls13Server(chain_ders, compress=algorithm).respond(hello))
    assert capture.result.certificates == tuple(chain_ders)
    assert capture.result.certificate_compression == codes.COMPRESSION_NAMES[algorithm]


def test_compressed_certificate_not_offered_is_refused(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    error = refused(
        capture,
        Tls13Server(chain_ders, compress=codes.COMPRESSION_ZLIB).respond(capture.initiate()),
    )
    assert "did not offer" in error.detail


@pytest.mark.parametrize(
    "claimed, outcome, words",
    [
        (
            0xFFFFFF,
            Outcome.CHAIN_TOO_LARGE,
            "limit of 102400 bytes (100 KiB); OpenSSL-based clients refuse it too (this "
            "one: 16777215 bytes)",
        ),  # chain-too-large, as the OpenSSL engine says
        (1000, Outcome.HANDSHAKE_FAILED, "inflates to 1001 bytes, not the 1000 stated"),
    ],
)
def test_decompression_bomb_is_refused_without_inflating_it(chain_ders, claimed, outcome, words):
    import zlib

    spec = dataclasses.replace(
        DEFAULT,
        extensions=DEFAULT.extensions + (codes.EXT_COMPRESS_CERTIFICATE,),
        compress_certificate=(codes.COMPRESSION_ZLIB,),
    )
    bomb = zlib.compress(bytes(64 * 2**20))  # 64 MiB of zeros in ~64 KiB
    server = Tls13Server(chain_ders)
    server.certificate_message = lambda: handshake(
        25, u16(1) + claimed.to_bytes(3, "big") + v24(bomb)
    )
    capture = ChainCapture(spec, None)
    error = refused(capture, server.respond(capture.initiate()))
    assert error.outcome is outcome and words in error.detail


def test_protected_alert_is_a_tls_alert(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    error = refused(
        capture, Tls13Server(chain_ders, inner_alert=b"\x02\x2a").respond(capture.initiate())
    )
    assert (
        error.outcome is Outcome.TLS_ALERT
        and error.detail == "server sent TLS alert: bad certificate"
    )


def test_tampered_record_fails_to_decrypt(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    flight = bytearray(Tls13Server(chain_ders).respond(capture.initiate()))
    flight[-20] ^= 1
    error = refused(capture, bytes(flight))
    assert error.outcome is Outcome.HANDSHAKE_FAILED and "bad record mac" in error.detail


def test_legacy_session_id_must_be_echoed(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    hello = bytearray(capture.initiate())
    hello[44] ^= 0xFF  # the server sees (and echoes) a different session id
    error = refused(capture, Tls13Server(chain_ders).respond(bytes(hello)))
    assert "legacy_session_id" in error.detail


# --- TLS 1.2 and older ---------------------------------------------------------------------------


def test_tls12_certificate_is_read_in_clear(chain_ders):
    capture = ChainCapture(ALL_SPECS["tls1.2"], "native.test")
    capture.initiate()
    feed(capture, tls12_flight(chain_ders, server_extensions=[(0xFF01, b"\x00"), (23, b"")]))
    result = capture.result
    assert result.certificates == tuple(chain_ders)
    assert (result.version_name, result.cipher_name) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    assert result.server_hello.extension_types == (0xFF01, 23)


@pytest.mark.parametrize("version, name", [(0x0301, "TLSv1"), (0x0302, "TLSv1.1")])
def test_legacy_versions_are_spoken(chain_ders, version, name):
    capture = ChainCapture(ALL_SPECS["openssl-1.0.2"], None)
    hello = parse_client_hello_records(capture.initiate())
    assert hello.legacy_version == 0x0303 and hello.record_version == 0x0301
    feed(capture, tls12_flight(chain_ders, suite=0xC014, version=version))
    assert capture.result.version_name == name and capture.result.certificates == tuple(chain_ders)


def test_tls12_ocsp_staple_and_sct_extension_are_recorded(chain_ders):
    capture = ChainCapture(ALL_SPECS["android-7"], "native.test")
    capture.initiate()
    flight = tls12_flight(
        chain_ders, server_extensions=[(5, b""), (18, v16(b"scts"))], ocsp=b"\x30\x00"
    )
    feed(capture, flight, 5)
    assert capture.result.ocsp_response == b"\x30\x00"
    assert capture.result.signed_certificate_timestamps == v16(b"scts")


def test_acknowledged_stapling_without_certificate_status_still_ends(chain_ders):
    capture = ChainCapture(ALL_SPECS["android-7"], None)
    capture.initiate()
    feed(capture, tls12_flight(chain_ders, server_extensions=[(5, b"")]))
    assert capture.result.certificates == tuple(chain_ders) and capture.result.ocsp_response is None


def test_tls12_warning_alerts_are_ignored_up_to_the_limit(chain_ders):
    capture = ChainCapture(ALL_SPECS["tls1.2"], None)
    capture.initiate()
    warning = records(21, b"\x01\x70")  # unrecognized_name, warning: what old Apache sends
    feed(capture, warning + tls12_flight(chain_ders))
    assert capture.done
    capture = ChainCapture(ALL_SPECS["tls1.2"], None)
    capture.initiate()
    assert "MAX_WARNING_ALERTS" in refused(capture, warning * 6).detail


def test_downgrade_sentinel_is_refused(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    capture.initiate()
    error = refused(capture, tls12_flight(chain_ders, random=bytes(24) + DOWNGRADE_TO_TLS12))
    assert "downgrade" in error.detail


@pytest.mark.parametrize(
    "flight, words",
    [
        (dict(suite=0x1301), "cipher suite 0x1301"),
        (dict(suite=0x0005), "cipher suite 0x0005"),
        (dict(version=0x0300), "SSLv3, which we did not offer"),
        (dict(server_extensions=[(16, b"\x00\x03\x02h2")]), "extension 16"),
    ],
)
def test_server_hello_choices_we_did_not_offer_are_refused(chain_ders, flight, words):
    capture = ChainCapture(ALL_SPECS["tls1.2"], None)
    capture.initiate()
    assert words in refused(capture, tls12_flight(chain_ders, **flight)).detail


def test_abbreviated_handshake_is_refused(chain_ders):
    capture = ChainCapture(ALL_SPECS["tls1.2"], None)
    capture.initiate()
    flight = tls12_flight(chain_ders)
    hello_record = flight[: 5 + int.from_bytes(flight[3:5], "big")]
    hello_only = records(22, hello_record[5:][: 4 + int.from_bytes(hello_record[6:9], "big")])
    assert "ChangeCipherSpec" in refused(capture, hello_only + records(20, b"\x01")).detail


# --- not TLS, alerts, closes, limits -------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, outcome, words",
    [
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            Outcome.NOT_TLS,
            "server sent 'HTTP/1.1 400 Bad Request\\r\\n\\r\\n' instead of TLS",  # bytes, escaped
        ),
        (b"\x80\x03\x00\x00\x01", Outcome.NOT_TLS, "SSLv2 error (no cipher)"),
        (
            b"\x15\x03\x03\x00\x02\x02\x28",
            Outcome.TLS_ALERT,
            "server sent TLS alert: handshake failure",
        ),
        (
            b"\x15\x03\x01\x00\x02\x02\x46",
            Outcome.TLS_ALERT,
            "server sent TLS alert: protocol version",
        ),
        (
            b"\x15\x03\x03\x00\x02\x01\x00",
            Outcome.CLOSED,
            "server closed the connection during handshake",
        ),
        (b"", Outcome.CLOSED, "server closed the connection during handshake"),
        (b"\x16\x03\x03\x00", Outcome.CLOSED, "server closed the connection during handshake"),
        (b"\x16\x03\x03\x40\x01" + bytes(0x4001), Outcome.HANDSHAKE_FAILED, "record overflow"),
        (
            b"\x16\x03\x03\x00\x04\x0b\x00\x00\x00",
            Outcome.HANDSHAKE_FAILED,
            "Certificate while waiting for ServerHello",
        ),
        (
            b"\x16\x03\x03\x00\x04\x02\x00\x00\x02" + records(22, b"\x00\x00"),
            Outcome.HANDSHAKE_FAILED,
            "malformed ServerHello",
        ),
    ],
)
def test_what_is_not_a_certificate_is_classified(reply, outcome, words):
    capture = ChainCapture(DEFAULT, None)
    capture.initiate()
    error = refused(capture, reply)
    assert error.outcome is outcome
    assert words in error.detail


def test_oversized_certificate_message_is_refused_at_its_header():
    capture = ChainCapture(ALL_SPECS["tls1.2"], None)
    capture.initiate()
    flight = tls12_flight([b"x"])
    hello_end = 5 + 4 + int.from_bytes(flight[6:9], "big")
    huge = records(22, b"\x0b" + (200 * 1024).to_bytes(3, "big"))
    error = refused(capture, records(22, flight[5:hello_end]) + huge)
    assert error.outcome is Outcome.CHAIN_TOO_LARGE  # as the OpenSSL engine classifies it
    assert "limit of 102400 bytes" in error.detail and "(this one: 204800 bytes)" in error.detail


def test_empty_records_are_bounded():
    capture = ChainCapture(DEFAULT, None)
    capture.initiate()
    assert "MAX_EMPTY_RECORDS" in refused(capture, b"\x16\x03\x03\x00\x00" * 40).detail


def test_data_after_the_certificate_is_not_read(chain_ders):
    capture = ChainCapture(DEFAULT, None)
    feed(
        capture,
        Tls13Server(chain_ders, after_certificate=b"garbage that is never parsed").respond(
            capture.initiate()
        ),
    )
    assert capture.receive_data(b"\x00\xff junk") == b""


# --- the ClientHello ----------------------------------------------------------------------------


def test_client_hello_names_the_server_and_pads_like_openssl():
    with_name = parse_client_hello_records(ChainCapture(DEFAULT, "mail.example.com").initiate())
    assert with_name.server_name == "mail.example.com"
    without = parse_client_hello_records(ChainCapture(DEFAULT, None).initiate())
    assert without.server_name is None and 0 not in without.extension_types
    # RFC 7685 as OpenSSL applies it: a hello of 256-511 bytes is padded to 512.
    hello = ChainCapture(DEFAULT, "x.test").initiate()
    assert len(hello) - 5 == 512 and with_name.extension_types[-1] == codes.EXT_PADDING


def test_tls12_only_profiles_send_no_tls13_extensions():
    hello = parse_client_hello_records(
        ChainCapture(ALL_SPECS["windows-schannel"], "w.test").initiate()
    )
    assert hello.versions == () and hello.key_share_groups == ()
    assert hello.extension_types == (0, 5, 10, 11, 13, 35, 23, 0xFF01)
    assert hello.session_id == b""


@pytest.mark.parametrize("profile", sorted(ALL_SPECS))
@pytest.mark.parametrize(
    "name", [None, "a.example", "a-much-longer-name.of.some.server.example.com"]
)
def test_the_cached_hello_is_the_hello_built_afresh(profile, name):
    from certcensus.probe.native.hello import _build, client_hello

    spec = ALL_SPECS[profile]
    shares = (
        {
            group: bytes([group]) * (32 if group == codes.X25519 else 65)
            for group in spec.key_share_groups
        }
        if spec.offers_tls13
        else {}
    )
    random, session_id = bytes(range(32)), bytes(range(100, 132))[: 32 if spec.session_id else 0]
    assert (
        client_hello(spec, random, session_id, name, shares)
        == _build(spec, random, session_id, name, shares, None)[0]
    )
