"""Export formats and platform kits: right files, safe names, readable by the real tools."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7

from certcensus.export import KITS, safe_file_stem, write_certificate_files, write_kit
from certcensus.trust import Cert, load_certificates_from_bytes

KEYTOOL = "/usr/bin/keytool"


@pytest.fixture(scope="module")
def cas(pki):
    root = pki.root("Kit Root", key_type="ec256")
    inter = pki.intermediate("Kit Issuing CA", root, key_type="ec256")
    return [Cert.from_der(inter.der), Cert.from_der(root.der)]


def test_pkcs12_truststore_lists_expected_entries_with_keytool(cas, tmp_path):
    [path] = write_certificate_files(cas, tmp_path, "pkcs12")
    listing = subprocess.run(
        [KEYTOOL, "-list", "-keystore", str(path), "-storepass", "changeit"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "Your keystore contains 2 entries" in listing
    assert listing.count("trustedCertEntry") == 2
    for cert in cas:
        assert safe_file_stem(cert).lower() in listing
        # keytool prints SHA-256 fingerprints as colon-separated upper-case hex.
        assert cert.sha256.upper() in listing.replace(":", "")


@pytest.mark.parametrize("fmt, suffix", [("pem", ".pem"), ("der", ".der"), ("cer", ".cer")])
def test_one_file_per_ca(cas, tmp_path, fmt, suffix):
    files = write_certificate_files(cas, tmp_path, fmt)
    assert sorted(f.suffix for f in files) == [suffix] * 2
    loaded = {c.sha256 for f in files for c in load_certificates_from_bytes(f.read_bytes())}
    assert loaded == {c.sha256 for c in cas}
    if fmt == "cer":  # IBM i DCM wants Base64
        assert all(f.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----") for f in files)


def test_p7b_bundle(cas, tmp_path):
    [path] = write_certificate_files(cas, tmp_path, "p7b")
    loaded = pkcs7.load_der_pkcs7_certificates(path.read_bytes())
    assert {Cert.from_certificate(c).sha256 for c in loaded} == {c.sha256 for c in cas}
    result = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(path), "-print_certs", "-noout"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and "Kit Root" in result.stdout


@pytest.mark.parametrize(
    "subject",
    [
        "../../../etc/passwd",
        "..\\..\\windows\\evil",
        ".hidden",
        "a/b/c",
        "tab\tnew\nline\x7f",
        "x" * 64,
        "...",
        "Ünïcødé CA",
    ],
)
def test_hostile_subjects_stay_inside_the_directory(pki, tmp_path, subject):
    cert = Cert.from_der(pki.root(subject, key_type="ec256").der)
    stem = safe_file_stem(cert)
    assert "/" not in stem and "\\" not in stem and not stem.startswith(".")
    assert all(32 < ord(ch) < 127 for ch in stem) and len(stem) <= 80
    assert stem.endswith(cert.sha256[:12])
    out = tmp_path / "out"
    for kit in ("ibmi", "debian"):
        files = write_kit([cert], out / kit, kit)
        assert all(f.resolve().parent == (out / kit).resolve() for f in files)
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} <= {out / "ibmi", out / "debian"}


@pytest.mark.parametrize("kit", KITS)
def test_kits_have_files_and_exact_commands_but_no_key(kit, cas, tmp_path):
    files = write_kit(cas, tmp_path, kit)
    assert files[-1].name == "INSTALL.txt"
    install = files[-1].read_text()
    certificate_files = [f for f in files[:-1] if f.suffix in (".cer", ".crt", ".pem")]
    assert len(certificate_files) == 2
    for f in certificate_files:
        assert f.name in install
    expected = {
        "ibmi": "Certificate Authority (CA)",
        "java": "keytool -importcert",
        "debian": "update-ca-certificates",
        "rhel": "update-ca-trust extract",
        "windows": "certutil -addstore -f Root",
        "macos": "security add-trusted-cert -d -r trustRoot",
    }[kit]
    assert expected in install
    if kit == "windows":  # intermediates go to the CA store, roots to Root
        inter_file = next(f for f in certificate_files if f.name.startswith("Kit_Issuing"))
        assert f'certutil -addstore -f CA "{inter_file.name}"' in install
    for f in tmp_path.iterdir():
        assert b"PRIVATE KEY" not in f.read_bytes()
    if kit == "java":  # without the client's keystore to extend, no truststore replaces it
        assert not list(tmp_path.glob("*.p12"))
        assert "No ready\ntruststore is written" in install


def test_empty_kit_says_nothing_to_install(tmp_path):
    files = write_kit([], tmp_path, "ibmi")
    assert [f.name for f in files] == ["INSTALL.txt"]
    assert "Nothing to install" in files[0].read_text()
