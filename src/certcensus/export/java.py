"""A Java truststore that extends the client's own store instead of replacing it.

`javax.net.ssl.trustStore` names one keystore: a truststore holding only the missing CAs would
make the client lose every other root it trusted. So the truststore a kit offers is a copy of
the store the user gave (`--missing-from` a JKS or PKCS#12 keystore): all of its trusted entries,
under their own aliases, plus the missing CA certificates. A keystore with private-key entries
is not copied (a kit never carries a key); the kit then gives keytool steps only.
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certcensus.export.formats import _inside
from certcensus.export.names import java_alias
from certcensus.trust.certs import Cert
from certcensus.trust.stores import KeystoreEntries

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def merged_truststore_name(store_name: str) -> str:
    stem = _UNSAFE.sub("_", store_name).strip("._-") or "truststore"
    return f"{stem[:60]}-with-missing.p12"


def why_not_merged(base: KeystoreEntries) -> str | None:
    """Why the base keystore cannot be copied into a kit, or None when it can."""
    if base.private_keys:
        return (
            f"your keystore holds {base.private_keys} private-key entr"
            f"{'y' if base.private_keys == 1 else 'ies'}, and a kit never copies a key"
        )
    if base.unreadable or any(cert.read.reencoded for _, cert in base.trusted):
        return "your keystore holds a certificate that cannot be copied byte for byte"
    return None


def write_merged_truststore(
    base: KeystoreEntries, certs: list[Cert], directory: Path, name: str, password: str
) -> Path:
    """The base keystore's trusted entries plus `certs` (those it lacks), as PKCS#12."""
    held = {cert.sha256 for _, cert in base.trusted}
    aliases = {alias.lower() for alias, _ in base.trusted}
    entries = [
        pkcs12.PKCS12Certificate(cert.certificate, alias.encode()) for alias, cert in base.trusted
    ]
    for cert in certs:
        if cert.sha256 in held:
            continue
        alias, number = java_alias(cert), 1
        while alias in aliases:
            number += 1
            alias = f"{java_alias(cert)}-{number}"
        aliases.add(alias)
        entries.append(pkcs12.PKCS12Certificate(cert.certificate, alias.encode()))
    target = _inside(directory, name)
    target.write_bytes(
        pkcs12.serialize_java_truststore(
            entries, serialization.BestAvailableEncryption(password.encode())
        )
    )
    return target
