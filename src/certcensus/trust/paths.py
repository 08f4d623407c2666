"""Every way from a leaf to an anchor: the candidate paths a missing-CA kit chooses among.

The lenient verdict itself follows the one chain OpenSSL builds (openssl_chain.py). To say which
CA certificates a store must gain, every alternative matters (a cross-sign the server did not
send, a root only another store holds), so this search backtracks. It follows RFC 4158:
candidates by name and key identifier (sections 3.5.12, 3.5.15, with OpenSSL's rules for both),
trust-store candidates first, backtracking across cross-signs, with a depth and a work budget so
a hostile pool cannot make it loop or explode. Written by hand because no library enumerates
paths; `cryptography`'s verifier returns one path or a refusal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from certcensus.trust.certs import Cert, likely_issued
from certcensus.trust.openssl_chain import MAX_PATH_LENGTH
from certcensus.trust.pool import CAPool
from certcensus.trust.signatures import signature_verifies
from certcensus.trust.stores import TrustStore

# Complete paths collected before the search stops: enough for every cross-sign combination
# seen in practice (RFC 4158 section 2.4's "bridge" meshes are the worst case).
MAX_PATHS = 64
# Issuer candidates examined in one search, whatever the shape of the graph.
MAX_STEPS = 4096


class PathEnd(StrEnum):
    ANCHORED = "anchored"  # the last certificate is in the trust store
    ROOT = "root"  # the last certificate is a self-signed root the store does not hold
    UNKNOWN_ISSUER = "unknown-issuer"  # no certificate we know issued the last one
    TOO_LONG = "too-long"  # MAX_PATH_LENGTH certificates and still no anchor


@dataclass(frozen=True)
class CandidatePath:
    certs: tuple[Cert, ...]  # leaf first; when anchored, the last one is the store's certificate
    end: PathEnd

    @property
    def last(self) -> Cert:
        return self.certs[-1]

    def invalid_at(self, when: dt.datetime) -> list[Cert]:
        return [c for c in self.certs if not c.is_valid_at(when)]

    def not_held(self, served: list[Cert], store: TrustStore | None) -> list[Cert]:
        """Certificates of this path the client lacks: neither sent nor in the store, and the
        root of a path that does not reach the store (sending a root does not make it trusted)."""
        # By exact certificate: a newer twin of a served cross-sign is still something the
        # client does not have.
        served_ids = {c.sha256 for c in served}
        missing = []
        for cert in self.certs:
            if cert.sha256 in served_ids:
                continue
            if store is not None and store.anchor_for(cert) is not None:
                continue
            missing.append(cert)
        if self.end == PathEnd.ROOT and self.last not in missing:
            missing.append(self.last)
        return missing


class PathFinder:
    """All candidate paths for one served chain against one store, and the best of them."""

    def __init__(
        self, served: list[Cert], store: TrustStore | None, pool: CAPool | None, at: dt.datetime
    ):
        if not served:
            raise ValueError("a chain needs at least its leaf")
        self.served = served
        self.store = store
        self.pool = pool
        self.at = at
        self._verified: dict[tuple[str, str], bool] = {}
        self._steps = 0
        self._found_trusted = False

    def _issuer_candidates(self, child: Cert) -> list[Cert]:
        groups: list[list[Cert]] = []
        if self.store is not None:
            groups.append(list(self.store.by_name(child.issuer_key)))
        groups.append([c for c in self.served if c.subject_key == child.issuer_key])
        if self.pool is not None:
            groups.append(self.pool.with_subject(child.issuer_key))
        seen: set[str] = set()
        ordered: list[Cert] = []
        for group in groups:
            # Within a source, prefer certificates valid now, then the newest: what OpenSSL's
            # find_issuer and RFC 4158 section 3.5.6 suggest.
            group = sorted(
                group, key=lambda c: (not c.is_valid_at(self.at), -c.not_before.timestamp())
            )
            for cert in group:
                if cert.sha256 in seen or cert == child or not likely_issued(cert, child):
                    continue
                seen.add(cert.sha256)
                ordered.append(cert)
        return ordered

    def _verifies(self, child: Cert, issuer: Cert) -> bool:
        key = (child.sha256, issuer.sha256)
        if key not in self._verified:
            self._verified[key] = signature_verifies(child, issuer)
        return self._verified[key]

    def candidate_paths(self) -> list[CandidatePath]:
        """Every path found, in search order, stopping early at the first trusted one (no other
        path can rank better, and the search is the expensive part)."""
        paths: list[CandidatePath] = []
        self._steps = 0
        self._found_trusted = False
        leaf = self.served[0]
        self._walk([leaf], {leaf.identity}, paths)
        return paths

    def _walk(self, path: list[Cert], identities: set, paths: list[CandidatePath]) -> None:
        if len(paths) >= MAX_PATHS or self._found_trusted:
            return
        current = path[-1]
        anchor = self.store.anchor_for(current) if self.store is not None else None
        if anchor is not None:
            paths.append(CandidatePath(tuple(path[:-1] + [anchor]), PathEnd.ANCHORED))
            self._found_trusted = self.is_trusted(paths[-1])
            return
        if current.is_root:
            paths.append(CandidatePath(tuple(path), PathEnd.ROOT))
            return
        if len(path) >= MAX_PATH_LENGTH:
            paths.append(CandidatePath(tuple(path), PathEnd.TOO_LONG))
            return
        extended = False
        for candidate in self._issuer_candidates(current):
            self._steps += 1
            if self._steps > MAX_STEPS or len(paths) >= MAX_PATHS or self._found_trusted:
                break
            # Loop safety: a CA (subject and key) appears at most once per path, so mutual
            # cross-signs cannot cycle (RFC 4158 section 5.2).
            if candidate.identity in identities or not self._verifies(current, candidate):
                continue
            extended = True
            self._walk(path + [candidate], identities | {candidate.identity}, paths)
        if not extended and not self._found_trusted:
            paths.append(CandidatePath(tuple(path), PathEnd.UNKNOWN_ISSUER))

    def rank(self, path: CandidatePath) -> tuple:
        """Smaller is better: complete, then time-valid, then anchored, then fewest missing."""
        end_rank = {PathEnd.ANCHORED: 0, PathEnd.ROOT: 1, PathEnd.UNKNOWN_ISSUER: 2}.get(
            path.end, 3
        )
        return (
            path.end in (PathEnd.UNKNOWN_ISSUER, PathEnd.TOO_LONG),
            len(path.invalid_at(self.at)),
            end_rank,
            len(path.not_held(self.served, self.store)),
            len(path.certs),
        )

    def best_path(self, paths: list[CandidatePath] | None = None) -> CandidatePath:
        paths = self.candidate_paths() if paths is None else paths
        return min(paths, key=self.rank)  # min is stable: the first found wins ties (trusted-first)

    def is_trusted(self, path: CandidatePath) -> bool:
        return (
            path.end == PathEnd.ANCHORED
            and not path.invalid_at(self.at)
            and not path.not_held(self.served, self.store)
        )
