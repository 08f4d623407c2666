"""One judgement per chain and store, whatever the number of names it was served under: the
verdicts the judge reuses are the verdicts judging each name anew gives."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certcensus.trust.judge import TrustJudge
from certcensus.trust.stores import load_trust_store
from certcensus.trust.verdict import chain_trust_verdicts


@pytest.fixture
def store_and_chains(pki, tmp_path):
    root = pki.root("Judge Root")
    ca = pki.intermediate("Judge CA", root)
    leaf = pki.leaf(["a.test", "*.b.test", "127.0.0.1"], ca)
    expired = pki.leaf(["a.test"], ca, not_after=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                       not_before=dt.datetime(2019, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    bundle = tmp_path / "root.pem"
    bundle.write_bytes(root.certificate.public_bytes(Encoding.PEM))
    store = load_trust_store(str(bundle), "changeit")
    chains = {"complete": [leaf.der, ca.der], "no intermediate": [leaf.der],
              "expired": [expired.der, ca.der]}  # fmt: skip
    return store, chains


NAMES = [None, "a.test", "x.b.test", "127.0.0.1", "127.0.0.5", "127.0.0.6", "other.test", "b.test"]


@pytest.mark.parametrize("chain_name", ["complete", "no intermediate", "expired"])
def test_reused_verdicts_equal_judging_each_name(store_and_chains, chain_name):
    store, chains = store_and_chains
    chain = chains[chain_name]
    at = dt.datetime.now(dt.UTC)
    judge = TrustJudge([store], at=at)
    for host in NAMES:
        direct = chain_trust_verdicts(chain, [store], pool=judge.pool, host=host, at=at)
        assert judge.verdicts(chain, host, at) == direct, host
    # Two judgements in all: one for the names the leaf covers, one for those it does not.
    assert len(judge._judged) == 2
