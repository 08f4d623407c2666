"""Helpers for the export tests: an in-memory census store and openssl as the reference."""

from __future__ import annotations

import subprocess
from pathlib import Path

from certcensus.chain import chain_fingerprint
from certcensus.outcomes import Outcome
from certcensus.store.base import RunInfo, Store, StoredProbe


class MemoryStore(Store):
    """Just enough of the Store interface for the trust and export commands."""

    def __init__(self, chains_by_target: dict[str, list[list[bytes]]]):
        self._chains = {chain_fingerprint(c): c for cs in chains_by_target.values() for c in cs}
        self._probes = []
        for target, chains in chains_by_target.items():
            host = target.rsplit(":", 1)[0]
            for chain in chains:
                self._probes.append(
                    StoredProbe(
                        len(self._probes) + 1,
                        1,
                        target,
                        host,
                        443,
                        "tls",
                        "127.0.0.1",
                        0.0,
                        Outcome.OK,
                        "",
                        chain_fingerprint(chain),
                        host,
                        "default",
                        None,
                        None,
                        "TLSv1.3",
                        None,
                        None,
                        None,
                        None,
                        "probe",
                    )
                )
        self._targets = list(chains_by_target)

    def start_run(self, command, targets):
        raise NotImplementedError

    def finish_run(self, run_id):
        raise NotImplementedError

    def add(self, run_id, observation):
        raise NotImplementedError

    def flush(self):
        pass

    def close(self):
        pass

    def runs(self):
        return [RunInfo(1, "scan", 0.0, 1.0, tuple(self._targets))]

    def targets(self, run_ids=None):
        return list(self._targets)

    def probes(self, target, run_ids=None):
        return iter([p for p in self._probes if p.target == target])

    def chain_certificates(self, chain_id):
        return list(self._chains[chain_id])

    def certificate(self, sha256):
        return None

    def find_chains(self, prefix):
        return [c for c in self._chains if c.startswith(prefix)]


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
