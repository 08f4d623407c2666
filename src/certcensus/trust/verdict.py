"""The verdict for one served chain and one trust store, in plain words.

Lenient `trusted` means "a path from the leaf to a store certificate exists, from what the server
sent, with every certificate valid at the given time": what `openssl verify -partial_chain` says.
The host name, weak algorithms, order and extra certificates are reported as problems but do not
make a lenient chain untrusted (old clients do not check them); strict mode does check the name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certcensus.trust.certs import Cert
from certcensus.trust.paths import CandidatePath, PathEnd, PathFinder
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore
from certcensus.trust.strict import verify_strictly


class Reason(StrEnum):
    TRUSTED = "trusted"
    MISSING_INTERMEDIATE = "missing-intermediate"
    MISSING_ROOT = "missing-root"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SIGNATURE = "bad-signature"
    POLICY = "policy"  # refused by the web PKI profile for a reason not listed here
    NAME_MISMATCH = "name-mismatch"
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    WRONG_ORDER = "wrong-order"
    EXTRA_CERTIFICATES = "extra-certificates"


# The first of these that applies is the chain's `reason`: what a user must fix first.
PRIORITY = list(Reason)[1:]
# Smallest key sizes still accepted by CA/B Forum Baseline Requirements 6.1.5.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
WEAK_HASHES = (hashes.SHA1, hashes.MD5)


@dataclass(frozen=True)
class Problem:
    reason: Reason
    detail: str
    certificates: list[str] = field(default_factory=list)  # SHA-256 hex of what it is about


@dataclass(frozen=True)
class ModeVerdict:
    """One mode's verdict (lenient or strict) for one chain and one store."""

    trusted: bool
    problems: list[Problem]
    path: list[str]  # SHA-256 hex of the path built, leaf first
    missing: list[str]  # SHA-256 hex of the path's certificates neither sent nor in the store
    anchor: str | None  # the subject of the root (or store certificate) the path ends at

    @property
    def reason(self) -> Reason:
        """The first problem a user must fix (see PRIORITY), or TRUSTED."""
        for reason in PRIORITY:
            if any(p.reason == reason for p in self.problems):
                return reason
        return Reason.TRUSTED

    @property
    def detail(self) -> str:
        """The words of the primary problem, or where a trusted path is anchored."""
        primary = next((p for p in self.problems if p.reason == self.reason), None)
        return primary.detail if primary else f"trusted, anchored at {self.anchor}"


@dataclass(frozen=True)
class StoreVerdict:
    """Both modes' verdicts for one chain and one store."""

    store: str
    lenient: ModeVerdict
    strict: ModeVerdict

    @property
    def trusted(self) -> bool:
        """What `trust`'s exit status and the alerts go by: the lenient verdict."""
        return self.lenient.trusted


