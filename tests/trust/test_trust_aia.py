"""Chain completion through AIA caIssuers, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from certcensus.trust import AIAFetcher, CAPool, Cert, TrustStore, chain_trust_verdicts
from certcensus.trust.aia import complete_with_aia

from .trust_helpers import openssl_verifies


def _store(*issued) -> TrustStore:
    return TrustStore("store", "test", tuple(Cert.from_der(i.der) for i in issued))


def _encode(issued, encoding: str) -> bytes:
    if encoding == "der":
        return issued.der
    if encoding == "pem":
        return issued.pem
    return pkcs7.serialize_certificates([issued.certificate], serialization.Encoding.DER)


@pytest.mark.parametrize("encoding", ["der", "pem", "pkcs7"])
def test_missing_intermediate_is_fetched_and_named(encoding, pki, aia_server, tmp_path):
    root = pki.root("AIA Root", key_type="ec256")
    inter = pki.intermediate("AIA CA", root, key_type="ec256")
    aia_server.serve("/ca", _encode(inter, encoding))
    leaf = pki.leaf("aia.test", inter, key_type="ec256", aia_ca_issuers=aia_server.url("/ca"))
    served, store, pool = [Cert.from_der(leaf.der)], _store(root), CAPool(tmp_path / "pool")
    fetcher = AIAFetcher(tmp_path / "cache")

    fetched = complete_with_aia(served, pool, [store], fetcher)

    assert [c.sha256 for c in fetched] == [inter.sha256]
    assert (tmp_path / "pool" / f"{inter.sha256}.der").read_bytes() == inter.der
    lenient = chain_trust_verdicts([leaf.der], [store], pool=pool, at=pki.now)["store"].lenient
    # The server still does not send it: untrusted for OpenSSL-like clients, but now named.
    assert lenient.trusted is False
    assert lenient.reason == "missing-intermediate"
    assert lenient.missing == [inter.sha256]
    assert aia_server.url("/ca") in lenient.detail
    assert not openssl_verifies(tmp_path / "a", [root], [leaf], pki.now)
    assert openssl_verifies(tmp_path / "b", [root], [leaf, inter], pki.now)


def test_cache_answers_offline_and_is_fetched_once(pki, aia_server, tmp_path):
    root = pki.root("Cache Root", key_type="ec256")
    inter = pki.intermediate("Cache CA", root, key_type="ec256")
    aia_server.serve("/cache", inter.der)
    leaf = pki.leaf("cache.test", inter, key_type="ec256", aia_ca_issuers=aia_server.url("/cache"))
    served = [Cert.from_der(leaf.der)]

    complete_with_aia(served, CAPool(), [_store(root)], AIAFetcher(tmp_path / "cache"))
    offline = AIAFetcher(tmp_path / "cache", offline=True)
    fetched = complete_with_aia(served, CAPool(), [_store(root)], offline)

    assert [c.sha256 for c in fetched] == [inter.sha256]
    assert aia_server.requests == ["/cache"]
    assert offline.fetched_urls == []


def test_offline_without_cache_fetches_nothing(pki, aia_server, tmp_path):
    root = pki.root("Offline Root", key_type="ec256")
    inter = pki.intermediate("Offline CA", root, key_type="ec256")
    aia_server.serve("/x", inter.der)
    leaf = pki.leaf("offline.test", inter, key_type="ec256", aia_ca_issuers=aia_server.url("/x"))
    fetched = complete_with_aia(
        [Cert.from_der(leaf.der)],
        CAPool(),
        [_store(root)],
        AIAFetcher(tmp_path / "cache", offline=True),
    )
    assert fetched == [] and aia_server.requests == []


def test_aia_loop_terminates_fetching_each_url_once(pki, aia_server, tmp_path):
    """A is cross-signed by B and B by A, each pointing at the other: a loop."""
    a = pki.root("Loop A", key_type="ec256")
    b = pki.root("Loop B", key_type="ec256")
    a_by_b = pki.cross_sign(a, b, aia_ca_issuers=aia_server.url("/b"))
    b_by_a = pki.cross_sign(b, a, aia_ca_issuers=aia_server.url("/a"))
    aia_server.serve("/a", a_by_b.der)
    aia_server.serve("/b", b_by_a.der)
    leaf = pki.leaf("loop.test", a, key_type="ec256", aia_ca_issuers=aia_server.url("/a"))
    unrelated = pki.root("Unrelated", key_type="ec256")
    store = _store(unrelated)
    pool = CAPool()

    fetched = complete_with_aia(
        [Cert.from_der(leaf.der)], pool, [store], AIAFetcher(tmp_path / "cache")
    )

    assert sorted(aia_server.requests) == ["/a", "/b"]
    assert {c.sha256 for c in fetched} == {a_by_b.sha256, b_by_a.sha256}
    lenient = chain_trust_verdicts([leaf.der], [store], pool=pool, at=pki.now)["store"].lenient
    assert lenient.trusted is False
    assert not openssl_verifies(tmp_path / "o", [unrelated], [leaf], pki.now)


def test_unreachable_and_junk_answers_are_recorded_not_raised(pki, aia_server, tmp_path):
    aia_server.serve("/junk", b"not a certificate")
    root = pki.root("Junk Root", key_type="ec256")
    leaf = pki.leaf("junk.test", root, key_type="ec256", aia_ca_issuers=aia_server.url("/junk"))
    fetcher = AIAFetcher(tmp_path / "cache", timeout=2)
    assert fetcher.certificates_at(aia_server.url("/junk")) == []
    assert fetcher.certificates_at(aia_server.url("/absent")) == []
    assert set(fetcher.errors) == {aia_server.url("/junk"), aia_server.url("/absent")}
    assert leaf  # the leaf only carried the URL
