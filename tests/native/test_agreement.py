"""Agreement with the reference: `certcensus scan` with `--engine native` and `--engine openssl`
against the same `openssl s_server` (and `gnutls-serv`) must record the identical certificate
list in wire order and the same outcome, for every protocol version, key type, a forced
HelloRetryRequest and large chains. Staples and compression are checked on the engine directly.
"""

from __future__ import annotations

import base64

import pytest

from certcensus.model.chain import chain_fingerprint
from certcensus.probe.native.clients import ALL_SPECS

from .servers import (
    capture_over_socket,
    ed25519_key,
    gnutls_serv,
    ocsp_response_der,
    s_server,
    write_chain,
)

pytestmark = pytest.mark.server
ENGINES = ("openssl", "native")


@pytest.fixture(scope="module")
def chains(pki, tmp_path_factory):
    """Leaf + intermediate for each key type, as s_server files, and the wire chain."""
    directory = tmp_path_factory.mktemp("agreement")
    root = pki.root("Agreement Root")
    made = {}
    for name, key_type, key in [
        ("rsa", "rsa2048", None),
        ("p256", "ec256", None),
        ("p384", "ec384", None),
        ("ed25519", "ec256", ed25519_key()),
    ]:
        ca = pki.intermediate(
            f"Agreement {name} CA", root, key_type="ec256" if name != "rsa" else "rsa2048"
        )
        leaf = pki.leaf("agree.test", ca, key_type=key_type, key=key)
        made[name] = (write_chain(directory, leaf, [ca], name), [leaf.der, ca.der], leaf, ca)
    # A long chain: nine RSA-4096 intermediates, so the Certificate message spans records.
    issuer, cas = root, []
    for depth in range(9):
        issuer = pki.intermediate(f"Agreement Deep CA {depth}", issuer, key_type="rsa4096")
        cas.append(issuer)
    leaf = pki.leaf("agree.test", issuer, key_type="rsa4096")
    wire = [c for c in reversed(cas)]
    made["deep"] = (
        write_chain(directory, leaf, wire, "deep"),
        [leaf.der, *(c.der for c in wire)],
        leaf,
        issuer,
    )
    made["directory"] = directory
    return made


def scan_both(cli, db, port: int, *extra: str) -> dict[str, dict]:
    results = {}
    for engine in ENGINES:
        result = cli("scan", f"127.0.0.1:{port}", "--starttls", "none", "--sni", "agree.test", "--count", 6,
                     "--rate", "0", "--engine", engine, "--db", db, "--json", *extra)  # fmt: skip
        (target,) = result.json["targets"]
        results[engine] = target
    return results


def assert_same_chain(results: dict[str, dict], expected_ders: list[bytes]) -> None:
    for engine, target in results.items():
        assert target["ok"] == 6, (engine, target["error_examples"])
        (chain,) = target["chains"]
        assert chain["id"] == chain_fingerprint(expected_ders), engine
    assert results["native"]["chains"][0]["id"] == results["openssl"]["chains"][0]["id"]


