"""What is wrong with a chain as the server sends it, whatever the client trusts: SSL Labs'
"chain issues".

Computed for every chain of every census, with or without trust stores: malformed certificates,
duplicates, certificates not on the path (extra), the path out of order, the root sent (contains
anchor), an expired or not-yet-valid CA, a SHA-1 (or weaker) signature, a key too weak. One issue
needs to know CA certificates beyond what was sent: "incomplete" (the server does not send an
intermediate that clients need, so only clients that fetch it through AIA succeed); it is found
when an `issuers` lookup (the trust stores and the CA pool) is given.

The path as sent is followed from the leaf through the certificates the server sent, each issuer
chosen as OpenSSL chooses one (names, key identifiers, key type) and confirmed by its signature;
a malformed certificate stays on it (that it is malformed is an issue of its own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from certcensus.certs.readable import UnreadableCertificate
from certcensus.trust.certs import Cert, names_issuer
from certcensus.trust.signatures import is_weak_signature, signature_hash_name, signature_verifies
from certcensus.trust.verdict import key_is_weak, named


class Issue(StrEnum):
    MALFORMED_CERTIFICATE = "malformed-certificate"
    INCOMPLETE = "incomplete"
    INCORRECT_ORDER = "incorrect-order"
    EXTRA_CERTIFICATES = "extra-certificates"
    DUPLICATE_CERTIFICATES = "duplicate-certificates"
    CONTAINS_ANCHOR = "contains-anchor"
    EXPIRED_CA = "expired-ca"
    NOT_YET_VALID_CA = "not-yet-valid-ca"
    SHA1_SIGNATURE = "sha1-signature"
    WEAK_KEY = "weak-key"


@dataclass(frozen=True)
class ChainIssue:
    kind: Issue
    detail: str
    certificates: tuple[str, ...] = ()  # SHA-256 hex of the certificates it is about


@dataclass(frozen=True)
class ChainIssues:
    """The issues of one chain, and where the path as sent ends."""

    issues: tuple[ChainIssue, ...]
    path: tuple[int, ...]  # wire positions of the path as sent, leaf first
    root_sent: str | None  # RFC 4514 subject of the root the server sent, if it sent one
    ends_at_issuer: str | None  # when it sent none: the issuer the path as sent ends at

    def __iter__(self):
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    @property
    def kinds(self) -> list[Issue]:
        return [issue.kind for issue in self.issues]


Issuers = Callable[[Cert], list[Cert]]  # known certificates that could have issued this one


def _where(position: int) -> str:
    return "the leaf" if position == 0 else f"certificate #{position}"


def _path_as_sent(served: dict[int, Cert]) -> list[int]:
    path = [0]
    while True:
        top = served[path[-1]]
        if top.is_root:
            return path
        for position, cert in served.items():
            if position in path or cert == top or any(served[p] == cert for p in path):
                continue
            if names_issuer(cert, top) and signature_verifies(top, cert):
                path.append(position)
                break
        else:
            return path


def chain_issues(
    chain: list[bytes], at: dt.datetime | None = None, issuers: Issuers | None = None
) -> ChainIssues:
    """The issues of `chain` (DER, wire order) at time `at` (default: now)."""
    at = at or dt.datetime.now(dt.UTC)
    found: list[ChainIssue] = []
    served: dict[int, Cert] = {}
    for position, der in enumerate(chain):
        try:
            served[position] = Cert.from_der(der)
        except UnreadableCertificate as error:
            found.append(ChainIssue(Issue.MALFORMED_CERTIFICATE, f"{_where(position)} {error}"))
    for position, cert in served.items():
        for malformation in cert.malformations:
            found.append(
                ChainIssue(
                    Issue.MALFORMED_CERTIFICATE,
                    f"{malformation.detail} in {_where(position)} {named(cert)}",
                    (cert.sha256,),
                )
            )
    if 0 not in served:
        return ChainIssues(tuple(found), (), None, None)
    first_seen: dict[str, int] = {}
    for position, cert in served.items():
        if cert.sha256 in first_seen:
            found.append(
                ChainIssue(
                    Issue.DUPLICATE_CERTIFICATES,
                    f"{_where(position)} is a copy of {_where(first_seen[cert.sha256])} "
                    f"{named(cert)}",
                    (cert.sha256,),
                )
            )
        else:
            first_seen[cert.sha256] = position
    path = _path_as_sent(served)
    if path != sorted(path):
        found.append(
            ChainIssue(
                Issue.INCORRECT_ORDER,
                f"the certificates are sent out of order: the path runs through wire positions "
                f"{path}",
            )
        )
    on_path = [served[p] for p in path]
    related = {c.sha256 for c in on_path} | {c.identity for c in on_path}
    extra = [
        (p, c)
        for p, c in served.items()
        if p not in path and c.sha256 not in related and c.identity not in related
    ]
    if extra:
        found.append(
            ChainIssue(
                Issue.EXTRA_CERTIFICATES,
                "sent but not on the path: "
                + ", ".join(f"{_where(p)} {named(c)}" for p, c in extra),
                tuple(c.sha256 for _, c in extra),
            )
        )
    roots = [(p, served[p]) for p in path[1:] if served[p].is_root]
    for position, root in roots:
        found.append(
            ChainIssue(
                Issue.CONTAINS_ANCHOR,
                f"the server sends the root {named(root)} ({_where(position)}); clients "
                "use their own copy or none, so it only adds bytes",
                (root.sha256,),
            )
        )
    top = on_path[-1]
    cas = on_path[1:]
    if issuers is not None and not top.is_root:
        known = [c for c in issuers(top) if c != top and signature_verifies(top, c)]
        if known and not any(c.is_root for c in known):
            missing = known[0]
            urls = ", ".join(top.ca_issuers_urls)
            found.append(
                ChainIssue(
                    Issue.INCOMPLETE,
                    f"the intermediate {named(missing)} is not sent; only clients that fetch it "
                    f"(AIA{': ' + urls if urls else ''}) can build the path",
                    (missing.sha256,),
                )
            )
            cas.append(missing)
        elif known:
            cas.append(known[0])  # the root a client would use: its validity matters too
    for cert in cas:
        if at < cert.not_before:
            found.append(
                ChainIssue(
                    Issue.NOT_YET_VALID_CA,
                    f"CA {named(cert)} is not valid before {cert.not_before.isoformat()}",
                    (cert.sha256,),
                )
            )
        elif not cert.is_valid_at(at):
            found.append(
                ChainIssue(
                    Issue.EXPIRED_CA,
                    f"CA {named(cert)} expired {cert.not_after.isoformat()}",
                    (cert.sha256,),
                )
            )
    for position, cert in enumerate(on_path):
        if not (position == len(on_path) - 1 and cert.is_root) and is_weak_signature(cert):
            found.append(
                ChainIssue(
                    Issue.SHA1_SIGNATURE,
                    f"{named(cert)} is signed with {signature_hash_name(cert)}",
                    (cert.sha256,),
                )
            )
        if key_is_weak(cert):
            size = getattr(cert.public_key, "key_size", "?")
            found.append(
                ChainIssue(Issue.WEAK_KEY, f"{named(cert)} has a {size}-bit key", (cert.sha256,))
            )
    root_sent = next((c.subject.rfc4514_string() for _, c in roots), None)
    ends_at = None if root_sent or top.is_root else top.issuer.rfc4514_string()
    order = {kind: index for index, kind in enumerate(Issue)}
    return ChainIssues(
        tuple(sorted(found, key=lambda i: order[i.kind])), tuple(path), root_sent, ends_at
    )
