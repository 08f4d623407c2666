"""The census from the store: counts, shares, differences, and garbage kept as raw bytes."""

from __future__ import annotations

from certcensus.census.build import build_census
from certcensus.model.chain import chain_fingerprint
from certcensus.model.outcomes import Outcome
from certcensus.render.as_json import census_to_dict
from certcensus.store import open_store

from .store.test_store_contract import observation


def test_counts_shares_and_what_differs(db, two_chains):
    old, new = two_chains.old.wire_ders, two_chains.new.wire_ders
    with open_store(db) as store:
        run = store.start_run("scan", ["t.test:443"])
        for index in range(9):
            store.add(
                run,
                observation(
                    old, address="127.0.0.1" if index % 2 else "127.0.0.2", at=100.0 + index
                ),
            )
        store.add(run, observation(new, address="127.0.0.2", at=120.0))
        store.add(
            run, observation(outcome=Outcome.TIMEOUT, detail="no answer within 1s during connect")
        )
        store.finish_run(run)
        census = build_census(store, run_ids=[run])
    target = census.target("t.test:443")
    assert (target.probes, target.ok, dict(target.errors)) == (11, 10, {"timeout": 1})
    first, second = target.chains
    assert (first.chain_id, first.count, first.share) == (chain_fingerprint(old), 9, 0.9)
    assert (second.chain_id, second.count, second.share) == (chain_fingerprint(new), 1, 0.1)
    assert target.share_of(chain_fingerprint(new)) == 0.1
    assert dict(first.ips) == {"127.0.0.1": 4, "127.0.0.2": 5}
    assert (first.first_seen, first.last_seen) == (100.0, 108.0)
    assert [change.position for change in second.differences] == [0, 1]
    assert second.differences[1].b.subject.startswith("CN=Test New CA G2")

    data = census_to_dict(census)["targets"][0]
    assert set(data) >= {"target", "host", "port", "protocol", "probes", "ok", "errors", "chains"}
    chain = data["chains"][0]
    assert set(chain) >= {"id", "count", "share", "first_seen", "last_seen", "ips", "certificates"}
    cert = chain["certificates"][0]
    assert set(cert) >= {
        "sha256",
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "key",
        "pem",
    }
    assert cert["key"] == "EC-secp256r1" and cert["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert chain["first_seen"] == "1970-01-01T00:01:40.000Z"


def test_a_certificate_that_does_not_parse_is_kept_and_flagged(db, two_chains):
    garbage = b"\x30\x03\x02\x01\x00"
    with open_store(db) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, observation((two_chains.old.leaf.der, garbage)))
        store.finish_run(run)
        census = build_census(store)
        assert store.chain_certificates(census.targets[0].chains[0].chain_id)[1] == garbage
    bad = census.targets[0].chains[0].certificates[1]
    assert bad.parse_error.startswith("does not parse as X.509 (5 bytes)")
    assert census_to_dict(census)["targets"][0]["chains"][0]["certificates"][1]["parse_error"]
