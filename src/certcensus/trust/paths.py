"""The lenient path builder: every way from a leaf to an anchor, on `cryptography` primitives.

Written by hand because `cryptography`'s verifier (see strict.py) applies the CA/Browser Forum
profile and stops at the first failure; old clients (GSKit, Java, OpenSSL) accept v1 roots,
SHA-1 legacy roots and roots without keyUsage, and a census must say *which* certificate is
missing, not only that validation failed. The search follows RFC 4158: candidates by name and
key identifier (sections 3.5.12, 3.5.15), trust-store candidates first (OpenSSL's trusted-first),
backtracking across cross-signs, with a depth and a work budget so a hostile pool cannot make
it loop or explode.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from certcensus.trust.certs import Cert
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore

# Real web PKI paths have 3-4 certificates; cross-sign chains reach 5-6. OpenSSL's default
# verify depth is 100, but 10 is ample and keeps a hostile pool's search small.
MAX_PATH_LENGTH = 10
# Complete paths collected before the search stops: enough for every cross-sign combination
# seen in practice (RFC 4158 section 2.4's "bridge" meshes are the worst case).
MAX_PATHS = 64
# Issuer candidates examined in one search, whatever the shape of the graph.
MAX_STEPS = 4096


class PathEnd(StrEnum):
    ANCHORED = "anchored"  # the last certificate is in the trust store
    ROOT = "root"  # the last certificate is a self-issued root the store does not hold
    UNKNOWN_ISSUER = "unknown-issuer"  # no certificate we know issued the last one


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


def signature_verifies(child: Cert, issuer: Cert) -> bool:
    """Did `issuer`'s key sign `child`? Accepts SHA-1 and other legacy algorithms on purpose.

    `verify_directly_issued_by` refuses SHA-1 ("Unsupported signature algorithm") in
    cryptography 50; old roots and their intermediates still use it, and the clients we model
    accept them, so fall back to the public key's own verify with the certificate's algorithm.
    """
    certificate = child.certificate
    try:
        certificate.verify_directly_issued_by(issuer.certificate)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    if child.issuer_der != issuer.subject_der:
        return False
    try:
        key = issuer.certificate.public_key()
        signature, data = certificate.signature, certificate.tbs_certificate_bytes
        parameters = certificate.signature_algorithm_parameters
        algorithm = certificate.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            if not isinstance(parameters, (padding.PSS, padding.PKCS1v15)) or algorithm is None:
                return False
            key.verify(signature, data, parameters, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            # cryptography gives no parameters for ECDSA-with-SHA1: build them from the hash.
            if not isinstance(parameters, ec.ECDSA):
                if algorithm is None:
                    return False
                parameters = ec.ECDSA(algorithm)
            key.verify(signature, data, parameters)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey):
            if algorithm is None:
                return False
            key.verify(signature, data, algorithm)
        else:
            return False
        return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


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
            groups.append(list(self.store.by_subject.get(child.issuer_der, ())))
        groups.append([c for c in self.served if c.subject_der == child.issuer_der])
        if self.pool is not None:
            groups.append(self.pool.with_subject(child.issuer_der))
        seen: set[str] = set()
        ordered: list[Cert] = []
        for group in groups:
            # Within a source, prefer certificates valid now, then the newest: what OpenSSL's
            # find_issuer and RFC 4158 section 3.5.6 suggest.
            group = sorted(
                group, key=lambda c: (not c.is_valid_at(self.at), -c.not_before.timestamp())
            )
            for cert in group:
                if cert.sha256 in seen or cert == child or not cert.is_ca:
                    continue
                # RFC 5280 4.2.1.1: AKI keyIdentifier names the issuer's SKI; skip mismatches.
                if (
                    child.authority_key_identifier
                    and cert.subject_key_identifier
                    and child.authority_key_identifier != cert.subject_key_identifier
                ):
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
        if current.is_self_issued and (len(path) > 1 or self._verifies(current, current)):
            paths.append(CandidatePath(tuple(path), PathEnd.ROOT))
            return
        extended = False
        if len(path) < MAX_PATH_LENGTH:
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
        end_rank = {PathEnd.ANCHORED: 0, PathEnd.ROOT: 1, PathEnd.UNKNOWN_ISSUER: 2}[path.end]
        return (
            path.end == PathEnd.UNKNOWN_ISSUER,
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
