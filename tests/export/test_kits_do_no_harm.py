"""Kits never do harm: a Java truststore extends the client's store (keytool shows old and new
entries), a root the server sent comes with a loud warning, nothing to export is not an error,
a root known nowhere makes a partial kit that says so (exit 1), and a hostile subject cannot add
lines to INSTALL.txt or drive the terminal."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner
from cryptography import x509

from certcensus.cli import export as cli_export
from certcensus.cli import main
from certcensus.trust import load_certificates_from_bytes, load_trust_store

from ..servers import require
from ..trust.trust_helpers import AIAServer
from .export_helpers import openssl_verifies, write_census_db

CONTROL = ("\x1b", "\r", "\u202e", "\u2028", "\x07")


@pytest.fixture(scope="module")
def keytool() -> str:
    return require("keytool")


@pytest.fixture
def pkis(pki, tmp_path):
    root_a = pki.root("Harm Root A", key_type="ec256")
    int_a = pki.intermediate("Harm CA A", root_a, key_type="ec256")
    root_b = pki.root("Harm Root B", key_type="ec256")
    int_b = pki.intermediate("Harm CA B", root_b, key_type="ec256")
    return {
        "root_a": root_a, "int_a": int_a, "leaf_a": pki.leaf("svc.test", int_a, key_type="ec256"),
        "root_b": root_b, "int_b": int_b, "leaf_b": pki.leaf("svc.test", int_b, key_type="ec256"),
    }  # fmt: skip


def run(tmp_path, *args, offline=True):
    base = ["--db", str(tmp_path / "census.sqlite"), "--cache-dir", str(tmp_path / "cache")]
    if offline:
        base.append("--offline")
    return CliRunner().invoke(cli_export.export, base + [str(a) for a in args])


def keytool_list(keytool: str, store, password="changeit") -> str:
    return subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass", password],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip


def make_keystore(keytool, path, certs: dict[str, bytes], storetype: str, tmp_path) -> None:
    for alias, pem in certs.items():
        (tmp_path / f"{alias}.pem").write_bytes(pem)
        subprocess.run(
            [keytool, "-importcert", "-noprompt", "-alias", alias, "-file",
             str(tmp_path / f"{alias}.pem"), "-keystore", str(path), "-storepass", "changeit",
             "-storetype", storetype],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip


@pytest.mark.parametrize("storetype", ["JKS", "PKCS12"])
def test_java_kit_merges_into_a_copy_of_the_clients_keystore(keytool, pkis, tmp_path, storetype):
    write_census_db(
        tmp_path / "census.sqlite",
        {"svc.test:443": [[pkis["leaf_a"].der, pkis["int_a"].der],
                          [pkis["leaf_b"].der, pkis["int_b"].der]]},
    )  # fmt: skip
    client = tmp_path / "client.ks"
    make_keystore(keytool, client, {"corp-root": pkis["root_a"].pem,
                                    "unrelated": pkis["int_a"].pem}, storetype, tmp_path)  # fmt: skip
    (tmp_path / "public.pem").write_bytes(pkis["root_b"].pem)
    before = keytool_list(keytool, client)
    out = tmp_path / "kit"
    result = run(tmp_path, "--trust-store", f"client={client}", "--trust-store",
                 tmp_path / "public.pem", "--missing-from", "client", "--format", "java", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    merged = out / "client-with-missing.p12"
    listing = keytool_list(keytool, merged)
    assert "Your keystore contains 3 entries" in listing
    for alias in ("corp-root", "unrelated"):
        assert alias in listing and alias in before  # the client's own entries, kept
    assert pkis["root_b"].sha256.upper() in listing.replace(":", "")  # the one it lacked
    assert keytool_list(keytool, client) == before  # the client's own store is untouched
    install = (out / "INSTALL.txt").read_text()
    assert merged.name in install and "keytool -importcert" in install
    assert "WARNING" not in install  # Root B came from a trust store the user gave
    assert not list(out.glob("truststore.p12"))


def test_java_kit_without_a_keystore_gives_only_keytool_steps(keytool, pkis, tmp_path):
    write_census_db(
        tmp_path / "census.sqlite", {"svc.test:443": [[pkis["leaf_b"].der, pkis["int_b"].der]]}
    )
    (tmp_path / "corp.pem").write_bytes(pkis["root_a"].pem)
    (tmp_path / "public.pem").write_bytes(pkis["root_b"].pem)
    out = tmp_path / "kit"
    result = run(tmp_path, "--trust-store", tmp_path / "corp.pem", "--trust-store",
                 tmp_path / "public.pem", "--missing-from", "corp", "--format", "java", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.p12")) and not list(out.glob("*.jks"))
    install = (out / "INSTALL.txt").read_text()
    assert "keytool -importcert" in install and "No ready" in install
    assert "no merged truststore written" in result.output


def test_keystore_with_a_private_key_is_not_copied(keytool, pkis, tmp_path):
    write_census_db(
        tmp_path / "census.sqlite", {"svc.test:443": [[pkis["leaf_b"].der, pkis["int_b"].der]]}
    )
    client = tmp_path / "client.jks"
    subprocess.run(
        [keytool, "-genkeypair", "-alias", "mykey", "-keyalg", "EC", "-dname", "CN=client",
         "-keystore", str(client), "-storepass", "changeit", "-keypass", "changeit",
         "-storetype", "JKS"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    make_keystore(keytool, client, {"corp-root": pkis["root_a"].pem}, "JKS", tmp_path)
    (tmp_path / "public.pem").write_bytes(pkis["root_b"].pem)
    out = tmp_path / "kit"
    result = run(tmp_path, "--trust-store", f"client={client}", "--trust-store",
                 tmp_path / "public.pem", "--missing-from", "client", "--format", "java", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.p12"))
    assert "private-key entr" in result.output
    for path in out.iterdir():
        assert b"PRIVATE KEY" not in path.read_bytes()


def test_a_root_the_server_sent_comes_with_a_loud_warning(pkis, tmp_path):
    sent = [pkis["leaf_b"].der, pkis["int_b"].der, pkis["root_b"].der]
    write_census_db(tmp_path / "census.sqlite", {"svc.test:443": [sent]})
    (tmp_path / "corp.pem").write_bytes(pkis["root_a"].pem)
    out = tmp_path / "kit"
    result = run(tmp_path, "--trust-store", tmp_path / "corp.pem", "--missing-from", "corp",
                 "--format", "debian", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    root_sha = pkis["root_b"].sha256
    assert "WARNING" in result.output and root_sha in result.output
    install = (out / "INSTALL.txt").read_text()
    assert install.startswith("WARNING: CHECK THESE CERTIFICATES WITH THE CA")
    assert root_sha in install and "the server itself sent this root" in install
    document = json.loads(run(tmp_path, "--trust-store", tmp_path / "corp.pem", "--missing-from",
                              "corp", "--format", "pem", "-o", tmp_path / "p", "--json").output)  # fmt: skip
    [entry] = document["certificates"]
    assert entry["sha256"] == root_sha and "server itself sent" in entry["check_with_the_ca"]


@pytest.mark.parametrize("fmt", ["p7b", "pkcs12", "java", "pem", "ibmi"])
def test_nothing_to_export_exits_0_and_says_so(pkis, tmp_path, fmt):
    write_census_db(
        tmp_path / "census.sqlite", {"svc.test:443": [[pkis["leaf_a"].der, pkis["int_a"].der]]}
    )
    (tmp_path / "corp.pem").write_bytes(pkis["root_a"].pem)
    out = tmp_path / "kit"
    result = run(tmp_path, "--trust-store", tmp_path / "corp.pem", "--missing-from", "corp",
                 "--format", fmt, "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "nothing to export: corp already trusts every chain" in result.output
    assert not out.exists() or not list(out.iterdir())


def test_a_root_known_nowhere_makes_a_partial_kit(pki, pkis, tmp_path):
    hidden_root = pki.root("Nowhere Root", key_type="ec256")
    server = AIAServer()
    try:
        inter = pki.intermediate("Nowhere CA", hidden_root, key_type="ec256")
        server.serve("/nowhere-ca.der", inter.der)
        leaf = pki.leaf(
            "svc.test", inter, key_type="ec256", aia_ca_issuers=server.url("/nowhere-ca.der")
        )
        write_census_db(tmp_path / "census.sqlite", {"svc.test:443": [[leaf.der]]})
        (tmp_path / "corp.pem").write_bytes(pkis["root_a"].pem)
        out = tmp_path / "kit"
        result = run(tmp_path, "--trust-store", tmp_path / "corp.pem", "--missing-from", "corp",
                     "--format", "rhel", "-o", out, offline=False)  # fmt: skip
    finally:
        server.close()
    assert result.exit_code == 1, result.output
    exported = {
        c.sha256 for f in out.glob("*.pem") for c in load_certificates_from_bytes(f.read_bytes())
    }
    assert exported == {inter.sha256}  # the intermediate the client lacks, fetched by AIA
    assert "PARTIAL KIT" in result.output and "CN=Nowhere Root" in result.output
    install = (out / "INSTALL.txt").read_text()
    assert "PARTIAL KIT" in install and "CN=Nowhere Root" in install
    # The root's key identifier: what the intermediate's authorityKeyIdentifier names.
    key_id = x509.SubjectKeyIdentifier.from_public_key(hidden_root.key.public_key()).digest.hex(":")
    assert key_id in install and "ask the CA" in install
    # Once the root is added too, openssl accepts the chain: the kit named the right one.
    assert openssl_verifies(
        tmp_path / "v", [pkis["root_a"].pem, hidden_root.pem, inter.pem], [leaf.pem]
    )


HOSTILE = "Evil\x1b[2J\x1b]0;owned\x07 CA\r\nrm -rf ~ # \u202egnp.exe\u2028"


def test_hostile_subject_cannot_inject_lines_or_terminal_control(pki, tmp_path, capsys):
    root = pki.root(HOSTILE, key_type="ec256")
    inter = pki.intermediate("Plain CA", root, key_type="ec256")
    leaf = pki.leaf("svc.test", inter, key_type="ec256", common_name=HOSTILE)
    write_census_db(tmp_path / "census.sqlite", {"svc.test:443": [[leaf.der, inter.der, root.der]]})
    other = pki.root("Corp Root", key_type="ec256")
    (tmp_path / "corp.pem").write_bytes(other.pem)
    out = tmp_path / "kit"
    result = run(tmp_path, "--trust-store", tmp_path / "corp.pem", "--missing-from", "corp",
                 "--format", "ibmi", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    install = (out / "INSTALL.txt").read_text()
    for char in CONTROL:
        assert char not in install and char not in result.output
    assert "\\x1b[2J" in install and "\\u202e" in install  # shown, escaped
    assert not any(line.startswith("rm -rf") for line in install.splitlines())
    assert not any(line.lstrip().startswith("rm -rf") for line in result.output.splitlines())
    # The census itself, on the console, is as safe.
    capsys.readouterr()
    for command in (["report"], ["trust"]):
        try:
            main([*command, "--db", str(tmp_path / "census.sqlite"), "--cache-dir",
                  str(tmp_path / "cache"), "--offline", "--trust-store", str(tmp_path / "corp.pem")])  # fmt: skip
        except SystemExit:
            pass
        printed = capsys.readouterr().out
        assert "\\x1b" in printed
        for char in CONTROL:
            assert char not in printed


def test_java_trust_store_is_the_installed_jres_cacerts(keytool, pkis, tmp_path, monkeypatch):
    home = tmp_path / "jre"
    (home / "lib" / "security").mkdir(parents=True)
    make_keystore(keytool, home / "lib" / "security" / "cacerts", {"only": pkis["root_a"].pem},
                  "JKS", tmp_path)  # fmt: skip
    monkeypatch.setenv("JAVA_HOME", str(home))
    store = load_trust_store("java")
    assert store.name == "java" and store.keystore == "jks"
    assert [c.sha256 for c in store.certificates] == [pkis["root_a"].sha256]
    monkeypatch.delenv("JAVA_HOME")
    system = load_trust_store("java")  # whatever JRE this machine has
    assert len(system.certificates) > 10 and os.path.isfile(system.path or "")
    help_text = " ".join(CliRunner().invoke(cli_export.export, ["--help"]).output.split())
    assert "'java' (the system Java cacerts" in help_text
