"""Two chains side by side: which certificates changed and how, then field by field.

Certificates are paired by what they *are*, not by where they sit: first the same certificate
(by fingerprint), then the same subject and key (a renewal with the same key, or a cross-sign:
the same CA key certified by another issuer), then the leaves, then the same subject with a new
key, and last the certificates that play the same part in the path (the leaf's issuer, its
issuer, ...), which were replaced. What is left was added or is no longer sent. Pairing by
position alone would call an inserted certificate "intermediate 1 replaced, intermediate 2
added" and a reordered chain "everything replaced".

Each pair's phrase says what happened in the words an operator uses ("same intermediate key,
cross-signed by Root G2 instead of Root G1"; "leaf renewed with the same key"; "intermediate
replaced by a different CA: CA-1 -> CA G2"; "only the order changed"). The console, `diff`,
ingest's baseline comparison and watch alerts all say these phrases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509

from certcensus.certs.fields import FieldDifference, certificate_field_differences, spki_sha256
from certcensus.certs.info import CertificateInfo, describe_certificate, short_name
from certcensus.model.chain import chain_fingerprint

# What happened to one certificate between chain A and chain B.
SAME = "same"  # the very same certificate (maybe at another position: see `moved`)
REISSUED = "reissued"  # same subject and key, a new certificate (renewal with the same key)
CROSS_SIGNED = "cross-signed"  # a CA's same subject and key, certified by another issuer
REKEYED = "rekeyed"  # same subject, a new key (a leaf renewed with a new key, a CA re-keyed)
REPLACED = "replaced"  # another certificate in the same part of the path
ADDED = "added"  # in B only
REMOVED = "removed"  # in A only
CHANGES = (SAME, REISSUED, CROSS_SIGNED, REKEYED, REPLACED, ADDED, REMOVED)


@dataclass
class PositionDiff:
    """One certificate of A paired with one of B (or one side alone), and what changed."""

    position: int  # where the certificate is in B (in A when it was removed)
    role: str  # "leaf", "intermediate", "intermediate 2", "root"
    change: str  # one of CHANGES
    a: CertificateInfo | None
    b: CertificateInfo | None
    fields: list[FieldDifference] = field(default_factory=list)
    a_position: int | None = None
    b_position: int | None = None
    moved: bool = False  # its order relative to the other paired certificates changed
    words: str = ""  # the plain phrase, e.g. "same intermediate key (X), cross-signed by ..."

    def to_dict(self) -> dict:
        return {
            "position": self.position, "role": self.role, "change": self.change,
            "a_position": self.a_position, "b_position": self.b_position, "moved": self.moved,
            "a": self.a.sha256 if self.a else None, "b": self.b.sha256 if self.b else None,
            "a_subject": self.a.subject if self.a else None,
            "b_subject": self.b.subject if self.b else None,
            "words": self.words,
            "fields": [{"field": f.name, "a": f.a, "b": f.b} for f in self.fields],
        }  # fmt: skip

    @property
    def unchanged(self) -> bool:
        return self.change == SAME and not self.moved


@dataclass
class ChainDiff:
    a_id: str
    b_id: str
    positions: list[PositionDiff]  # in B's order, then what A had and B does not

    @property
    def identical(self) -> bool:
        return self.a_id == self.b_id

    @property
    def changes(self) -> list[PositionDiff]:
        """The certificates that differ, or sit elsewhere in the order."""
        return [p for p in self.positions if not p.unchanged]

    @property
    def only_order_changed(self) -> bool:
        return not self.identical and all(p.change == SAME for p in self.positions)

    @property
    def summary(self) -> str:
        """Plain words: "same leaf; same intermediate key (X), cross-signed by R2 instead of R1"."""
        if self.identical:
            return "identical chains"
        if self.only_order_changed:
            before = sorted(self.positions, key=lambda p: p.a_position or 0)
            return (
                "only the order changed: "
                + ", ".join(short_name(p.a) for p in before)
                + " -> "
                + ", ".join(short_name(p.b) for p in self.positions)
            )
        leaf = next((p for p in self.positions if p.a_position == 0 and p.b_position == 0), None)
        parts = ["same leaf"] if leaf is not None and leaf.unchanged else []
        return "; ".join(parts + [p.words for p in self.changes])

    def to_dict(self) -> dict:
        return {"a": self.a_id, "b": self.b_id, "summary": self.summary,
                "positions": [p.to_dict() for p in self.positions]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Identity:
    """What pairing looks at: the subject, the key (SPKI), and the issuer."""

    subject: str
    spki_sha256: str
    issuer: str
    issuer_name: str  # its common name, else the whole issuer name


@lru_cache(maxsize=4096)
def _identity(der: bytes) -> _Identity | None:
    try:
        certificate = x509.load_der_x509_certificate(der)
        names = certificate.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        issuer = certificate.issuer.rfc4514_string()
        subject = certificate.subject.rfc4514_string()
    except Exception:  # noqa: BLE001 - unparseable: it can only be paired as the very same bytes
        return None
    key = spki_sha256(certificate)
    if key == "unknown":  # a key nobody can read is no evidence of the same key
        key = f"unknown {hashlib.sha256(der).hexdigest()}"
    return _Identity(subject, key, issuer, str(names[0].value) if names else issuer)


def _path_depths(infos: list[CertificateInfo]) -> dict[int, int]:
    """Position -> its part in the path: 0 the leaf, 1 the leaf's issuer, 2 that one's, ...

    Followed by issuer name, as a client builds the path; certificates off the path (extras,
    duplicates) get no depth.
    """
    if not infos:
        return {}
    depths, current = {0: 0}, 0
    while True:
        issuer = infos[current].issuer
        if not issuer or infos[current].self_signed:
            return depths
        found = next(
            (i for i, info in enumerate(infos) if i not in depths and info.subject == issuer), None
        )
        if found is None:
            return depths
        depths[found] = depths[current] + 1
        current = found


def diff_chains(
    a: list[bytes] | tuple[bytes, ...], b: list[bytes] | tuple[bytes, ...]
) -> ChainDiff:
    infos_a = [describe_certificate(der) for der in a]
    infos_b = [describe_certificate(der) for der in b]
    ids_a = [_identity(der) for der in a]
    ids_b = [_identity(der) for der in b]
    free_a, free_b = list(range(len(a))), list(range(len(b)))
    pairs: list[tuple[int, int, str]] = []

    def pair_where(test, change) -> None:
        for j in list(free_b):
            for i in free_a:
                if test(i, j):
                    pairs.append((i, j, change(i, j) if callable(change) else change))
                    free_a.remove(i)
                    free_b.remove(j)
                    break

    def same_key(i: int, j: int) -> bool:
        x, y = ids_a[i], ids_b[j]
        return (
            x is not None
            and y is not None
            and (x.subject, x.spki_sha256)
            == (
                y.subject,
                y.spki_sha256,
            )
        )

    def same_subject(i: int, j: int) -> bool:
        x, y = ids_a[i], ids_b[j]
        return x is not None and y is not None and x.subject == y.subject

    def same_key_change(i: int, j: int) -> str:
        x, y = ids_a[i], ids_b[j]
        assert x is not None and y is not None
        if x.issuer != y.issuer and j != 0:
            return CROSS_SIGNED
        return REISSUED

    def leaf_change(i: int, j: int) -> str:
        return REKEYED if same_subject(i, j) else REPLACED

    depths_a, depths_b = _path_depths(infos_a), _path_depths(infos_b)
    pair_where(lambda i, j: a[i] == b[j], SAME)
    pair_where(lambda i, j: same_key(i, j) and (i == 0) == (j == 0), same_key_change)
    pair_where(lambda i, j: i == 0 and j == 0, leaf_change)
    pair_where(lambda i, j: same_subject(i, j) and i != 0 and j != 0, REKEYED)
    pair_where(
        lambda i, j: i != 0 and j != 0 and depths_a.get(i) is not None
        and depths_a.get(i) == depths_b.get(j),
        REPLACED,
    )  # fmt: skip
    moved = _moved_pairs(pairs)
    length = max(len(a), len(b))
    positions = []
    for i, j, change in sorted(pairs, key=lambda p: p[1]):
        role = _role(j, infos_b[j], length)
        fields = [] if change == SAME else certificate_field_differences(a[i], b[j])
        positions.append(
            PositionDiff(j, role, change, infos_a[i], infos_b[j], fields, i, j, (i, j) in moved)
        )
    for j in free_b:
        positions.append(
            PositionDiff(j, _role(j, infos_b[j], length), ADDED, None, infos_b[j], b_position=j)
        )
    positions.sort(key=lambda p: p.position)
    for i in free_a:
        positions.append(
            PositionDiff(i, _role(i, infos_a[i], length), REMOVED, infos_a[i], None, a_position=i)
        )
    _number_intermediates(positions)
    for position in positions:
        position.words = _phrase(position, ids_a, ids_b)
    return ChainDiff(chain_fingerprint(a), chain_fingerprint(b), positions)


def _moved_pairs(pairs: list[tuple[int, int, str]]) -> set[tuple[int, int]]:
    """The pairs outside a longest run that keeps A's order in B: what was really reordered
    (certificates shifted by an insertion or a removal kept their order, and are not moved)."""
    ordered = sorted(pairs)  # by A position
    best: list[list[tuple[int, int]]] = []  # best[k]: a longest increasing run ending at k
    for k, (i, j, _) in enumerate(ordered):
        before = [best[m] for m in range(k) if ordered[m][1] < j]
        run: list[tuple[int, int]] = max(before, key=len) if before else []
        best.append([*run, (i, j)])
    longest: list[tuple[int, int]] = max(best, key=len) if best else []
    kept = set(longest)
    return {(i, j) for i, j, _ in pairs if (i, j) not in kept}


def _role(position: int, info: CertificateInfo | None, length: int) -> str:
    if position == 0:
        return "leaf"
    if info is not None and info.self_signed:
        return "root"
    return "intermediate"


def _number_intermediates(positions: list[PositionDiff]) -> None:
    intermediates = [p for p in positions if p.role == "intermediate"]
    if len(intermediates) > 1:
        for number, position in enumerate(intermediates, 1):
            position.role = f"intermediate {number}"


def _kind(p: PositionDiff) -> str:
    """The role without its number, for sentences ("intermediate", not "intermediate 2")."""
    return p.role.split(" ")[0]


def _issuer_words(identity: _Identity | None, info: CertificateInfo | None) -> str:
    if info is not None and info.self_signed:
        return "itself (self-signed)"
    return identity.issuer_name if identity else "an unknown issuer"


def _validity_words(a: CertificateInfo, b: CertificateInfo) -> str:
    if a.not_after != b.not_after:
        return f"valid until {b.not_after[:10]} instead of {a.not_after[:10]}"
    if a.serial != b.serial:
        return f"new serial {b.serial}"
    return "same validity and serial, other fields changed"


def _added_phrase(p: PositionDiff, ids_b: list) -> str:
    """An added certificate; a second certificate of a key B already has is a cross-sign."""
    assert p.b_position is not None
    mine = ids_b[p.b_position]
    twin = next(
        (
            other
            for j, other in enumerate(ids_b)
            if j != p.b_position and mine is not None and other is not None
            and (other.subject, other.spki_sha256) == (mine.subject, mine.spki_sha256)
            and other.issuer != mine.issuer
        ),
        None,
    )  # fmt: skip
    if twin is not None and mine is not None:
        return (
            f"extra certificate added: {short_name(p.b)} cross-signed by {mine.issuer_name} "
            f"(the same key as the one issued by {twin.issuer_name}) at position {p.b_position}"
        )
    return f"extra certificate added: {_kind(p)} {short_name(p.b)} at position {p.b_position}"


def _phrase(p: PositionDiff, ids_a: list, ids_b: list) -> str:
    kind = _kind(p)
    if p.change == ADDED:
        return _added_phrase(p, ids_b)
    if p.change == REMOVED:
        return f"{kind} {short_name(p.a)} no longer sent (was at position {p.a_position})"
    assert p.a is not None and p.b is not None and p.a_position is not None
    assert p.b_position is not None
    a_id, b_id = ids_a[p.a_position], ids_b[p.b_position]
    where = (
        f" (now at position {p.b_position}, was {p.a_position})"
        if p.moved and p.change != SAME
        else ""
    )
    name, before, after = short_name(p.b), short_name(p.a), short_name(p.b)
    renewed = "renewed" if p.b.not_after > p.a.not_after else "re-issued"
    issuer_changed = a_id is not None and b_id is not None and a_id.issuer != b_id.issuer
    by = (
        f", issued by {_issuer_words(b_id, p.b)} instead of {_issuer_words(a_id, p.a)}"
        if issuer_changed
        else ""
    )
    if p.change == SAME:
        return f"{kind} {name} moved from position {p.a_position} to {p.b_position}"
    if p.change == CROSS_SIGNED:
        return (
            f"same {kind} key ({name}), cross-signed by {_issuer_words(b_id, p.b)} instead of "
            f"{_issuer_words(a_id, p.a)}{where}"
        )
    if p.change == REISSUED:
        if kind == "leaf":
            return f"leaf {renewed} with the same key ({name}, {_validity_words(p.a, p.b)}){by}"
        return (
            f"{kind} {name} {renewed} with the same key by the same issuer "
            f"({_validity_words(p.a, p.b)}){where}"
        )
    if p.change == REKEYED:
        if kind == "leaf":
            validity = (
                f", valid until {p.b.not_after[:10]}" if p.b.not_after != p.a.not_after else ""
            )
            return f"leaf {renewed} with a new key (same name {name}{validity}){by}"
        return f"{kind} {name} re-keyed: same name, new key{by}{where}"
    if kind == "leaf":
        return f"leaf replaced: {before} -> {after}"
    if kind == "root":
        return f"root replaced: {before} -> {after}{where}"
    return f"{kind} replaced by a different CA: {before} -> {after}{where}"
