"""Trust stores: what a client trusts, loaded from the files clients really use.

A spec is `[name=]source` where source is a PEM bundle, a directory of PEM/DER files, a PKCS#7
bundle (.p7b/.p7c), a Java keystore (PKCS#12 or legacy JKS), `system` (the OS store), `mozilla`
(certifi) or `java` (the installed JRE's cacerts, wherever it keeps it).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import ssl
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12

from certcensus.certs.names import CanonicalName
from certcensus.model.defaults import STORE_PASSWORD
from certcensus.model.errors import TrustStoreError
from certcensus.trust.certs import Cert, load_certificates_from_bytes
from certcensus.trust.jks import JKSError, is_jks, read_jks

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
    path: str | None = None  # the file it was read from, when it is one file
    keystore: str | None = None  # "jks" or "pkcs12" when that file is a Java keystore

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
    def by_identity(self) -> dict[tuple, Cert]:
        return {c.identity: c for c in self.certificates}

    @cached_property
    def by_subject(self) -> dict[CanonicalName, list[Cert]]:
        """Certificates by subject, as OpenSSL compares names (certs/names.py), in store order."""
        index: dict[CanonicalName, list[Cert]] = defaultdict(list)
        for cert in self.certificates:
            index[cert.subject_key].append(cert)
        return index

    def by_name(self, subject: CanonicalName) -> list[Cert]:
        return self.by_subject.get(subject, [])

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
        return TrustStore(
            name or self.name, self.source, tuple(known.values()), self.path, self.keystore
        )


def parse_store_spec(spec: str) -> tuple[str, str]:
    """`name=source` or `source` -> (name, source). The name defaults to the file's stem."""
    if "=" in spec:
        name, source = spec.split("=", 1)
        if name and os.sep not in name and not Path(spec).exists():
            return name, source
    source = spec
    if source in NAMED_STORES:
        return source, source
    path = Path(source)
    return (path.stem or path.name or source), source


NAMED_STORES = ("system", "mozilla", "java")
# Where JREs keep cacerts, after $JAVA_HOME and the `java` on PATH: Debian's shared keystore
# (ca-certificates-java; each JDK's lib/security/cacerts links to it), then the JDKs found.
JAVA_CACERTS_GLOBS = (
    "/etc/ssl/certs/java/cacerts",
    "/usr/lib/jvm/*/lib/security/cacerts",
    "/usr/lib/jvm/*/jre/lib/security/cacerts",
    "/etc/pki/java/cacerts",  # RHEL, Fedora
    "/usr/java/*/lib/security/cacerts",
    "/opt/java/*/lib/security/cacerts",
    "/Library/Java/JavaVirtualMachines/*/Contents/Home/lib/security/cacerts",  # macOS
    "C:/Program Files/Java/*/lib/security/cacerts",
)


def java_cacerts() -> Path:
    """The cacerts of the installed JRE: $JAVA_HOME's, the one beside `java` on PATH, or the
    first of JAVA_CACERTS_GLOBS; raises TrustStoreError when there is none."""
    homes = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    java = shutil.which("java")
    if java:
        homes.append(Path(os.path.realpath(java)).parent.parent)
    candidates = [
        h / sub for h in homes for sub in ("lib/security/cacerts", "jre/lib/security/cacerts")
    ]
    for pattern in JAVA_CACERTS_GLOBS:
        candidates += [Path(p) for p in sorted(glob.glob(pattern))]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise TrustStoreError(
        "trust store java: no Java cacerts found (set JAVA_HOME, or give the keystore's path)"
    )


def load_trust_store(spec: str, password: str | None = DEFAULT_STORE_PASSWORD) -> TrustStore:
    name, source = parse_store_spec(spec)
    path: Path | None = None
    if source == "system":
        certificates = _load_system()
    elif source == "mozilla":
        import certifi

        certificates = _load_file(Path(certifi.where()), password)
    else:
        path = java_cacerts() if source == "java" else Path(source).expanduser()
        if path.is_dir():
            certificates = _load_directory(path)
            path = None
        elif path.exists():
            certificates = _load_file(path, password)
        else:
            raise TrustStoreError(f"trust store {source}: no such file or directory")
    unique = tuple({c.sha256: c for c in certificates}.values())
    if not unique:
        raise TrustStoreError(f"trust store {source}: contains no certificates")
    keystore = _keystore_kind(path) if path is not None else None
    return TrustStore(name, source, unique, str(path) if path else None, keystore)


def _readable(entries: list[tuple[str, bytes]]) -> list[tuple[str, Cert]]:
    readable = []
    for alias, der in entries:
        try:
            readable.append((alias, Cert.from_der(der)))
        except ValueError:
            continue
    return readable


def _keystore_kind(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError:
        return None
    if is_jks(head):
        return "jks"
    if head[:1] == b"\x30" and path.suffix.lower() not in (
        ".pem",
        ".crt",
        ".cer",
        ".der",
        ".p7b",
        ".p7c",
    ):
        try:
            load_certificates_from_bytes(_read(path))
        except (ValueError, TrustStoreError):
            return "pkcs12"
    return None


@dataclass(frozen=True)
class KeystoreEntries:
    """A Java keystore's trusted-certificate entries by alias, and its private-key count."""

    trusted: list[tuple[str, Cert]]
    private_keys: int
    unreadable: int = 0  # trusted entries that do not parse as certificates


def keystore_entries(store: TrustStore, password: str | None) -> KeystoreEntries:
    """The entries of the keystore `store` was read from (see TrustStore.keystore)."""
    if store.path is None or store.keystore is None:
        raise TrustStoreError(f"trust store {store.source}: not a Java keystore")
    data = _read(Path(store.path))
    if store.keystore == "jks":
        try:
            trusted, keys = read_jks(data, password or None)
        except JKSError as error:
            raise TrustStoreError(f"trust store {store.path}: {error}") from None
        readable = _readable(trusted)
        return KeystoreEntries(readable, keys, len(trusted) - len(readable))
    for attempt in dict.fromkeys([password.encode() if password is not None else None, None]):
        try:
            bundle = pkcs12.load_pkcs12(data, attempt)
        except ValueError:
            continue
        entries = []
        for index, item in enumerate(bundle.additional_certs):
            alias = item.friendly_name.decode("utf-8", "replace") if item.friendly_name else ""
            entries.append((alias or f"entry{index}", Cert.from_certificate(item.certificate)))
        return KeystoreEntries(entries, 1 if bundle.key is not None else 0)
    raise TrustStoreError(f"trust store {store.path}: wrong password (--store-password)")


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
            entries, _ = read_jks(data, password or None)
        except JKSError as error:
            raise TrustStoreError(f"trust store {path}: {error}") from None
        # An entry that is not a certificate at all is skipped, as in a PEM bundle; the store
        # keeps the others ("contains no certificates" if none is left).
        return [cert for _, cert in _readable(entries)]
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
