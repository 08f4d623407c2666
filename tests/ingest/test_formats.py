"""Every format by content (not extension), and bad input listed with a reason, never a crash."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from certcensus.ingest.files import read_capture_file
from certcensus.ingest.filetime import time_from_file_name
from certcensus.ingest.pipeline import ingest_paths


def test_pem_bundle_der_and_pkcs7_by_content(tmp_path, two_chains):
    chain = two_chains.chain_a
    ders = tuple(c.der for c in chain)
    certificates = [c.certificate for c in chain]
    files = {
        "bundle.der": b"subject=whatever\n" + b"".join(c.pem for c in chain),  # PEM named .der
        "leaf.pem": two_chains.leaf.der,  # DER named .pem
        "chain.p7b": pkcs7.serialize_certificates(certificates, Encoding.DER),
        "chain.txt": pkcs7.serialize_certificates(certificates, Encoding.PEM),
        "bare-base64": base64.b64encode(two_chains.leaf.der),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    found = {os.path.basename(p): c for p, c in _read_all(tmp_path).items()}
    assert found["bundle.der"].chain == ders and found["bundle.der"].format == "pem"
    assert found["leaf.pem"].chain == ders[:1] and found["leaf.pem"].format == "der"
    assert set(found["chain.p7b"].chain) == set(ders) and found["chain.p7b"].format == "pkcs7"
    assert set(found["chain.txt"].chain) == set(ders)
    assert found["bare-base64"].chain == ders[:1]


def _read_all(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        [capture] = read_capture_file(open(path, "rb").read(), path)
        out[path] = capture
    return out


def test_bad_files_are_listed_with_a_reason_and_the_rest_ingested(tmp_path, two_chains):
    good = tmp_path / "good.pem"
    good.write_bytes(two_chains.leaf.pem)
    truncated = two_chains.leaf.pem.decode().split("\n")
    bad = {
        "empty.txt": b"",
        "blank.txt": b"\n  \n",
        "junk.bin": bytes(range(256)) * 8,
        "truncated.pem": "\n".join(truncated[:8]).encode(),
        "not-a-cert.pem": b"-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(b"\x30\x03\x02\x01\x05" + b"hello" * 20)
        + b"-----END CERTIFICATE-----\n",
        "base64-of-text": base64.b64encode(
            b"this is not a certificate at all, only some words" * 3
        ),
        "key-only.pem": two_chains.leaf.key_pem,
        "big.pem": two_chains.leaf.pem + b"#" * 5000,
        "notes.txt": b"nothing to see here\n",
        "failed-s_client.txt": b"CONNECTED(00000003)\n---\nno peer certificate available\n---\n"
        b"4017:error:0A000126:SSL routines::unexpected eof while reading\n",
        "census.json": b'{"not": "a census"}',
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "dangling").symlink_to(tmp_path / "missing-target")
    os.mkfifo(tmp_path / "fifo")
    result = ingest_paths([tmp_path], None, max_file_size=4096)
    reasons = {os.path.basename(p.path): p.reason for p in result.problems}
    assert reasons == {
        "empty.txt": "empty",
        "blank.txt": "empty",
        "junk.bin": "unknown-format",
        "truncated.pem": "truncated-pem",
        "not-a-cert.pem": "not-a-certificate",
        "base64-of-text": "not-a-certificate",
        "key-only.pem": "no-certificate",
        "big.pem": "too-large",
        "notes.txt": "unknown-format",
        "failed-s_client.txt": "no-certificate",
        "census.json": "bad-json",
        "dangling": "unreadable",
        "fifo": "not-a-file",
    }
    assert [c.path for c in result.captures] == [str(good)]
    assert all(p.detail or p.reason in ("empty", "not-a-file") for p in result.problems)


def test_symlink_loops_end_and_files_reached_twice_are_read_once(tmp_path, two_chains):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (inner / "leaf.pem").write_bytes(two_chains.leaf.pem)
    (inner / "loop").symlink_to(tmp_path / "a")
    (tmp_path / "alias.pem").symlink_to(inner / "leaf.pem")
    result = ingest_paths([tmp_path, tmp_path / "a"], None)
    assert len(result.captures) == 1
    assert sorted((p.reason, os.path.basename(p.path)) for p in result.problems) == [
        ("directory-cycle", "loop"),  # a/b/loop -> a
        ("duplicate", "a"),  # the folder given again
        ("duplicate", "alias.pem"),  # the file reached again through a symlink
    ]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("20161213170505.497000-360certfile.txt", "2016-12-13T23:05:05.497000+00:00"),
        ("capture-20240301T101500Z.txt", "2024-03-01T10:15:00+00:00"),
        ("2024-03-01_10-15-00.pem", "2024-03-01T10:15:00+00:00"),
        ("20241399999999.000000+000x.txt", None),
        ("server.pem", None),
    ],
)
def test_time_from_file_name(name, expected):
    seconds = time_from_file_name(name)
    if expected is None:
        assert seconds is None
    else:
        assert dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat() == expected


def test_observation_time_falls_back_from_start_time_to_name_to_mtime(tmp_path, two_chains):
    named = tmp_path / "20161213170505.497000-360certfile.txt"
    named.write_bytes(two_chains.leaf.pem)
    plain = tmp_path / "plain.pem"
    plain.write_bytes(two_chains.leaf.pem)
    os.utime(plain, (1_500_000_000, 1_500_000_000))
    from certcensus.store import open_store

    with open_store(tmp_path / "db.sqlite") as store:
        ingest_paths([named, plain], store, target="t:1")
        times = {p.source: p.started_at for p in store.probes("t:1")}
    assert times == {str(named): pytest.approx(1481670305.497), str(plain): 1_500_000_000}
