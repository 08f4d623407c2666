"""Helpers for the export tests: an in-memory census store and openssl as the reference."""

from __future__ import annotations

import time
from pathlib import Path

from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store

from ..trust.trust_helpers import openssl_verifies_pems


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
    """`openssl verify -partial_chain -CAfile store.pem -untrusted served.pem leaf.pem`, now."""
    return openssl_verifies_pems(directory, ca_pems, served_pems)