@pytest.mark.parametrize(
    "key, options, profile",
    [
        ("rsa", ["-tls1", "-cipher", "ALL:@SECLEVEL=0"], "default"),
        ("rsa", ["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"], "default"),
        ("rsa", ["-tls1_2"], "default"),
        ("rsa", ["-tls1_3"], "default"),
        ("p256", ["-tls1_2"], "default"),
        ("p256", ["-tls1_3"], "default"),
        ("p384", ["-tls1_2"], "tls1.2"),
        ("p384", ["-tls1_3"], "tls1.3"),
        ("ed25519", ["-tls1_2"], "default"),
        ("ed25519", ["-tls1_3"], "default"),
        ("rsa", ["-tls1_3", "-groups", "P-256"], "default"),  # HelloRetryRequest forced
        ("p384", ["-tls1_3", "-groups", "P-384:P-521"], "default"),  # HelloRetryRequest forced
        ("rsa", ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"], "default"),
        ("rsa", ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"], "default"),
        ("deep", ["-tls1_3"], "default"),
        ("deep", ["-tls1_2"], "default"),
        ("rsa", ["-tls1_3", "-max_send_frag", "512"], "default"),
        ("rsa", ["-tls1_2", "-max_send_frag", "512"], "rsa"),
        ("p256", ["-tls1_3"], "ecdsa"),
    ],
)
def test_both_engines_record_the_same_chain(cli, db, chains, key, options, profile):
    files, ders, *_ = chains[key]
    with s_server(files, *options) as port:
        results = scan_both(cli, db, port, "--profile", profile)
    assert_same_chain(results, ders)
    assert results["native"]["strata"][0]["profile"] == profile


def test_handshake_facts_agree(cli, db, chains):

    files, _, *_ = chains["rsa"]
    with s_server(files, "-tls1_2") as port:
        scan_both(cli, db, port)
    from certcensus.store import open_store

    with open_store(db, read_only=True) as store:  # the store's interface, not its tables
        rows = sorted({(p.tls_version, p.cipher) for t in store.targets() for p in store.probes(t)})
    assert rows == [("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")]  # the same words from both engines


@pytest.mark.parametrize(
    "options, outcome",
    [
        (["-tls1_3", "-groups", "P-256", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"], "tls-alert"),
        (["-tls1_2", "-cipher", "aNULL:@SECLEVEL=0"], "no-certificate"),  # anonymous suite
        (["-tls1", "-cipher", "ALL:@SECLEVEL=0"], "tls-alert"),
    ],
)
def test_both_engines_classify_a_refusing_server_alike(cli, db, chains, options, outcome):
    files, *_ = chains["rsa"]
    with s_server(files, *options) as port:
        results = {}
        for engine in ENGINES:
            result = cli("scan", f"127.0.0.1:{port}", "--starttls", "none", "--count", 3, "--rate", "0",
                         "--engine", engine, "--db", db, "--json", "--profile", "tls1.3" if "-tls1" in options else "default")  # fmt: skip
            results[engine] = result.json["targets"][0]["errors"]
    assert results["native"] == results["openssl"] == {outcome: 3}


def test_ocsp_staple_is_recorded_from_s_server(chains):
    files, ders, leaf, ca = chains["rsa"]
    staple = chains["directory"] / "ocsp.der"
    staple.write_bytes(ocsp_response_der(leaf, ca))
    for version in ("-tls1_2", "-tls1_3"):
        with s_server(files, version, "-status_file", str(staple)) as port:
            result = capture_over_socket(port, ALL_SPECS["java-17"], "agree.test")
        assert result.certificates == tuple(ders)
        assert result.ocsp_response == staple.read_bytes(), version


def test_sct_extension_is_recorded_from_s_server(chains):
    files, ders, *_ = chains["rsa"]
    sct_list = b"\x00\x0a\x00\x08" + b"SCTbytes"  # SignedCertificateTimestampList, opaque here
    serverinfo = chains["directory"] / "serverinfo.pem"
    block = base64.b64encode(b"\x00\x12" + len(sct_list).to_bytes(2, "big") + sct_list).decode()
    serverinfo.write_text(
        f"-----BEGIN SERVERINFO FOR CT-----\n{block}\n-----END SERVERINFO FOR CT-----\n"
    )
    with s_server(files, "-tls1_2", "-serverinfo", str(serverinfo)) as port:
        result = capture_over_socket(port, ALL_SPECS["android-7"], "agree.test")
    assert result.certificates == tuple(ders)
    assert result.signed_certificate_timestamps == sct_list


@pytest.mark.parametrize(
    "version", ["NORMAL:-VERS-ALL:+VERS-TLS1.3", "NORMAL:-VERS-ALL:+VERS-TLS1.2"]
)
def test_both_engines_agree_against_gnutls(chains, cli, db, version):
    # A second, independent server implementation. (RFC 8879 compression is tested against the
    # scripted peer only: OpenSSL 3.0 has none, and Debian 12's GnuTLS 3.7.9 accepts
    # --compress-cert but neither its client nor its server sends compress_certificate.)
    files, ders, *_ = chains["p256"]
    with gnutls_serv(files, chains["directory"], f"--priority={version}") as port:
        results = scan_both(cli, db, port)
    assert_same_chain(results, ders)


def _alert_server(description: int):
    def handler(connection) -> None:
        connection.recv(4096)
        connection.sendall(bytes((0x15, 3, 3, 0, 2, 2 if description else 1, description)))
        connection.close()

    return handler


@pytest.mark.parametrize(
    "description, outcome, detail",
    [
        (40, "tls-alert", "server sent TLS alert: handshake failure"),
        (70, "tls-alert", "server sent TLS alert: protocol version"),
        (80, "tls-alert", "server sent TLS alert: internal error"),
        (110, "tls-alert", "server sent TLS alert: unsupported extension"),
        (112, "tls-alert", "server sent TLS alert: unrecognized name"),
        (113, "tls-alert", "server sent TLS alert: bad certificate status response"),
        (116, "tls-alert", "server sent TLS alert: certificate required"),
        (120, "tls-alert", "server sent TLS alert: no application protocol"),
        (0, "closed", "server closed the connection during handshake"),
    ],
)
def test_both_engines_name_every_alert_alike(cli, db, description, outcome, detail):
    from .. import badservers

    with badservers.serving(_alert_server(description)) as port:
        for engine in ENGINES:
            result = cli("scan", f"127.0.0.1:{port}", "--starttls", "none", "--count", 2,
                         "--rate", "0", "--engine", engine, "--db", db, "--json")  # fmt: skip
            (target,) = result.json["targets"]
            assert target["errors"] == {outcome: 2}, engine
            assert target["error_examples"][outcome] == detail, engine
