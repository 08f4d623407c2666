"""Helpers for the export tests: an in-memory census store and openssl as the reference."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from certcensus.observation import Observation
from certcensus.outcomes import Outcome
from certcensus.store.sqlite import open_store


def write_census_db(path: Path, chains_by_target: dict[str, list[list[bytes]]]) -> Path:
    """A real census database holding one successful probe per chain, written by the store."""
    with open_store(path) as store:
        run = store.start_run("scan", list(chains_by_target))
        for target, chains in chains_by_target.items():
            host = target.rsplit(":", 1)[0]
            for chain in chains:
                store.add(run, Observation(
                    target=target, host=host, port=443, protocol="tls", address="127.0.0.1",
                    started_at=time.time(), outcome=Outcome.OK, chain=tuple(chain), sni=host,
                    tls_version="TLSv1.3",
                ))  # fmt: skip
        store.finish_run(run)
    return path


def openssl_verifies(directory: Path, ca_pems: list[bytes], served_pems: list[bytes]) -> bool:
    """`openssl verify -partial_chain -CAfile store.pem -untrusted served.pem leaf.pem`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "store.pem").write_bytes(b"".join(ca_pems))
    (directory / "served.pem").write_bytes(b"".join(served_pems))
    (directory / "leaf.pem").write_bytes(served_pems[0])
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-partial_chain",
            "-CAfile",
            str(directory / "store.pem"),
            "-untrusted",
            str(directory / "served.pem"),
            str(directory / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode == 0
