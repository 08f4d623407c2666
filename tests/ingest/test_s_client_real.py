"""The s_client parser on output of the real `openssl s_client` against a real `s_server`."""

from __future__ import annotations

import pytest

from certcensus.ingest.files import detect_format, read_capture_file
from certcensus.ingest.pipeline import ingest_paths
from certcensus.store import open_store

from .conftest import vary_capture

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server


def test_showcerts_gives_every_certificate_in_wire_order(real_captures, two_chains):
    [capture] = read_capture_file(real_captures.showcerts_a, "a.txt")
    assert detect_format(real_captures.showcerts_a) == "s_client"
    assert capture.chain == tuple(c.der for c in two_chains.chain_a)
    assert not capture.leaf_only
    assert capture.tls_version == "TLSv1.2"
    assert capture.cipher.startswith("ECDHE-ECDSA-")
    assert capture.started_at > 1_600_000_000
    assert capture.verify.startswith("19 ") or capture.verify.startswith(
        "0 "
    )  # self-signed root in chain
    assert [n.split(" ")[0] for n in capture.notes][:1] == ["depth=2"]


def test_tls13_capture_names_version_and_cipher_even_without_a_session_block(
    real_captures, two_chains
):
    [capture] = read_capture_file(real_captures.showcerts_b, "b.txt")
    assert capture.chain == tuple(c.der for c in two_chains.chain_b)
    assert (capture.tls_version, capture.cipher[:4]) == ("TLSv1.3", "TLS_")


def test_without_showcerts_only_the_leaf_is_recorded_as_leaf_only(real_captures, two_chains):
    [capture] = read_capture_file(real_captures.leaf_only_a, "plain.txt")
    assert capture.chain == (two_chains.leaf.der,)
    assert capture.leaf_only


def test_stdout_only_capture_without_depth_lines(real_captures, two_chains):
    [capture] = read_capture_file(real_captures.stdout_only_a, "stdout.txt")
    assert capture.chain == tuple(c.der for c in two_chains.chain_a)
    assert capture.notes == ()


def test_a_loop_of_runs_appended_to_one_file_gives_one_capture_per_run(real_captures, two_chains):
    data = real_captures.showcerts_a + real_captures.showcerts_b + real_captures.leaf_only_a
    captures = read_capture_file(data, "loop.txt")
    assert [c.chain for c in captures] == [
        tuple(c.der for c in two_chains.chain_a),
        tuple(c.der for c in two_chains.chain_b),
        (two_chains.leaf.der,),
    ]
    assert [c.leaf_only for c in captures] == [False, False, True]


def test_echoed_command_line_names_target_protocol_and_sni(real_captures):
    data = b"$ openssl s_client -connect mail.example.com:25 -starttls smtp -servername mx.example.com -showcerts\n"
    [capture] = read_capture_file(data + real_captures.showcerts_a, "x.txt")
    assert (capture.target, capture.host, capture.port) == (
        "mail.example.com:25",
        "mail.example.com",
        25,
    )
    assert capture.protocol == "smtp"
    assert capture.sni == "mx.example.com"


def test_ingested_s_client_files_become_observations(tmp_path, real_captures, two_chains):
    folder = tmp_path / "backend-pool"
    folder.mkdir()
    (folder / "one.txt").write_bytes(vary_capture(real_captures.showcerts_a, 1))
    (folder / "two.log").write_bytes(vary_capture(real_captures.leaf_only_a, 2))
    with open_store(tmp_path / "db.sqlite") as store:
        result = ingest_paths([folder], store)
        probes = list(store.probes("backend-pool"))
    assert result.files_read == 2 and not result.problems
    assert [p.started_at for p in probes] == [1_700_000_001, 1_700_000_002]
    full, leaf = probes
    assert full.source == str(folder / "one.txt") and full.outcome == "ok"
    assert full.protocol == "unknown" and full.address == ""
    assert full.tls_version == "TLSv1.2"
    assert leaf.leaf_only


def test_a_capture_cut_off_inside_the_chain_is_refused_not_counted_as_a_shorter_chain(
    real_captures,
):
    import pytest

    from certcensus.ingest.capture import UnusableFile

    data = real_captures.showcerts_a
    first_end = data.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----\n")
    for cut in (first_end, data.index(b" 1 s:") + 40, data.index(b"-----BEGIN", first_end) + 200):
        with pytest.raises(UnusableFile) as refused:
            read_capture_file(data[:cut], "cut.txt")
        assert refused.value.reason == "truncated-pem"