def host_matches(leaf: Cert, host: str) -> bool:
    """RFC 6125 6.4: SAN dNSName (one left-most wildcard label) or iPAddress; CN if no SAN."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    host = host.rstrip(".").lower()
    try:
        san = leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        addresses = san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        dns_names = [
            str(a.value) for a in leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ]
        addresses = []
    if address is not None:
        return address in addresses
    for name in dns_names:
        name = str(name).rstrip(".").lower()
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _named(cert: Cert) -> str:
    return f'"{cert.display_name}" ({cert.sha256[:16]})'


def _time_problems(path: CandidatePath, at: dt.datetime) -> list[Problem]:
    problems = []
    for cert in path.invalid_at(at):
        if at < cert.not_before:
            problems.append(
                Problem(
                    Reason.NOT_YET_VALID,
                    f"{_named(cert)} is not valid before {cert.not_before.isoformat()}",
                    [cert.sha256],
                )
            )
        else:
            problems.append(
                Problem(
                    Reason.EXPIRED,
                    f"{_named(cert)} expired {cert.not_after.isoformat()}",
                    [cert.sha256],
                )
            )
    return problems


def _missing_problems(path: CandidatePath, served: list[Cert], store: TrustStore) -> list[Problem]:
    problems = []
    for cert in path.not_held(served, store):
        position = path.certs.index(cert)
        # The AIA of the certificate it issued says where a client could have fetched it.
        urls = ", ".join(path.certs[position - 1].ca_issuers_urls) if position else ""
        if path.end == PathEnd.ROOT and cert == path.last:
            problems.append(
                Problem(
                    Reason.MISSING_ROOT,
                    f"root {_named(cert)} is not in store {store.name}",
                    [cert.sha256],
                )
            )
        else:
            where = f", available from {urls}" if urls else ""
            problems.append(
                Problem(
                    Reason.MISSING_INTERMEDIATE,
                    f"intermediate {_named(cert)} was not sent by the server{where}",
                    [cert.sha256],
                )
            )
    if path.end == PathEnd.UNKNOWN_ISSUER:
        last = path.last
        aki = last.authority_key_identifier.hex(":") if last.authority_key_identifier else "none"
        urls = ", ".join(last.ca_issuers_urls) or "none"
        kind = Reason.MISSING_INTERMEDIATE if len(path.certs) == 1 else Reason.MISSING_ROOT
        noun = "intermediate" if kind == Reason.MISSING_INTERMEDIATE else "issuer"
        problems.append(
            Problem(
                kind,
                f'{noun} "{last.issuer.rfc4514_string()}" (AKI {aki}, '
                f"AIA caIssuers {urls}) of {_named(last)} is neither sent, "
                f"in store {store.name}, nor known",
                [],
            )
        )
    return problems


def _hygiene_problems(path: CandidatePath, served: list[Cert], host: str | None) -> list[Problem]:
    problems = []
    leaf = served[0]
    if host and not host_matches(leaf, host):
        problems.append(
            Problem(Reason.NAME_MISMATCH, f"{_named(leaf)} is not valid for {host}", [leaf.sha256])
        )
    for cert in path.certs:
        is_root = cert.is_self_issued and cert == path.last
        try:
            # None for Ed25519/Ed448, which hash internally and are not weak.
            algorithm = cert.certificate.signature_hash_algorithm
            weak, name = isinstance(algorithm, WEAK_HASHES), getattr(algorithm, "name", "")
        except UnsupportedAlgorithm:  # MD2, MD4, ...: older than anything cryptography names
            weak, name = True, cert.certificate.signature_algorithm_oid.dotted_string
        if not is_root and weak:
            problems.append(
                Problem(
                    Reason.WEAK_SIGNATURE, f"{_named(cert)} is signed with {name}", [cert.sha256]
                )
            )
        key = cert.certificate.public_key()
        if (isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS) or (
            isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS
        ):
            problems.append(
                Problem(
                    Reason.WEAK_KEY, f"{_named(cert)} has a {key.key_size}-bit key", [cert.sha256]
                )
            )
    # RFC 5246 7.4.2: "each following certificate MUST directly certify the one preceding it".
    # By CA identity: a cross-signed twin sent right after its sibling is an alternative, not
    # a misplaced certificate.
    positions = {c.identity: i for i, c in reversed(list(enumerate(served)))}
    used = [positions[c.identity] for c in path.certs if c.identity in positions]
    if used != list(range(len(used))):
        problems.append(
            Problem(
                Reason.WRONG_ORDER,
                "the server sent its certificates out of "
                f"order (wire positions {used} along the path)",
                [],
            )
        )
    related = {c.identity for c in path.certs} | {c.sha256 for c in path.certs}
    extra = [c for c in served[1:] if c.sha256 not in related and c.identity not in related]
    if extra:
        names = ", ".join(_named(c) for c in extra)
        problems.append(
            Problem(
                Reason.EXTRA_CERTIFICATES,
                f"the server sent certificates that are not on the path: {names}",
                [c.sha256 for c in extra],
            )
        )
    return problems


def lenient_verdict(
    served: list[Cert],
    store: TrustStore,
    pool: CAPool | None,
    at: dt.datetime,
    host: str | None = None,
) -> ModeVerdict:
    finder = PathFinder(served, store, pool, at)
    path = finder.best_path()
    problems = _missing_problems(path, served, store) + _time_problems(path, at)
    problems += _hygiene_problems(path, served, host)
    missing = [c.sha256 for c in path.not_held(served, store)]
    anchor = path.last.subject.rfc4514_string() if path.end != PathEnd.UNKNOWN_ISSUER else None
    return ModeVerdict(
        finder.is_trusted(path), problems, [c.sha256 for c in path.certs], missing, anchor
    )


def strict_verdict(
    served: list[Cert], store: TrustStore, at: dt.datetime, host: str | None, lenient: ModeVerdict
) -> ModeVerdict:
    result = verify_strictly(served, store, host, at)
    if result.trusted:
        return ModeVerdict(True, [], result.path, [], result.anchor)
    message = result.detail
    if "subjectAltName" in message:
        reason = Reason.NAME_MISMATCH
    elif "not valid at validation time" in message:
        reason = next(
            (
                p.reason
                for p in lenient.problems
                if p.reason in (Reason.EXPIRED, Reason.NOT_YET_VALID)
            ),
            Reason.EXPIRED,
        )
    elif "candidates exhausted with no interior errors" in message and not lenient.trusted:
        reason = lenient.reason  # the path is incomplete: the lenient builder says what is missing
        # cryptography's words for it; say it as a person would, the lenient reason follows.
        message = "no path to a root in the store"
    else:
        reason = Reason.POLICY
    problems = [Problem(reason, f"web PKI verifier: {message}", [])]
    problems += [p for p in lenient.problems if p.reason != reason]
    return ModeVerdict(False, problems, [], lenient.missing, lenient.anchor)


def chain_trust_verdicts(
    chain: list[bytes],
    stores: list[TrustStore],
    *,
    pool: CAPool | None = None,
    host: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, StoreVerdict]:
    """Each store's verdict on one chain (DER, wire order), by store name."""
    at = at or dt.datetime.now(dt.UTC)
    served = [Cert.from_der(der) for der in chain]
    verdicts = {}
    for store in stores:
        lenient = lenient_verdict(served, store, pool, at, host)
        strict = strict_verdict(served, store, at, host, lenient)
        verdicts[store.name] = StoreVerdict(store.name, lenient, strict)
    return verdicts
