"""Trust stores: what a client trusts, loaded from the files clients really use.

A spec is `[name=]source` where source is a PEM bundle, a directory of PEM/DER files, a PKCS#7
bundle (.p7b/.p7c), a Java keystore (PKCS#12 or legacy JKS), `system` or `mozilla`.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12

from certcensus.model.defaults import STORE_PASSWORD
from certcensus.model.errors import TrustStoreError
from certcensus.trust.certs import Cert, load_certificates_from_bytes
from certcensus.trust.jks import JKSError, is_jks, read_jks_trusted_certificates

DEFAULT_STORE_PASSWORD = STORE_PASSWORD  # the JDK's cacerts password since Java 1.2
# Debian's bundle, written by update-ca-certificates; Python's ssl may not point at it.
DEBIAN_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# A trust store file larger than this is not a trust store (Mozilla's bundle is ~200 KiB).
MAX_STORE_FILE_BYTES = 64 << 20
CERTIFICATE_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".p7b", ".p7c", ""}


@dataclass(frozen=True)
class TrustStore:
    name: str
    source: str
    certificates: tuple[Cert, ...]

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the certificates' SHA-256 hex strings, sorted and concatenated.

        Equal for equal sets in any order; reproducible with
        `sort sha256s.txt | tr -d '\\n' | sha256sum`.
        """
        return hashlib.sha256(
            "".join(sorted(c.sha256 for c in self.certificates)).encode()
        ).hexdigest()

    @cached_property
    def sha256s(self) -> frozenset[str]:
        return frozenset(c.sha256 for c in self.certificates)

    @cached_property
    def by_identity(self) -> dict[tuple[bytes, bytes], Cert]:
        return {c.identity: c for c in self.certificates}

    @cached_property
    def by_subject(self) -> dict[bytes, list[Cert]]:
        index: dict[bytes, list[Cert]] = defaultdict(list)
        for cert in self.certificates:
            index[cert.subject_der].append(cert)
        return index

    def anchor_for(self, cert: Cert) -> Cert | None:
        """The store's certificate that makes `cert` trusted: itself, or its subject-and-key twin.

        Matching by subject and key is what OpenSSL's trusted-first lookup and Java's
        TrustAnchor do: a store root anchors a chain that carries its cross-signed twin.
        """
        if cert.sha256 in self.sha256s:
            return cert
        return self.by_identity.get(cert.identity)

    def with_certificates(self, extra: list[Cert], name: str | None = None) -> TrustStore:
        known = dict((c.sha256, c) for c in self.certificates)
        for cert in extra:
            known.setdefault(cert.sha256, cert)
        return TrustStore(name or self.name, self.source, tuple(known.values()))


def parse_store_spec(spec: str) -> tuple[str, str]:
    """`name=source` or `source` -> (name, source). The name defaults to the file's stem."""
    if "=" in spec:
        name, source = spec.split("=", 1)
        if name and os.sep not in name and not Path(spec).exists():
            return name, source
    source = spec
    if source in ("system", "mozilla"):
        return source, source
    path = Path(source)
    return (path.stem or path.name or source), source


def load_trust_store(spec: str, password: str | None = DEFAULT_STORE_PASSWORD) -> TrustStore:
    name, source = parse_store_spec(spec)
    if source == "system":
        certificates = _load_system()
    elif source == "mozilla":
        import certifi

        certificates = _load_file(Path(certifi.where()), password)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            certificates = _load_directory(path)
        elif path.exists():
            certificates = _load_file(path, password)
        else:
            raise TrustStoreError(f"trust store {source}: no such file or directory")
    unique = tuple({c.sha256: c for c in certificates}.values())
    if not unique:
        raise TrustStoreError(f"trust store {source}: contains no certificates")
    return TrustStore(name, source, unique)


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_STORE_FILE_BYTES:
            raise TrustStoreError(f"trust store {path}: {size} bytes, too large for a trust store")
        return path.read_bytes()
    except OSError as error:
        raise TrustStoreError(f"trust store {path}: unreadable ({error.strerror})") from None


def _load_file(path: Path, password: str | None) -> list[Cert]:
    data = _read(path)
    if is_jks(data):
        try:
            # An empty password reads the entries without the integrity check, as
            # `keytool -list` does when no -storepass is given.
            entries = read_jks_trusted_certificates(data, password or None)
            return [Cert.from_der(der) for _, der in entries]
        except JKSError as error:
            raise TrustStoreError(f"trust store {path}: {error}") from None
        except ValueError:
            raise TrustStoreError(f"trust store {path}: JKS entry is not a certificate") from None
    try:
        return load_certificates_from_bytes(data)
    except ValueError:
        pass
    if data[:1] == b"\x30":
        return _load_pkcs12(path, data, password)
    raise TrustStoreError(
        f"trust store {path}: not a certificate store (expected PEM, DER, PKCS#7, PKCS#12 or JKS)"
    )


def _load_pkcs12(path: Path, data: bytes, password: str | None) -> list[Cert]:
    # Java 9+ cacerts is PKCS#12 protected by "changeit"; JDK 18+ writes it without a MAC
    # password, so try the given password and then none.
    attempts = [password.encode() if password is not None else None, None]
    for attempt in dict.fromkeys(attempts):
        try:
            bundle = pkcs12.load_pkcs12(data, attempt)
        except ValueError:
            continue
        certificates = [c.certificate for c in bundle.additional_certs]
        if bundle.cert is not None:
            certificates.insert(0, bundle.cert.certificate)
        return [Cert.from_certificate(c) for c in certificates]
    raise TrustStoreError(
        f"trust store {path}: wrong password (--store-password) or not a PKCS#12 keystore"
    )


def _load_directory(path: Path) -> list[Cert]:
    certificates: list[Cert] = []
    try:
        entries = sorted(path.iterdir())
    except OSError as error:
        raise TrustStoreError(f"trust store {path}: unreadable ({error.strerror})") from None
    for entry in entries:
        # OpenSSL's hashed directories hold `<hash>.0` symlinks next to the real files; both
        # load, and duplicates collapse by SHA-256 later.
        suffix = entry.suffix.lower()
        if not entry.is_file() or not (suffix in CERTIFICATE_SUFFIXES or suffix[1:].isdigit()):
            continue
        try:
            certificates.extend(load_certificates_from_bytes(_read(entry)))
        except (ValueError, TrustStoreError):
            continue  # a README or a CRL in a CA directory is not an error
    return certificates


def _load_system() -> list[Cert]:
    paths = ssl.get_default_verify_paths()
    certificates: list[Cert] = []
    files = [p for p in (paths.cafile, paths.openssl_cafile, DEBIAN_BUNDLE) if p]
    for file in dict.fromkeys(files):
        if Path(file).is_file():
            try:
                certificates.extend(load_certificates_from_bytes(_read(Path(file))))
            except ValueError:
                continue
    for directory in dict.fromkeys(p for p in (paths.capath, paths.openssl_capath) if p):
        if Path(directory).is_dir():
            certificates.extend(_load_directory(Path(directory)))
    if not certificates:
        raise TrustStoreError("trust store system: no CA file or directory found on this machine")
    return certificates
