"""A real TLS server (openssl s_server) serves a leaf with each malformed extension (and a chain
whose CA has a key `cryptography` refuses); every command completes with classified verdicts.

What a user checks: scan, trust, export, report (JSON and HTML), watch and check all finish
with their usual exit statuses, each chain's verdict names a reason, the lenient verdict is what
`openssl verify` says, and the chain issues name the malformation.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import serialization

from certcensus.certs.info import pem_of
from certcensus.lab import forge as F
from certcensus.trust import Reason

from ..servers import free_port, require, running
from .trust_helpers import openssl_verifies_pems

pytestmark = pytest.mark.server

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
# For each defect: what OpenSSL (and so the lenient verdict) makes of a chain carrying it.
CASES = {
    "duplicate-san": Reason.MALFORMED_CERTIFICATE,
    "san-bad-tag": Reason.MALFORMED_CERTIFICATE,
    "empty-eku": Reason.WRONG_PURPOSE,  # OpenSSL reads it: a leaf for no purpose at all
    "bad-ip-name-constraint": Reason.TRUSTED,  # a leaf's own constraints apply to nothing
    "bad-aia": Reason.TRUSTED,  # OpenSSL does not read AIA while verifying
    "aki-issuer-without-serial": Reason.TRUSTED,
    "explicit-v1": Reason.TRUSTED,
    "ca-key-exponent-1": Reason.TRUSTED,  # OpenSSL uses the key cryptography refuses
}
DETAIL = {
    "duplicate-san": "duplicate extension 2.5.29.17 (subjectAltName) in leaf",
    "san-bad-tag": "extension 2.5.29.17 (subjectAltName) does not decode in leaf",
}


def _pki(defect: str):
    root_key, ca_key, leaf_key = (
        F.ring_key("ec256", 5),
        F.ring_key("ec256", 6),
        F.ring_key("ec256", 7),
    )
    if defect == "ca-key-exponent-1":
        ca_key = F.ExponentOneKey(F.ring_key("rsa2048", 6))
    day = dt.timedelta(days=1)
    root_name, ca_name = F.name("Malformed Lab Root"), F.name("Malformed Lab CA")
    root = F.forge(F.Spec(root_name, root_name, root_key, root_key, 11, NOW - day, NOW + 900 * day))
    ca = F.forge(F.Spec(ca_name, root_name, ca_key, root_key, 12, NOW - day, NOW + 800 * day))
    leaf = F.forge(
        F.Spec(
            F.name("malformed.test"), ca_name, leaf_key, ca_key, 13, NOW - day, NOW + 90 * day,
            ca=None, sans=["malformed.test", "127.0.0.1"], eku=F.server_auth(),
            issuer_issuer=root_name, issuer_serial=12,
            malformations=[defect] if defect in F.MALFORMATIONS else [],
        )
    )  # fmt: skip
    return root, ca, leaf, leaf_key


@pytest.fixture(scope="module")
def openssl() -> str:
    return require("openssl")


@pytest.mark.parametrize("defect", list(CASES))
def test_every_command_completes_with_classified_verdicts(defect, openssl, cli, tmp_path):
    root, ca, leaf, leaf_key = _pki(defect)
    (tmp_path / "leaf.pem").write_text(pem_of(leaf))
    (tmp_path / "chain.pem").write_text(pem_of(ca))
    (tmp_path / "root.pem").write_text(pem_of(root))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    expected = CASES[defect]
    trusted_by_openssl = openssl_verifies_pems(
        tmp_path / "reference",
        [pem_of(root).encode()],
        [pem_of(leaf).encode(), pem_of(ca).encode()],
    )
    assert trusted_by_openssl is (expected == Reason.TRUSTED)
    db, cache = tmp_path / "census.sqlite", tmp_path / "cache"
    store = ["--trust-store", f"lab={tmp_path / 'root.pem'}", "--offline", "--cache-dir", cache]
    port = free_port()
    command = [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "leaf.pem",
               "-cert_chain", "chain.pem", "-key", "leaf.key", "-quiet", "-no_ticket"]  # fmt: skip
    with running(command, port, cwd=tmp_path):
        target = f"127.0.0.1:{port}"
        scan = cli("scan", target, "--starttls", "none", "--count", 3, "--rate", "0",
                   "--concurrency", 1, "--db", db, "--json", *store)  # fmt: skip
        check = cli("check", target, "--starttls", "none", "--count", 3, "--rate", "0",
                    "--trust-store", f"lab={tmp_path / 'root.pem'}")  # fmt: skip
        watch = cli("watch", target, "--starttls", "none", "--count", 2, "--rate", "0",
                    "--rounds", 1, "--every", "1s", "--db", tmp_path / "watch.sqlite",
                    "--trust-store", f"lab={tmp_path / 'root.pem'}", "-q")  # fmt: skip
    assert scan.code == 0, scan.err
    (target_json,) = scan.json["targets"]
    assert target_json["ok"] == 3
    (chain,) = target_json["chains"]
    verdict = chain["trust"]["lab"]
    assert verdict["lenient"]["trusted"] is trusted_by_openssl
    assert verdict["lenient"]["reason"] == str(expected)
    if defect in DETAIL:
        assert DETAIL[defect] in verdict["lenient"]["detail"]
    assert verdict["strict"]["trusted"] is False
    assert verdict["strict"]["reason"] == str(Reason.MALFORMED_CERTIFICATE)
    issues = chain["chain_issues"]["issues"]
    assert "malformed-certificate" in [i["kind"] for i in issues]

    trust = cli("trust", "--db", db, "--json", *store)
    assert trust.code == (0 if trusted_by_openssl else 1), trust.err
    table = cli("trust", "--db", db, *store)
    assert str(expected) in table.out or expected == Reason.TRUSTED

    export = cli("export", "--db", db, "--missing-from", "lab", "--format", "java",
                 "-o", tmp_path / "kit", *store)  # fmt: skip
    assert export.code in (0, 1), export.err
    assert "Traceback" not in export.out + export.err

    report = cli("report", "--db", db, "--json", *store)
    assert report.code == 0
    assert report.json["targets"][0]["chains"][0]["trust"]["lab"]["lenient"]["reason"] == str(
        expected
    )
    html = cli("report", "--db", db, "--format", "html", "-o", tmp_path / "r.html", *store)
    assert html.code == 0, html.err
    assert "malformed-certificate" in (tmp_path / "r.html").read_text()
    text = cli("report", "--db", db, *store)
    assert "chain issue: malformed-certificate" in text.out

    assert "internal error" not in check.out
    assert check.code == (0 if trusted_by_openssl else 2), check.out
    if not trusted_by_openssl:
        assert check.out.startswith("CERTCENSUS CRITICAL") and "untrusted by lab" in check.out
    assert watch.code == 0, watch.err
    document = json.dumps(report.json)
    assert "Traceback" not in document
