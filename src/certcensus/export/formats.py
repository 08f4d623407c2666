"""Plain certificate formats: one file per CA (pem, der, cer) or one bundle (p7b, pkcs12).

Only certificates ever pass through here: the functions take `Cert` objects, which carry no key,
so an export cannot contain a private key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certcensus.export.names import java_alias, safe_file_stem
from certcensus.model.defaults import STORE_PASSWORD
from certcensus.model.errors import InputError
from certcensus.trust.certs import Cert

FORMATS = ("pem", "der", "cer", "p7b", "pkcs12")
# The JDK's default truststore password; every Java tool tries it first.
JAVA_TRUSTSTORE_PASSWORD = STORE_PASSWORD.encode()
PKCS12_FILE_NAME = "truststore.p12"
P7B_FILE_NAME = "certificates.p7b"


def _inside(directory: Path, name: str) -> Path:
    """`directory / name`, refusing anything that would land outside it."""
    target = (directory / name).resolve()
    if target.parent != directory.resolve():
        raise ValueError(f"refusing to write {name!r} outside {directory}")
    return target


def write_certificate_files(certs: list[Cert], directory: Path, fmt: str) -> list[Path]:
    """Write `certs` into `directory` in `fmt`; return the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt in ("p7b", "pkcs12"):
        unreadable = [c for c in certs if c.read.reencoded]
        if unreadable:
            raise InputError(
                f"{unreadable[0].display_name!r} ({unreadable[0].sha256[:16]}) is malformed and "
                f"cannot be written into a {fmt} bundle byte for byte; use --format pem"
            )
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "p7b":
        target = _inside(directory, P7B_FILE_NAME)
        target.write_bytes(
            pkcs7.serialize_certificates([c.certificate for c in certs], serialization.Encoding.DER)
        )
        return [target]
    if fmt == "pkcs12":
        return [write_java_truststore(certs, directory)]
    written = []
    for cert in certs:
        # .cer is Base64 (PEM) text: what IBM i DCM and Windows import without asking.
        target = _inside(directory, f"{safe_file_stem(cert)}.{fmt}")
        target.write_bytes(cert.der if fmt == "der" else cert.pem)
        written.append(target)
    return written


def write_java_truststore(certs: list[Cert], directory: Path, name: str = PKCS12_FILE_NAME) -> Path:
    """A PKCS#12 truststore Java reads as trusted entries (password `changeit`)."""
    entries = [pkcs12.PKCS12Certificate(c.certificate, java_alias(c).encode()) for c in certs]
    target = _inside(directory, name)
    target.write_bytes(
        pkcs12.serialize_java_truststore(
            entries, serialization.BestAvailableEncryption(JAVA_TRUSTSTORE_PASSWORD)
        )
    )
    return target
