"""Trust stores load from every format clients use, and bad files fail in one clear line."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certcensus.trust import TrustStoreError, load_trust_store
from certcensus.trust.stores import parse_store_spec

KEYTOOL = "/usr/bin/keytool"


@pytest.fixture(scope="module")
def roots(pki):
    return [pki.root(f"Store Root {i}", key_type="ec256") for i in range(3)]


def _shas(store):
    return sorted(c.sha256 for c in store.certificates)


def test_pem_bundle_named_and_fingerprinted(roots, tmp_path):
    bundle = tmp_path / "corp.pem"
    bundle.write_bytes(b"".join(r.pem for r in roots))
    store = load_trust_store(str(bundle))
    assert store.name == "corp"
    assert _shas(store) == sorted(r.sha256 for r in roots)
    reordered = tmp_path / "reordered.pem"
    reordered.write_bytes(b"".join(r.pem for r in reversed(roots)))
    named = load_trust_store(f"mine={reordered}")
    assert named.name == "mine"
    assert named.fingerprint == store.fingerprint  # same set, same fingerprint


def test_directory_of_pem_der_cer_crt(roots, tmp_path):
    (tmp_path / "a.pem").write_bytes(roots[0].pem)
    (tmp_path / "b.der").write_bytes(roots[1].der)
    (tmp_path / "c.cer").write_bytes(roots[2].pem)
    (tmp_path / "d.crt").write_bytes(roots[2].der)
    (tmp_path / "README").write_text("not a certificate")
    store = load_trust_store(str(tmp_path))
    assert _shas(store) == sorted(r.sha256 for r in roots)


@pytest.mark.parametrize("encoding", [serialization.Encoding.DER, serialization.Encoding.PEM])
def test_pkcs7_bundle(roots, tmp_path, encoding):
    path = tmp_path / "bundle.p7b"
    path.write_bytes(pkcs7.serialize_certificates([r.certificate for r in roots], encoding))
    assert _shas(load_trust_store(str(path))) == sorted(r.sha256 for r in roots)


def test_pkcs12_truststore_with_password(roots, tmp_path):
    path = tmp_path / "cacerts.p12"
    entries = [
        pkcs12.PKCS12Certificate(r.certificate, f"r{i}".encode()) for i, r in enumerate(roots)
    ]
    path.write_bytes(
        pkcs12.serialize_java_truststore(entries, serialization.BestAvailableEncryption(b"s3cret"))
    )
    assert _shas(load_trust_store(str(path), "s3cret")) == sorted(r.sha256 for r in roots)
    with pytest.raises(TrustStoreError, match="wrong password"):
        load_trust_store(str(path), "changeit")


def test_legacy_jks_made_by_keytool(roots, pki, tmp_path):
    path = tmp_path / "cacerts.jks"
    for i, root in enumerate(roots[:2]):
        pem = tmp_path / f"r{i}.pem"
        pem.write_bytes(root.pem)
        subprocess.run(
            [
                KEYTOOL,
                "-importcert",
                "-noprompt",
                "-alias",
                f"r{i}",
                "-file",
                str(pem),
                "-keystore",
                str(path),
                "-storetype",
                "JKS",
                "-storepass",
                "changeit",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    # A private-key entry too: the reader must skip it without reading the key.
    subprocess.run(
        [
            KEYTOOL,
            "-genkeypair",
            "-alias",
            "server",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
            "-dname",
            "CN=server",
            "-keystore",
            str(path),
            "-storetype",
            "JKS",
            "-storepass",
            "changeit",
            "-keypass",
            "changeit",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert path.read_bytes()[:4] == bytes.fromhex("feedfeed")
    store = load_trust_store(str(path))  # default password: changeit
    assert _shas(store) == sorted(r.sha256 for r in roots[:2])
    with pytest.raises(TrustStoreError, match="integrity check failed"):
        load_trust_store(str(path), "wrong")
    assert _shas(load_trust_store(str(path), "")) == _shas(store)  # read without the check
    tampered = tmp_path / "tampered.jks"
    data = bytearray(path.read_bytes())
    data[-30] ^= 0x01  # inside the last entry, before the digest
    tampered.write_bytes(bytes(data))
    with pytest.raises(TrustStoreError):
        load_trust_store(str(tampered))
    truncated = tmp_path / "truncated.jks"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(TrustStoreError, match="truncated"):
        load_trust_store(str(truncated))


def test_system_and_mozilla_stores_load():
    mozilla = load_trust_store("mozilla")
    assert mozilla.name == "mozilla" and len(mozilla.certificates) > 50
    system = load_trust_store("system")
    assert system.name == "system" and len(system.certificates) > 0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, I am not a store", "not a certificate store"),
        (b"", "not a certificate store"),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "not a certificate store",
        ),
    ],
)
def test_bad_files_fail_in_one_line(tmp_path, content, message):
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    with pytest.raises(TrustStoreError, match=message) as error:
        load_trust_store(str(path))
    assert "\n" not in str(error.value)


def test_missing_file_and_empty_directory(tmp_path):
    with pytest.raises(TrustStoreError, match="no such file"):
        load_trust_store(str(tmp_path / "absent.pem"))
    with pytest.raises(TrustStoreError, match="contains no certificates"):
        load_trust_store(str(tmp_path))


def test_spec_parsing():
    assert parse_store_spec("corp=/etc/corp.pem") == ("corp", "/etc/corp.pem")
    assert parse_store_spec("/etc/ssl/certs") == ("certs", "/etc/ssl/certs")
    assert parse_store_spec("system") == ("system", "system")
