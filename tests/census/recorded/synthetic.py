"""Seeded, larger censuses for the equivalence test: patterns at sizes where the streaming
census's vectorised tests and bounded timeline matter (tens of thousands of probes).

Each scenario writes the same observations every time (random.Random(seed), fixed clock), through
the public Store interface, so the census recorded from the old code can be compared with the
census the current code builds from a freshly written store. The chains are real certificates,
made once and kept in `synthetic_chains.json` (base64 DER, wire order).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store

HERE = Path(__file__).resolve().parent
CHAINS_FILE = HERE / "synthetic_chains.json"
START = 1_790_000_000.0  # a fixed Unix time (2026-09-21)


def chains() -> list[tuple[bytes, ...]]:
    if not CHAINS_FILE.exists():
        from certcensus.lab.pki import PKI

        pki = PKI()
        root = pki.root("Synthetic Root", key_type="ec256")
        cas = [pki.intermediate(f"Synthetic CA {i}", root, key_type="ec256") for i in range(3)]
        made = []
        for i in range(5):
            ca = cas[i % 3]
            leaf = pki.leaf([f"s{i}.test", "synthetic.test"], ca, key_type="ec256")
            made.append([leaf.der, ca.der] + ([root.der] if i == 4 else []))
        CHAINS_FILE.write_text(
            json.dumps([[base64.b64encode(d).decode() for d in chain] for chain in made], indent=1)
        )
    data = json.loads(CHAINS_FILE.read_text())
    return [tuple(base64.b64decode(d) for d in chain) for chain in data]


def _observation(target: str, at: float, chain=(), **extra) -> Observation:
    host, _, port = target.rpartition(":")
    values = dict(
        target=target, host=host, port=int(port), protocol="tls", address="127.0.0.1",
        started_at=at, outcome=Outcome.OK, chain=tuple(chain), sni=host, profile="default",
        tls_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", connect_seconds=0.0004,
        handshake_seconds=0.002,
    )  # fmt: skip
    values.update(extra)
    if values["outcome"] is not Outcome.OK:
        values["chain"] = ()
    return Observation(**values)


def _failure(rng: random.Random) -> dict:
    phase = rng.choice(["connect", "handshake"])
    return {"outcome": Outcome.TIMEOUT, "detail": f"no answer within 1s during {phase}"}


def round_robin_noisy(rng: random.Random, cs):
    """4 chains in strict rotation, 3% of probes get a random one, 1% time out."""
    for i in range(30_000):
        at = START + i * 0.01 + rng.random() * 0.001
        port = 20_000 + rng.randrange(28_000)
        if rng.random() < 0.01:
            yield _observation("rr.test:443", at, source_port=port, **_failure(rng))
            continue
        chain = cs[i % 4] if rng.random() > 0.03 else rng.choice(cs[:4])
        yield _observation("rr.test:443", at, chain, source_port=port)


def windows(rng: random.Random, cs):
    """A rolling deployment: the chain changes every ~200 probes, two addresses."""
    for i in range(20_000):
        at = START + i * 0.05
        block = (i // 200) % 3
        chain = cs[block] if rng.random() > 0.02 else cs[3]
        address = "127.0.0.1" if i % 2 else "127.0.0.2"
        yield _observation("window.test:443", at, chain, address=address,
                           source_port=30_000 + rng.randrange(20_000))  # fmt: skip


def weighted_random(rng: random.Random, cs):
    """A genuinely random balancer over 3 chains (one rare) in 8 strata, ports reused; some
    failures and leaf-only captures; two targets."""
    addresses = ["127.0.0.1", "127.0.0.2"]
    sources = ["127.0.1.1", "127.0.1.2"]
    for i in range(40_000):
        at = START + i * 0.02
        draw = rng.random()
        chain = cs[0] if draw < 0.7 else cs[1] if draw < 0.985 else cs[2]
        extra = dict(
            address=addresses[i % 2], source_address=sources[(i // 2) % 2],
            sni=None if i % 7 == 0 else "random.test", source_port=40_000 + rng.randrange(300),
        )  # fmt: skip
        if rng.random() < 0.02:
            extra.update(_failure(rng))
        yield _observation("random.test:443", at, chain, **extra)
        if i % 1000 == 0:
            yield _observation("random.test:443", at + 0.001, cs[0][:1], leaf_only=True,
                               source="capture.pem")  # fmt: skip
        if i % 50 == 0:
            yield _observation(
                "other.test:8443", at + 0.002, cs[4], source_port=rng.randrange(60_000)
            )


def port_parity(rng: random.Random, cs):
    """An L4 hash on the low bit of the source port, 10% of connections elsewhere."""
    for i in range(20_000):
        port = 32_768 + rng.randrange(28_000)
        chain = cs[port % 2] if rng.random() > 0.1 else cs[2]
        yield _observation("parity.test:443", START + i * 0.01, chain, source_port=port)


def address_sticky(rng: random.Random, cs):
    """Sticky by client address: 4 source addresses, each always gets its backend's chain.
    (1,200 probes: with many more, the census of fea47c1 failed on it, math.log(0) in the
    determinism test; the current one does not, see test_equivalence.py.)"""
    sources = [f"127.0.2.{n}" for n in range(1, 5)]
    for i in range(1_200):
        source = sources[rng.randrange(4)]
        chain = cs[sources.index(source) % 3]
        yield _observation("sticky.test:443", START + i * 0.01, chain, source_address=source,
                           source_port=30_000 + rng.randrange(20_000))  # fmt: skip


SYNTHETIC = {
    "synthetic-round-robin": (1, round_robin_noisy),
    "synthetic-time-window": (2, windows),
    "synthetic-random": (3, weighted_random),
    "synthetic-port-parity": (4, port_parity),
    "synthetic-address-sticky": (5, address_sticky),
}


def write_synthetic(name: str, db) -> None:
    seed, scenario = SYNTHETIC[name]
    rng = random.Random(seed)
    cs = chains()
    with open_store(db) as store:
        run = store.start_run("synthetic", [])
        seen: dict[str, None] = {}
        for observation in scenario(rng, cs):
            seen.setdefault(observation.target)
            store.add(run, observation)
        store.set_run_targets(run, list(seen))
        store.finish_run(run)
