"""A bounded reader for the trusted-certificate entries of a legacy Java KeyStore (JKS).

Written by hand because `cryptography` reads PKCS#12 but not JKS, Sun's own format that Java
used for `cacerts` until JDK 9 (JEP 229) and that many IBM and vendor JREs still ship. The format
is undocumented outside the JDK source (sun.security.provider.JavaKeyStore):

    magic 0xFEEDFEED | version (1 or 2) | entry count
    entry: tag (1 = private key, 2 = trusted certificate) | alias (Java modified UTF-8,
           u16 length) | creation time (u64 ms)
      tag 2: [v2: certificate type, UTF] | u32 length | certificate DER
      tag 1: u32 length | encrypted key | u32 chain length | per cert: [v2: type] | u32 length | DER
    SHA-1(password as UTF-16BE || "Mighty Aphrodite" || every byte above)

Only trusted-certificate entries are returned; private-key entries are skipped without being
read (a trust store never needs a key). Every length is checked against named limits so a
hostile file cannot make us allocate or loop without bound.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

JKS_MAGIC = 0xFEEDFEED
JCEKS_MAGIC = 0xCECECECE
# The JDK's cacerts holds ~150 entries; 100,000 leaves room for any real store.
MAX_ENTRIES = 100_000
# The largest real CA certificates are a few KiB; 1 MiB bounds a single certificate.
MAX_CERTIFICATE_BYTES = 1 << 20
# A chain in a key entry rarely exceeds 5; 64 is generous.
MAX_CHAIN_LENGTH = 64
# The JDK writes this whitener after the password before hashing (JavaKeyStore.getPreKeyedHash).
INTEGRITY_WHITENER = b"Mighty Aphrodite"


class JKSError(ValueError):
    """The bytes are not a readable JKS keystore, or its integrity check failed."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.offset = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > len(self.data):
            raise JKSError("truncated JKS keystore")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def utf(self) -> str:
        # Java's modified UTF-8 differs from UTF-8 only for NUL and supplementary characters;
        # aliases are plain text, so "replace" is enough.
        return self.take(self.u16()).decode("utf-8", "replace")

    def certificate(self, version: int) -> bytes:
        if version == 2:
            self.utf()  # certificate type, always "X.509"
        length = self.u32()
        if length > MAX_CERTIFICATE_BYTES:
            raise JKSError(f"JKS certificate entry of {length} bytes exceeds the limit")
        return self.take(length)


def is_jks(data: bytes) -> bool:
    return data[:4] in (JKS_MAGIC.to_bytes(4, "big"), JCEKS_MAGIC.to_bytes(4, "big"))


def read_jks_trusted_certificates(data: bytes, password: str | None) -> list[tuple[str, bytes]]:
    """(alias, DER) of every trusted-certificate entry. With a password, verify the digest first."""
    return read_jks(data, password)[0]


def read_jks(data: bytes, password: str | None) -> tuple[list[tuple[str, bytes]], int]:
    """(alias, DER) of every trusted-certificate entry, and how many private-key entries the
    keystore also holds (never decoded)."""
    reader = _Reader(data)
    keys = 0
    magic = reader.u32()
    if magic == JCEKS_MAGIC:
        raise JKSError("JCEKS keystores are not supported; convert with keytool -importkeystore")
    if magic != JKS_MAGIC:
        raise JKSError("not a JKS keystore")
    version = reader.u32()
    if version not in (1, 2):
        raise JKSError(f"unknown JKS version {version}")
    count = reader.u32()
    if count > MAX_ENTRIES:
        raise JKSError(f"JKS keystore claims {count} entries, more than the limit")
    trusted: list[tuple[str, bytes]] = []
    for _ in range(count):
        tag = reader.u32()
        alias = reader.utf()
        reader.take(8)  # creation date
        if tag == 2:
            trusted.append((alias, reader.certificate(version)))
        elif tag == 1:
            keys += 1
            reader.take(reader.u32())  # the protected private key: skipped, never decoded
            chain_length = reader.u32()
            if chain_length > MAX_CHAIN_LENGTH:
                raise JKSError("JKS key entry with an implausible chain length")
            for _ in range(chain_length):
                reader.certificate(version)
        else:
            raise JKSError(f"unknown JKS entry tag {tag}")
    signed_length = reader.offset
    digest = reader.take(20)
    if password is not None:
        expected = hashlib.sha1(
            password.encode("utf-16-be") + INTEGRITY_WHITENER + data[:signed_length]
        ).digest()
        if not hmac.compare_digest(digest, expected):
            raise JKSError("JKS keystore integrity check failed: wrong password or tampered file")
    return trusted, keys
