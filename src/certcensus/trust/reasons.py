"""What a verdict says: the reasons a chain is not trusted, the problems that carry them, and
each mode's and store's verdict (the types every rendering, alert and metric reads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from certcensus.trust.certs import Cert


class Reason(StrEnum):
    """Why a chain is not trusted (or what else is wrong), most urgent first."""

    TRUSTED = "trusted"
    MALFORMED_CERTIFICATE = "malformed-certificate"
    MISSING_INTERMEDIATE = "missing-intermediate"
    MISSING_ROOT = "missing-root"
    PATH_TOO_LONG = "path-too-long"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SIGNATURE = "bad-signature"
    NOT_A_CA = "not-a-ca"
    KEY_USAGE = "key-usage"
    PATH_LENGTH = "path-length"
    NAME_CONSTRAINTS = "name-constraints"
    WRONG_PURPOSE = "wrong-purpose"
    CRITICAL_EXTENSION = "unhandled-critical-extension"
    NAME_MISMATCH = "name-mismatch"
    POLICY = "policy"  # refused by the web PKI profile for a reason not listed here
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    WRONG_ORDER = "wrong-order"
    EXTRA_CERTIFICATES = "extra-certificates"


# The first of these that applies is the chain's `reason`: what a user must fix first.
PRIORITY = list(Reason)[1:]
# Reported, but never what makes a lenient chain untrusted (OpenSSL accepts all of them).
ADVISORY = frozenset(
    {Reason.WEAK_SIGNATURE, Reason.WEAK_KEY, Reason.WRONG_ORDER, Reason.EXTRA_CERTIFICATES}
)
# Smallest key sizes still accepted by CA/B Forum Baseline Requirements 6.1.5.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256


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


def named(cert: Cert) -> str:
    return f'"{cert.display_name}" ({cert.sha256[:16]})'


def key_is_weak(cert: Cert) -> bool:
    key = cert.public_key
    return (
        (isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS)
        or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS)
        or (isinstance(key, dsa.DSAPublicKey) and key.key_size < MIN_RSA_BITS)
    )
