"""A schema 4 SQLite database (issue 16's integer keys, before vantages), for the migration test.

Recorded once with the store code that wrote schema 4 (main at commit 1c27e42, issue 16 merged):

    git archive 1c27e42 src | tar -x -C /tmp/schema4
    PYTHONPATH=/tmp/schema4/src .venv/bin/python tests/store/recorded/schema4.py

It writes `observations()` (seeded, so the test can make them again) through that code's store
into schema4.sqlite: two runs, two targets, three chains, failures, a leaf-only capture, backend
identities and ServerHello fingerprints, several flushes (so several columnar chunks).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILE = HERE / "schema4.sqlite"


def chains() -> list[tuple[bytes, ...]]:
    """Three made-up chains (the store keeps any bytes; nothing here parses them)."""
    return [(b"leaf-one", b"ca"), (b"leaf-two", b"ca"), (b"leaf-three", b"other ca", b"root")]


def observations():
    """(run number, Observation) pairs, in the order they are added."""
    from certcensus.model.observation import Observation
    from certcensus.model.outcomes import Outcome

    rng = random.Random(4)
    made = []
    for index in range(2500):  # more than FLUSH_BATCH (2,000): two chunks in the first run
        run = 0 if index < 2200 else 1
        target = "a.test:443" if index % 5 else "b.test:25"
        host, _, port = target.rpartition(":")
        outcome = Outcome.TIMEOUT if index % 97 == 0 else Outcome.OK
        chain = () if outcome is not Outcome.OK else chains()[rng.choice((0, 0, 1, 2))]
        made.append(
            (
                run,
                Observation(
                    target=target, host=host, port=int(port),
                    protocol="tls" if port == "443" else "smtp",
                    address=f"127.0.0.{1 + index % 2}", started_at=1_700_000_000.0 + index * 0.5,
                    outcome=outcome, chain=chain,
                    detail="no answer during handshake" if outcome is Outcome.TIMEOUT else "",
                    sni=host if index % 3 else None, source_port=30000 + index,
                    tls_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                    connect_seconds=0.001, handshake_seconds=0.004,
                    leaf_only=index == 7,
                    server_identity=f"mx{index % 4}.b.test" if port == "25" else None,
                    server_hello="13_1302_002b-0033" if outcome is Outcome.OK else None,
                ),
            )
        )  # fmt: skip
    return made


def main() -> None:
    from certcensus.store import open_store
    from certcensus.store.sqlite import SCHEMA_VERSION

    if SCHEMA_VERSION != 4:
        sys.exit(f"this records schema 4; the code on the path writes {SCHEMA_VERSION}")
    FILE.unlink(missing_ok=True)
    with open_store(FILE) as store:
        runs = [store.start_run("scan", ["a.test:443", "b.test:25"]) for _ in range(2)]
        for run, observation in observations():
            store.add(runs[run], observation)
        for run in runs:
            store.finish_run(run)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2]))
    main()
