"""What a server sends depends on who asks: SNI or none, TLS 1.2 or 1.3, RSA or ECDSA.

A real nginx serves an RSA and an ECDSA certificate for one name (picking by what the client
offers) and another certificate as its default server (what a client without SNI gets).
"""

from __future__ import annotations

import pytest

from certcensus.lab.pki import write_server_files
from certcensus.probe.native.clients import REAL_CLIENTS

from .engines import cli  # noqa: F401 (each test once per handshake engine)
from .servers import nginx

GENERIC = {"default", "no-sni", "tls1.2", "tls1.3", "rsa", "ecdsa"}

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server


def test_each_profile_gets_what_nginx_serves_it(cli, db, pki, tmp_path):
    root = pki.root("Profile Test Root")
    rsa_ca = pki.intermediate("Profile RSA CA", root)
    ec_ca = pki.intermediate("Profile ECDSA CA", root, key_type="ec256")
    rsa_leaf = pki.leaf("shop.test", rsa_ca, key_type="rsa2048")
    ec_leaf = pki.leaf("shop.test", ec_ca, key_type="ec256")
    default_leaf = pki.leaf("default.test", rsa_ca, key_type="rsa2048")
    rsa = write_server_files(tmp_path, rsa_leaf, [rsa_ca], "rsa")
    ec = write_server_files(tmp_path, ec_leaf, [ec_ca], "ec")
    default = write_server_files(tmp_path, default_leaf, [rsa_ca], "default")
    with nginx(tmp_path, [("default.test", [default]), ("shop.test", [rsa, ec])]) as port:
        result = cli(
            "scan",
            f"127.0.0.1:{port}",
            "--sni",
            "shop.test",
            "--profile",
            "all",
            "--count",
            60,
            "--rate",
            "0",
            "--db",
            db,
            "--json",
        )
    assert result.code == 0, result.err
    (target,) = result.json["targets"]
    assert target["ok"] == 60 and target["errors"] == {}
    leaf_by_profile = {}
    for stratum in target["strata"]:
        (chain_id,) = stratum["chains"]  # each profile sees exactly one chain
        chain = next(c for c in target["chains"] if c["id"] == chain_id)
        leaf_by_profile[stratum["profile"]] = chain["certificates"][0]
        assert stratum["sni"] == (None if stratum["profile"] == "no-sni" else "shop.test")
    assert leaf_by_profile["rsa"]["sha256"] == rsa_leaf.sha256
    assert leaf_by_profile["ecdsa"]["sha256"] == ec_leaf.sha256
    assert leaf_by_profile["no-sni"]["sha256"] == default_leaf.sha256
    # nginx prefers... whatever it prefers for the rest, but it is one of the two for shop.test:
    for profile in ("default", "tls1.2", "tls1.3"):
        assert leaf_by_profile[profile]["sha256"] in (rsa_leaf.sha256, ec_leaf.sha256)
    seen_only = {c["certificates"][0]["sha256"]: c["seen_only"] for c in target["chains"]}
    assert "only without SNI" in seen_only[default_leaf.sha256]
    assert any(
        s.startswith("only with profile") and "ecdsa" in s for s in seen_only[ec_leaf.sha256]
    )
    profiles = {stratum["profile"] for stratum in target["strata"]}
    # `all` is every profile the engine speaks: the real clients only with the native engine.
    assert profiles == (GENERIC | set(REAL_CLIENTS) if cli.engine == "native" else GENERIC)


def test_tls_version_profiles_negotiate_what_they_say(cli, db, pki, tmp_path):
    root = pki.root("Version Test Root", key_type="ec256")
    leaf = pki.leaf("v.test", root, key_type="ec256")
    pair = write_server_files(tmp_path, leaf, [], "v")
    with nginx(tmp_path, [("v.test", [pair])]) as port:
        cli(
            "scan",
            f"127.0.0.1:{port}",
            "--profile",
            "tls1.2,tls1.3",
            "--count",
            10,
            "--rate",
            "0",
            "--db",
            db,
            "--json",
        )
    from certcensus.store import open_store

    with open_store(db, read_only=True) as store:  # the store's interface, not its tables
        rows = [(p.profile, p.tls_version) for t in store.targets() for p in store.probes(t)]
    assert {(p, v) for p, v in rows} == {("tls1.2", "TLSv1.2"), ("tls1.3", "TLSv1.3")}


def test_unknown_profile_is_a_usage_error(cli):
    result = cli("scan", "x.test", "--profile", "rsa,quantum")
    assert result.code == 2 and "unknown profile quantum" in result.err


def test_real_client_profiles_need_the_native_engine(cli):
    result = cli("scan", "x.test", "--profile", "default,java-8", "--engine", "openssl")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "certcensus: error: profile java-8 needs --engine native "
        "(OpenSSL cannot be made to send that ClientHello)"
    ]
