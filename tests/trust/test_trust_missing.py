"""The smallest set of CAs a store needs so that every observed chain is trusted."""

from __future__ import annotations

import datetime as dt

from certcensus.model.chain import chain_fingerprint
from certcensus.trust import (
    CAPool,
    Cert,
    TrustStore,
    chain_trust_verdicts,
    missing_cas,
    observed_cas,
)

from .trust_helpers import openssl_verifies


def _store(*issued) -> TrustStore:
    return TrustStore("store", "test", tuple(Cert.from_der(i.der) for i in issued))


def _pool(*issued) -> CAPool:
    pool = CAPool()
    pool.add_all(Cert.from_der(i.der) for i in issued)
    return pool


def _two_chains(pki):
    root_a = pki.root("Majority Root", key_type="ec256")
    int_a = pki.intermediate("Majority CA", root_a, key_type="ec256")
    leaf_a = pki.leaf("svc.test", int_a, key_type="ec256")
    root_b = pki.root("Minority Root", key_type="ec256")
    int_b = pki.intermediate("Minority CA", root_b, key_type="ec256")
    leaf_b = pki.leaf("svc.test", int_b, key_type="ec256")
    return root_a, int_a, leaf_a, root_b, int_b, leaf_b


def test_minority_chain_needs_its_root_and_ibmi_mode_adds_its_intermediate(pki, tmp_path):
    root_a, int_a, leaf_a, root_b, int_b, leaf_b = _two_chains(pki)
    chain_a, chain_b = [leaf_a.der, int_a.der], [leaf_b.der, int_b.der]
    store, pool = _store(root_a), _pool(root_b)

    plain = missing_cas([chain_a, chain_b], store, pool, pki.now)
    assert [c.sha256 for c in plain.certificates] == [root_b.sha256]
    assert plain.needed_by == {
        chain_fingerprint(chain_a): [],
        chain_fingerprint(chain_b): [root_b.sha256],
    }

    every = missing_cas([chain_a, chain_b], store, pool, pki.now, every_ca_of_path=True)
    assert [c.sha256 for c in every.certificates] == [root_b.sha256, int_b.sha256]  # roots first
    assert int_a.sha256 not in {c.sha256 for c in every.certificates}  # chain A already trusted
    fixed = store.with_certificates(every.certificates)
    for chain in (chain_a, chain_b):
        verdict = chain_trust_verdicts(chain, [fixed], pool=pool, at=pki.now)["store"]
        assert verdict.lenient.trusted is True
    for leaf, served in ((leaf_a, [leaf_a, int_a]), (leaf_b, [leaf_b, int_b])):
        # A client that trusts the store plus the added CAs, and gets what the server sends.
        assert openssl_verifies(
            tmp_path / leaf.sha256[:8], [root_a, root_b, int_b], served, pki.now
        )
        assert openssl_verifies(
            tmp_path / ("p" + leaf.sha256[:8]), [root_a, root_b], served, pki.now
        )


def test_one_root_covering_two_chains_beats_one_root_each(pki):
    first = pki.root("Cover One", key_type="ec256")
    second = pki.root("Cover Two", key_type="ec256")
    inter = pki.intermediate("Cover CA", first, key_type="ec256")
    twin = pki.cross_sign(inter, second)
    leaf1 = pki.leaf("one.test", inter, key_type="ec256")
    other = pki.intermediate("Other CA", second, key_type="ec256")
    leaf2 = pki.leaf("two.test", other, key_type="ec256")
    chains = [[leaf1.der, inter.der, twin.der], [leaf2.der, other.der]]
    result = missing_cas(
        chains, _store(pki.root("Unrelated", key_type="ec256")), _pool(first, second), pki.now
    )
    # A backtracking client would need Cover Two alone; OpenSSL keeps the first "Cover CA" the
    # server sent (issued by Cover One), so chain 1 needs Cover One or the twin as well.
    assert len(result.certificates) == 2 and result.complete
    assert second.sha256 in {c.sha256 for c in result.certificates}


def test_unfixable_chains_say_why(pki):
    root = pki.root("Unfixable Root", key_type="ec256")
    expired = pki.leaf(
        "old.test",
        root,
        key_type="ec256",
        not_before=pki.now - dt.timedelta(days=9),
        not_after=pki.now - dt.timedelta(days=1),
    )
    orphan = pki.leaf(
        "orphan.test", pki.intermediate("Unknown CA", root, key_type="ec256"), key_type="ec256"
    )
    result = missing_cas(
        [[expired.der], [orphan.der]], _store(pki.root("X", key_type="ec256")), _pool(root), pki.now
    )
    assert result.certificates == []
    assert "expired" in result.unfixable[chain_fingerprint([expired.der])]
    # The orphan's issuer is known nowhere: named, so the kit can say it is partial.
    unknown = result.unknown_issuers[chain_fingerprint([orphan.der])]
    assert "Unknown CA" in unknown.subject and unknown.key_identifier
    assert not result.complete


def test_observed_cas_lists_served_and_path_cas(pki):
    root_a, int_a, leaf_a, root_b, int_b, leaf_b = _two_chains(pki)
    found = observed_cas(
        [[leaf_a.der, int_a.der], [leaf_b.der, int_b.der]], [_store(root_a)], _pool(root_b), pki.now
    )
    assert {c.sha256 for c in found} == {root_a.sha256, int_a.sha256, root_b.sha256, int_b.sha256}
