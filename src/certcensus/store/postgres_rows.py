"""Writing probe rows into the PostgreSQL store: interning, then one COPY per batch.

A probe row holds integer keys for its strings (postgres_schema.py says why); `RowWriter`
keeps the keys it has learnt, and trusts the ones a transaction learnt only once it commits
(`learnt`), since a rolled-back transaction's keys do not exist. Each intern step inserts in
sorted order: two writers inserting overlapping rows then take their row locks in the same
order and cannot deadlock.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.observation import Observation

PROBE_COLUMNS = (
    "started_at", "connect_seconds", "starttls_seconds", "handshake_seconds", "run_id",
    "endpoint_key", "address_key", "outcome_key", "chain_key", "sni_key", "profile_key",
    "source_address_key", "source_port", "tls_version_key", "cipher_key", "source_key",
    "vantage_key", "server_identity_key", "server_identity_detail_key", "server_hello_key",
    "leaf_only", "detail",
)  # fmt: skip
PROBE_TYPES = ["float8"] * 4 + ["int4"] * 16 + ["bool", "text"]


@dataclass
class Keys:
    """Interned keys learnt inside one transaction: trusted only once it commits."""

    words: dict[str, int] = field(default_factory=dict)
    endpoints: dict[tuple[str, str, int, str], int] = field(default_factory=dict)
    chains: dict[str, int] = field(default_factory=dict)

    def update(self, other: Keys) -> None:
        self.words.update(other.words)
        self.endpoints.update(other.endpoints)
        self.chains.update(other.chains)


def text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; a server's words may."""
    return value.replace("\x00", "\\x00") if "\x00" in value else value


