"""Record the censuses that tests/census/test_equivalence.py checks the streaming census against.

Run once, with the census code these fixtures are meant to pin (it was run at commit fea47c1,
the last one whose census kept every probe in memory):

    .venv/bin/python tests/census/recorded/record.py

For each lab pool (random, round-robin, per-address, source-port, time-window, and a target
that refuses) it runs a real `certcensus scan` against the pool on loopback into its own
SQLite file (schema as written by that code), then saves what `report --json` said and the
probe-by-probe timeline. The databases double as migration fixtures: opening one for writing
migrates it to the current schema.

A second kind of fixture is synthetic and larger (`synthetic.py`): the observations are made by
a seeded generator, so only the census it gave is stored here, not the database.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "src"))
sys.path.insert(0, str(HERE.parents[2]))

from certcensus.census.build import build_census  # noqa: E402
from certcensus.cli import main  # noqa: E402
from certcensus.lab.pki import PKI  # noqa: E402
from certcensus.lab.pool import Backend, running_pool  # noqa: E402
from certcensus.render.as_json import census_to_dict  # noqa: E402
from certcensus.render.html_timeline import timeline_of  # noqa: E402
from certcensus.store import open_store  # noqa: E402
from tests.census.recorded.synthetic import SYNTHETIC, write_synthetic  # noqa: E402

# (name, pool options, scan arguments)
POOLS = [
    ("random", {"choice": "random", "seed": 11}, ["--count", "300", "--rate", "0"]),
    (
        "round-robin",
        {"choice": "round-robin"},
        ["--count", "300", "--rate", "0", "--concurrency", "1"],
    ),
    (
        "per-address",
        {"choice": "per-address"},
        [
            "--count",
            "300",
            "--rate",
            "0",
            "--source-address",
            "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6",
        ],
    ),
    ("source-port", {"choice": "source-port"}, ["--count", "300", "--rate", "0"]),
    (
        "time-window",
        {"choice": "time-window", "window_seconds": 0.25},
        ["--count", "300", "--rate", "400", "--concurrency", "4"],
    ),
]


def backends(pki: PKI) -> list[Backend]:
    root = pki.root("Recorded Root", key_type="ec256")
    other_root = pki.root("Recorded Other Root", key_type="ec256")
    ca = pki.intermediate("Recorded CA 1", root, key_type="ec256")
    ca2 = pki.intermediate("Recorded CA 2", other_root, key_type="ec256")
    names = ["pool.test", "127.0.0.1"]
    return [
        Backend("a", pki.leaf(names, ca, key_type="ec256"), [ca], weight=0.6),
        Backend("b", pki.leaf(names, ca2, key_type="ec256"), [ca2], weight=0.3),
        Backend("c", pki.leaf(names, ca, key_type="ec256"), [ca, root], weight=0.1),
    ]


def run_cli(*args: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main([str(a) for a in args])
        except SystemExit as exit_:
            if exit_.code not in (0, None, 1):
                raise


def save(name: str, db: Path) -> None:
    with open_store(db, read_only=True) as store:
        census = build_census(store)
    record = {
        "census": census_to_dict(census),
        "timelines": {t.target: timeline_of(t) for t in census.targets},
    }
    with gzip.open(HERE / f"{name}.json.gz", "wt", encoding="utf-8") as file:
        json.dump(record, file, indent=0, sort_keys=True)


def main_(only: list[str]) -> None:
    pool_backends = backends(PKI())
    for name, options, scan_args in POOLS:
        if only and name not in only:
            continue
        db = HERE / f"{name}.sqlite"
        db.unlink(missing_ok=True)
        with running_pool(pool_backends, **options) as pool:
            host, port = pool.address
            target = f"{host}:{port}"
            run_cli("scan", target, "--starttls", "none", "-q", "--db", db, *scan_args)
            if name == "random":
                # A second target in the same database that refuses every connection.
                with running_pool(pool_backends) as gone:
                    closed = gone.port
                run_cli("scan", f"127.0.0.1:{closed}", "--starttls", "none", "-q", "--db", db,
                        "--count", "25", "--rate", "0", "--timeout", "1")  # fmt: skip
        save(name, db)
        print("recorded", name)
    for name in SYNTHETIC:
        if only and name not in only:
            continue
        db = HERE / f"{name}.tmp.sqlite"
        db.unlink(missing_ok=True)
        write_synthetic(name, db)
        save(name, db)
        db.unlink()
        for extra in HERE.glob(f"{name}.tmp.sqlite-*"):
            extra.unlink()
        print("recorded", name)


if __name__ == "__main__":
    main_(sys.argv[1:])
