"""What a kit must tell its user beyond its files: which certificates to check with the CA
first, what it cannot contain, and whether a Java truststore can extend the user's own store."""

from __future__ import annotations

from certcensus.export.java import why_not_merged
from certcensus.export.kits import KitNotes
from certcensus.model.defaults import STORE_PASSWORD
from certcensus.trust.certs import Cert
from certcensus.trust.missing import MissingCAs
from certcensus.trust.stores import TrustStore, keystore_entries

SENT_BY_SERVER = (
    "the server itself sent this root over the connection being judged; a server can send any "
    "root it likes"
)
NOT_FROM_A_STORE = (
    "this root came from the CA pool or an AIA download (plain HTTP), not from a trust store "
    "you gave"
)
NO_ROOT = (
    "the root of its chain is known nowhere, so nothing you trust vouches for this intermediate; "
    "stores that treat every certificate as an anchor (Debian, RHEL, Java) would trust it alone"
)


def kit_notes(
    certs: list[Cert],
    missing: MissingCAs | None,
    store: TrustStore | None,
    stores: list[TrustStore],
    served: set[str],
    fmt: str,
    password: str = STORE_PASSWORD,
) -> KitNotes:
    """The notes for a kit of `certs` completing `store` (None for --all)."""
    others = [s for s in stores if store is None or s.name != store.name]
    check: dict[str, str] = {}
    for cert in certs:
        if cert.is_root and not any(s.anchor_for(cert) is not None for s in others):
            check[cert.sha256] = SENT_BY_SERVER if cert.sha256 in served else NOT_FROM_A_STORE
    lacking: list[str] = []
    if missing is not None:
        for chain_id, unknown in missing.unknown_issuers.items():
            for sha in missing.needed_by.get(chain_id, []):
                check.setdefault(sha, NO_ROOT)
            key = f" (key identifier {unknown.key_identifier})" if unknown.key_identifier else ""
            lacking.append(
                f"chain {chain_id[:12]} also needs the root {unknown.subject}{key}, issuer of "
                f"{unknown.issued!r}: it was not sent, is in no trust store given and was not "
                f"found through AIA; {unknown.where_to_get_it()}."
            )
        for chain_id, why in missing.unfixable.items():
            lacking.append(f"chain {chain_id[:12]}: {why}")
    base, no_merge = None, None
    if fmt == "java":
        if store is None:
            no_merge = "export --all completes no particular store"
        elif store.keystore is None:
            no_merge = (
                f"{store.name} is not a Java keystore; with --missing-from a JKS or PKCS#12 "
                "keystore the kit holds a merged copy of it"
            )
        else:
            entries = keystore_entries(store, password)
            no_merge = why_not_merged(entries)
            base = None if no_merge else entries
    return KitNotes(
        store=store.name if store is not None else None,
        check=check,
        lacking=lacking,
        java_base=base,
        java_password=password or "changeit",
        java_no_merge=no_merge,
    )
