"""A server whose certificate OpenSSL accepts but X.509 parsing rejects: kept raw, flagged."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certcensus.lab import pki as lab_pki
from certcensus.model.chain import certificate_fingerprint

from .servers import free_port, require, running

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server


def _certificate_with_unparseable_validity(pki) -> tuple[bytes, bytes]:
    """A leaf whose notBefore is a UTCTime without seconds: legal BER, not RFC 5280 DER."""
    root = pki.root("Malformed Test Root", key_type="ec256")
    leaf = pki.leaf("malformed.test", root, key_type="ec256")
    elements = lab_pki._der_elements(lab_pki._der_content(leaf.certificate.tbs_certificate_bytes))
    elements[4] = lab_pki._der_sequence(b"\x17\x0b2601010000Z" + b"\x17\x0b3001010000Z")
    tbs = lab_pki._der_sequence(b"".join(elements))
    signature = root.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    algorithm = lab_pki._der_elements(lab_pki._der_content(leaf.der))[1]
    bit_string = b"\x03" + lab_pki._der_length(len(signature) + 1) + b"\x00" + signature
    return lab_pki._der_sequence(tbs + algorithm + bit_string), leaf.key_pem


def test_unparseable_certificate_is_recorded_raw_and_flagged(cli, db, pki, tmp_path):
    openssl = require("openssl")
    der, key_pem = _certificate_with_unparseable_validity(pki)
    body = base64.encodebytes(der).decode()
    (tmp_path / "leaf.pem").write_text(
        f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    )
    (tmp_path / "leaf.key").write_bytes(key_pem)
    port = free_port()
    command = [
        openssl,
        "s_server",
        "-accept",
        f"127.0.0.1:{port}",
        "-cert",
        "leaf.pem",
        "-key",
        "leaf.key",
        "-quiet",
        "-no_ticket",
    ]
    with running(command, port, cwd=tmp_path):
        result = cli(
            "scan",
            f"127.0.0.1:{port}",
            "--count",
            2,
            "--rate",
            "0",
            "--concurrency",
            1,
            "--db",
            db,
            "--json",
        )
    (target,) = result.json["targets"]
    assert target["ok"] == 2
    (certificate,) = target["chains"][0]["certificates"]
    assert certificate["sha256"] == certificate_fingerprint(der)
    assert certificate["parse_error"].startswith("does not parse as X.509")
    assert base64.b64decode("".join(certificate["pem"].splitlines()[1:-1])) == der
    text = cli("report", "--db", db)
    assert "does not parse as X.509" in text.out
