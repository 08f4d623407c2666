"""The words a census says, checked against real servers: a cross-signed intermediate, a
renewed leaf, chains that split by address, by SNI and by ClientHello profile.

Pools are the lab pool (certcensus.lab.pool: real TLS on loopback, one backend chosen per
connection) and nginx; what each server serves is known, so each sentence is checked whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re

import pytest

from certcensus.census.build import build_census
from certcensus.lab.pki import PKI, write_server_files
from certcensus.lab.pool import Backend, running_pool
from certcensus.model.chain import chain_fingerprint
from certcensus.store import open_store
from certcensus.watch.alerts import ChangeDetector

from .servers import nginx


@pytest.fixture(scope="module")
def lab():
    pki = PKI(now=dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=30))
    later = PKI(now=pki.now + dt.timedelta(days=20))
    root_g1 = pki.root("Census Root G1", key_type="ec256")
    root_g2 = pki.root("Census Root G2", key_type="ec256")
    ca = pki.intermediate("Census Cross CA", root_g1, key_type="ec256")
    names = ["pool.test", "127.0.0.1"]
    leaf = pki.leaf(names, ca, key_type="ec256")
    return {
        "pki": pki, "root_g1": root_g1, "root_g2": root_g2, "ca": ca,
        "ca_cross": pki.cross_sign(ca, root_g2), "leaf": leaf,
        "renewed_same_key": later.leaf(names, ca, key=leaf.key),
        "renewed_new_key": later.leaf(names, ca, key_type="ec256"),
    }  # fmt: skip


def scan(cli, db, target: str, *options) -> dict:
    result = cli("scan", target, "--starttls", "none", "--rate", "0", "--db", db, "--json",
                 *options)  # fmt: skip
    assert result.code == 0, result.err
    (found,) = result.json["targets"]
    return found


def numbered(target: dict) -> dict[str, int]:
    return {chain["id"]: number for number, chain in enumerate(target["chains"], 1)}


def test_a_cross_signed_intermediate_is_named_a_cross_sign(cli, db, lab):
    backends = [
        Backend("g1", lab["leaf"], [lab["ca"]]),
        Backend("g2", lab["leaf"], [lab["ca_cross"]]),
    ]
    with running_pool(backends, seed=18) as pool:
        target = scan(cli, db, f"127.0.0.1:{pool.port}", "--count", 200)
        shown = cli("report", "--db", db)
        diffed = cli("diff", "--target", f"127.0.0.1:{pool.port}", "--db", db)
    words = (
        "same leaf; same intermediate key (Census Cross CA), cross-signed by Census Root G2 "
        "instead of Census Root G1"
    )
    if target["chains"][0]["certificates"][1]["issuer"].startswith("CN=Census Root G2"):
        words = words.replace("G2 instead of Census Root G1", "G1 instead of Census Root G2")
    assert target["chains"][1]["difference"] == words
    assert f"differs from chain #1: {words}" in shown.out
    assert words in diffed.out
    assert "position 1 (intermediate): same intermediate key (Census Cross CA)" in diffed.out


@pytest.mark.parametrize(
    ("renewal", "words"),
    [
        ("renewed_same_key", r"leaf renewed with the same key \(pool\.test, valid until "
                             r"\d{4}-\d\d-\d\d instead of \d{4}-\d\d-\d\d\)"),
        ("renewed_new_key", r"leaf renewed with a new key \(same name pool\.test, valid until "
                            r"\d{4}-\d\d-\d\d\)"),
    ],
)  # fmt: skip
def test_a_renewed_leaf_says_whether_its_key_changed(cli, db, lab, renewal, words):
    backends = [Backend("old", lab["leaf"], [lab["ca"]], weight=3),
                Backend("new", lab[renewal], [lab["ca"]], weight=1)]  # fmt: skip
    with running_pool(backends, seed=7) as pool:
        target = scan(cli, db, f"127.0.0.1:{pool.port}", "--count", 200)
        shown = cli("report", "--db", db)
    old_id = chain_fingerprint(backends[0].wire_ders)
    assert target["chains"][0]["id"] == old_id  # 3:1, so the old one is #1
    assert re.fullmatch(words, target["chains"][1]["difference"])
    assert re.search("differs from chain #1: " + words, shown.out)


def test_the_new_chain_alert_says_how_it_differs(cli, db, lab):
    """watch's new-chain alert, from the censuses of two real scans: first only the chain
    under Root G1, then the cross-signed one appears beside it."""
    with running_pool([Backend("g1", lab["leaf"], [lab["ca"]])]) as pool:
        port = pool.port
        scan(cli, db, f"127.0.0.1:{port}", "--count", 30)
    backends = [Backend("g1", lab["leaf"], [lab["ca"]], weight=3),
                Backend("g2", lab["leaf"], [lab["ca_cross"]], weight=1)]  # fmt: skip
    with running_pool(backends, port=port, seed=3) as pool:
        scan(cli, db, f"127.0.0.1:{port}", "--count", 200)
    with open_store(db, read_only=True) as store:
        (second,) = store.latest_run_ids(None)
        first = second - 1
        detector = ChangeDetector()
        assert detector.observe_round(build_census(store, None, [first])) == []
        events = detector.observe_round(build_census(store, None, [second]))
    (event,) = [e for e in events if e.event == "new-chain"]
    assert event.chain == chain_fingerprint(backends[1].wire_ders)
    assert event.details["summary"].endswith(
        "; vs the most common chain: same leaf; same intermediate key (Census Cross CA), "
        "cross-signed by Census Root G2 instead of Census Root G1"
    )


@contextlib.contextmanager
def pools_by_address(backends: dict[str, Backend | list[Backend]]):
    """One lab pool per loopback address, all on one port: a service whose addresses are
    different servers (DNS round robin over backends that each serve their own chain)."""
    with contextlib.ExitStack() as stack:
        port = 0
        for address, served in backends.items():
            pool = stack.enter_context(
                running_pool(
                    served if isinstance(served, list) else [served],
                    host=address,
                    port=port,
                    seed=11,
                )  # fmt: skip
            )
            port = pool.port
        yield port


def test_chains_split_by_address_are_said_as_such(cli, db, lab):
    two = {"127.0.0.2": Backend("a", lab["leaf"], [lab["ca"]]),
           "127.0.0.3": Backend("b", lab["leaf"], [lab["ca_cross"]])}  # fmt: skip
    with pools_by_address(two) as port:
        target = scan(cli, db, f"pool.test:{port}", "--ip", "127.0.0.2,127.0.0.3", "--count", 300)
    number = numbered(target)
    at = {address: number[chain_fingerprint(b.wire_ders)] for address, b in two.items()}
    sentence = target["coverage"]["sentence"]
    assert sentence.startswith(
        f"The chains split by address: 127.0.0.2 always served #{at['127.0.0.2']}, "
        f"127.0.0.3 always #{at['127.0.0.3']}. With 99% confidence, no chain served on more than "
    )
    assert sentence.endswith(" of connections to any one address was missed.")
    assert "assuming" not in sentence
    assert target["coverage"]["split"]["by"] == "address"


def test_randomness_is_assumed_only_where_chains_mix(cli, db, lab):
    mixed = [Backend("b", lab["leaf"], [lab["ca_cross"]]),
             Backend("c", lab["renewed_new_key"], [lab["ca"]])]  # fmt: skip
    layout = {"127.0.0.2": Backend("a", lab["leaf"], [lab["ca"]]), "127.0.0.3": mixed}
    with pools_by_address(layout) as port:
        target = scan(cli, db, f"pool.test:{port}", "--ip", "127.0.0.2,127.0.0.3", "--count", 400)
    number = numbered(target)
    alone = number[chain_fingerprint(layout["127.0.0.2"].wire_ders)]
    both = sorted(number[chain_fingerprint(b.wire_ders)] for b in mixed)
    sentence = target["coverage"]["sentence"]
    assert sentence.startswith(
        f"The chains split by address: 127.0.0.2 always served #{alone}, "
        f"127.0.0.3 served #{both[0]} and #{both[1]}. With 99% confidence"
    )
    assert sentence.endswith(
        "of connections to any one address was missed (assuming the balancer picks backends "
        "at random for 127.0.0.3)."
    )


pytest_server = pytest.mark.server


@pytest_server
def test_chains_split_by_sni_are_said_as_such(cli, db, lab, tmp_path):
    named = write_server_files(tmp_path, lab["leaf"], [lab["ca"]], "named")
    default_leaf = lab["pki"].leaf(["default.test"], lab["ca"], key_type="ec256")
    default = write_server_files(tmp_path, default_leaf, [lab["ca"]], "default")
    with nginx(tmp_path, [("default.test", [default]), ("pool.test", [named])]) as port:
        target = scan(cli, db, f"127.0.0.1:{port}", "--sni", "pool.test", "--profile",
                      "default,no-sni", "--count", 200)  # fmt: skip
    number = numbered(target)
    with_sni = number[chain_fingerprint([lab["leaf"].der, lab["ca"].der])]
    without = number[chain_fingerprint([default_leaf.der, lab["ca"].der])]
    parts = {with_sni: f"SNI pool.test always got #{with_sni}",
             without: f"no SNI always got #{without}"}  # fmt: skip
    first, second = parts[1], parts[2].replace("always got", "always")
    sentence = target["coverage"]["sentence"]
    assert sentence.startswith(f"The chains split by SNI: {first}, {second}. With 99% confidence")
    assert sentence.endswith("of connections in any one of the 2 ways we connected was missed.")


@pytest_server
def test_chains_split_by_profile_are_said_as_such(cli, db, pki, tmp_path):
    root = pki.root("Split Root")
    rsa_ca = pki.intermediate("Split RSA CA", root)
    ec_ca = pki.intermediate("Split ECDSA CA", root, key_type="ec256")
    rsa = write_server_files(tmp_path, pki.leaf("shop.test", rsa_ca), [rsa_ca], "rsa")
    ec = write_server_files(tmp_path, pki.leaf("shop.test", ec_ca, key_type="ec256"), [ec_ca], "ec")
    with nginx(tmp_path, [("shop.test", [rsa, ec])]) as port:
        target = scan(cli, db, f"127.0.0.1:{port}", "--sni", "shop.test", "--profile", "rsa,ecdsa",
                      "--count", 120)  # fmt: skip
    by_profile = {s["profile"]: numbered(target)[next(iter(s["chains"]))] for s in target["strata"]}
    order = sorted(by_profile, key=by_profile.get)
    sentence = target["coverage"]["sentence"]
    assert sentence.startswith(
        f"The chains split by ClientHello profile: profile {order[0]} always got "
        f"#{by_profile[order[0]]}, profile {order[1]} always #{by_profile[order[1]]}."
    )
    assert "assuming" not in sentence