class RowWriter:
    def __init__(self) -> None:
        self.keys = Keys()

    def forget(self) -> None:
        """Drop every learnt key (they vanished: a fail-over to a replica that lacked them)."""
        self.keys = Keys()

    def learnt(self, keys: Keys) -> None:
        """Keys of a transaction that committed."""
        self.keys.update(keys)

    def insert(self, cursor: Any, run_id: int, observations: list[Observation], keys: Keys):
        """The rows of `observations`, inside the caller's transaction; new keys go to `keys`."""
        words: set[str] = set()
        endpoints: dict[tuple[str, str, int, str], None] = {}  # in order of first probe
        chains: dict[str, tuple[bytes, ...]] = {}
        for obs in observations:
            words.update((obs.address, str(obs.outcome), obs.profile, obs.source))
            words.update(
                w for w in (obs.sni, obs.source_address, obs.tls_version, obs.cipher, obs.vantage,
                            obs.server_identity, obs.server_identity_detail or None,
                            obs.server_hello)
                if w is not None
            )  # fmt: skip
            endpoints.setdefault((obs.target, obs.host, obs.port, obs.protocol), None)
            if obs.chain:
                chains.setdefault(chain_fingerprint(obs.chain), obs.chain)
        self._intern_words(cursor, words, keys)
        self._intern_endpoints(cursor, list(endpoints), keys)
        self._intern_chains(cursor, chains, keys)
        word = ChainMap(keys.words, self.keys.words)
        endpoint = ChainMap(keys.endpoints, self.keys.endpoints)
        chain = ChainMap(keys.chains, self.keys.chains)

        def key(value: str | None) -> int | None:
            return None if value is None else word[text(value)]

        cursor.execute(
            "INSERT INTO run_endpoints (run_id, endpoint_key) "
            "SELECT %s, key FROM unnest(%s::int[]) WITH ORDINALITY AS e(key, n) ORDER BY n "
            "ON CONFLICT DO NOTHING",
            (run_id, [endpoint[e] for e in endpoints]),
        )
        with cursor.copy(
            f"COPY probes ({', '.join(PROBE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(PROBE_TYPES)
            for obs in observations:
                copy.write_row(
                    (
                        obs.started_at, obs.connect_seconds, obs.starttls_seconds,
                        obs.handshake_seconds, run_id,
                        endpoint[(obs.target, obs.host, obs.port, obs.protocol)],
                        key(obs.address), key(str(obs.outcome)),
                        chain[chain_fingerprint(obs.chain)] if obs.chain else None,
                        key(obs.sni), key(obs.profile), key(obs.source_address), obs.source_port,
                        key(obs.tls_version), key(obs.cipher), key(obs.source), key(obs.vantage),
                        key(obs.server_identity), key(obs.server_identity_detail or None),
                        key(obs.server_hello), obs.leaf_only, text(obs.detail),
                    )
                )  # fmt: skip

    # Each intern step inserts in sorted order: two writers inserting overlapping rows then
    # take their row locks in the same order and cannot deadlock.

    def _intern_words(self, cursor: Any, words: set[str], keys: Keys) -> None:
        unknown = sorted({text(w) for w in words} - self.keys.words.keys())
        if not unknown:
            return
        cursor.execute(
            "INSERT INTO words (word) SELECT w FROM unnest(%s::text[]) AS w ORDER BY w "
            "ON CONFLICT (word) DO NOTHING",
            (unknown,),
        )
        cursor.execute("SELECT word, word_key FROM words WHERE word = ANY(%s)", (unknown,))
        keys.words.update(cursor.fetchall())

    def _intern_endpoints(self, cursor: Any, endpoints: list, keys: Keys) -> None:
        unknown = sorted(set(endpoints) - self.keys.endpoints.keys())
        if not unknown:
            return
        columns = [list(column) for column in zip(*unknown)]
        cursor.execute(
            "INSERT INTO endpoints (target, host, port, protocol) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[]) "
            "ORDER BY 1, 2, 3, 4 ON CONFLICT DO NOTHING",
            columns,
        )
        cursor.execute(
            "SELECT target, host, port, protocol, endpoint_key FROM endpoints "
            "WHERE target = ANY(%s)",
            (columns[0],),
        )
        wanted = set(unknown)
        for target, host, port, protocol, endpoint_key in cursor.fetchall():
            if (target, host, port, protocol) in wanted:
                keys.endpoints[(target, host, port, protocol)] = endpoint_key

    def _intern_chains(self, cursor: Any, chains: dict[str, tuple[bytes, ...]], keys: Keys):
        unknown = sorted(chains.keys() - self.keys.chains.keys())
        if not unknown:
            return
        certificates = {
            certificate_fingerprint(der): der for chain_id in unknown for der in chains[chain_id]
        }
        shas = sorted(certificates)
        cursor.execute(
            "INSERT INTO certificates (sha256, der) SELECT * FROM unnest(%s::text[], %s::bytea[]) "
            "ORDER BY 1 ON CONFLICT DO NOTHING",
            (shas, [certificates[sha] for sha in shas]),
        )
        cursor.execute("SELECT sha256, cert_key FROM certificates WHERE sha256 = ANY(%s)", (shas,))
        cert_keys = dict(cursor.fetchall())
        cursor.execute(
            "INSERT INTO chains (chain_id, length) SELECT * FROM unnest(%s::text[], %s::int[]) "
            "ORDER BY 1 ON CONFLICT DO NOTHING RETURNING chain_id, chain_key",
            (unknown, [len(chains[c]) for c in unknown]),
        )
        new = dict(cursor.fetchall())  # only the chains this transaction added
        links = [
            (chain_key, position, cert_keys[certificate_fingerprint(der)])
            for chain_id, chain_key in sorted(new.items())
            for position, der in enumerate(chains[chain_id])
        ]
        if links:
            cursor.executemany(
                "INSERT INTO chain_certificates (chain_key, position, cert_key) "
                "VALUES (%s, %s, %s)",
                links,
            )
        cursor.execute(
            "SELECT chain_id, chain_key FROM chains WHERE chain_id = ANY(%s)", (unknown,)
        )
        keys.chains.update(cursor.fetchall())
