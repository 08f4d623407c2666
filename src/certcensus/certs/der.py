"""Just enough DER to take an X.509 certificate apart and put it back together.

Written by hand because `cryptography` reads a certificate whole or not at all: one extension
it refuses (a duplicate, an unexpected tag) hides every other field, and an explicitly encoded
default version makes the whole certificate unreadable, although OpenSSL accepts both and clients
meet them. With these pieces the caller can drop what `cryptography` refuses, read the rest with
`cryptography`, and still verify the signature over the bytes that were really signed.

Only definite lengths (DER), bounded by the input: a hostile certificate cannot make this loop
or allocate beyond its own size.
"""

from __future__ import annotations

from dataclasses import dataclass

# An X.509 length never needs more than 4 length octets (4 GiB); more is a hostile encoding.
MAX_LENGTH_OCTETS = 4

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
BOOLEAN = 0x01
CONTEXT_0_CONSTRUCTED = 0xA0
CONTEXT_1_CONSTRUCTED = 0xA1
CONTEXT_2_PRIMITIVE = 0x82
CONTEXT_3_CONSTRUCTED = 0xA3


class DERError(ValueError):
    """The bytes are not the DER structure expected; the message says where."""


@dataclass(frozen=True)
class Element:
    """One DER element (tag, length, content) inside `data`."""

    data: bytes
    start: int  # offset of the tag octet
    content_start: int
    end: int  # one past the last content octet

    @property
    def tag(self) -> int:
        return self.data[self.start]

    @property
    def content(self) -> bytes:
        return self.data[self.content_start : self.end]

    @property
    def encoded(self) -> bytes:
        return self.data[self.start : self.end]


def read_element(data: bytes, offset: int = 0) -> Element:
    """The element starting at `offset`; raises DERError if it does not fit in `data`."""
    if offset + 2 > len(data):
        raise DERError(f"truncated element at offset {offset}")
    position = offset + 1
    if data[offset] & 0x1F == 0x1F:  # high tag number: base-128 octets follow
        while position < len(data) and data[position] & 0x80:
            position += 1
        position += 1
        if position >= len(data):
            raise DERError(f"truncated tag at offset {offset}")
    first = data[position]
    position += 1
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise DERError(f"indefinite length at offset {offset} (BER, not DER)")
        if count > MAX_LENGTH_OCTETS or position + count > len(data):
            raise DERError(f"bad length at offset {offset}")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise DERError(f"element at offset {offset} runs past the end of its container")
    return Element(data, offset, position, end)


def children(content: bytes) -> list[Element]:
    """The elements that make up `content`, in order; raises DERError on trailing garbage."""
    found, offset = [], 0
    while offset < len(content):
        element = read_element(content, offset)
        found.append(element)
        offset = element.end
    return found


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def encode(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def oid_text(content: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets as dotted text ("2.5.29.17")."""
    if not content or content[-1] & 0x80:
        raise DERError("malformed object identifier")
    arcs, value = [], 0
    for octet in content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def oid_content(dotted: str) -> bytes:
    """The content octets of the OBJECT IDENTIFIER `dotted` (the inverse of oid_text)."""
    numbers = [int(part) for part in dotted.split(".")]
    arcs = [40 * numbers[0] + numbers[1], *numbers[2:]]
    out = bytearray()
    for arc in arcs:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


@dataclass(frozen=True)
class RawExtension:
    """One Extension as encoded: extnID, critical, and the extnValue OCTET STRING's content."""

    oid: str
    critical: bool
    value: bytes
    encoded: bytes


@dataclass(frozen=True)
class CertificateParts:
    """A certificate split into the pieces signature checks and re-encoding need."""

    tbs: bytes  # the whole tbsCertificate element, exactly as signed
    signature_algorithm: bytes  # the outer AlgorithmIdentifier element
    signature: bytes  # the signature BIT STRING's bits (the unused-bits octet removed)
    version: int  # 0 for v1, 2 for v3
    version_explicit: bool  # a [0] version element is present
    fields: tuple[bytes, ...]  # serial, signature, issuer, validity, subject, spki, [1], [2]
    extensions: tuple[RawExtension, ...]

    @property
    def inner_signature_algorithm(self) -> bytes:
        return self.fields[1]

    @property
    def serial(self) -> bytes:
        """The serial number INTEGER's content octets."""
        return read_element(self.fields[0]).content

    @property
    def issuer(self) -> bytes:
        return self.fields[2]

    @property
    def subject(self) -> bytes:
        return self.fields[4]

    @property
    def spki(self) -> bytes:
        return self.fields[5]

    def rebuilt(
        self, *, version: bool | None = None, extensions: list[RawExtension] | None = None
    ) -> bytes:
        """The certificate re-encoded with another version field or extension list, carrying the
        original signature (which will no longer match: only for reading fields)."""
        parts: list[bytes] = []
        keep_version = self.version_explicit if version is None else version
        if keep_version:
            parts.append(encode(CONTEXT_0_CONSTRUCTED, encode(INTEGER, bytes([self.version]))))
        parts.extend(self.fields)
        chosen = self.extensions if extensions is None else extensions
        if chosen:
            body = encode(SEQUENCE, b"".join(e.encoded for e in chosen))
            parts.append(encode(CONTEXT_3_CONSTRUCTED, body))
        tbs = encode(SEQUENCE, b"".join(parts))
        bits = encode(BIT_STRING, b"\x00" + self.signature)
        return encode(SEQUENCE, tbs + self.signature_algorithm + bits)


def _extension(element: Element) -> RawExtension:
    if element.tag != SEQUENCE:
        raise DERError("an extension is not a SEQUENCE")
    items = children(element.content)
    if len(items) not in (2, 3) or items[0].tag != OID:
        raise DERError("malformed extension")
    critical = False
    if len(items) == 3:
        if items[1].tag != BOOLEAN or len(items[1].content) != 1:
            raise DERError(f"malformed critical flag in extension {oid_text(items[0].content)}")
        critical = items[1].content != b"\x00"
    value = items[-1]
    if value.tag != OCTET_STRING:
        raise DERError(f"extension {oid_text(items[0].content)} value is not an OCTET STRING")
    return RawExtension(oid_text(items[0].content), critical, value.content, element.encoded)


def split_certificate(der: bytes) -> CertificateParts:
    """The parts of a certificate; raises DERError when the outer structure is not X.509."""
    outer = read_element(der)
    if outer.tag != SEQUENCE or outer.end != len(der):
        raise DERError("not a DER SEQUENCE (or trailing data after it)")
    top = children(outer.content)
    if len(top) != 3 or top[0].tag != SEQUENCE or top[2].tag != BIT_STRING:
        raise DERError("not a Certificate (tbsCertificate, algorithm, signature)")
    bits = top[2].content
    if not bits or bits[0] != 0:
        raise DERError("signature BIT STRING with unused bits")
    fields = children(top[0].content)
    version, explicit = 0, False
    if fields and fields[0].tag == CONTEXT_0_CONSTRUCTED:
        number = children(fields[0].content)
        if len(number) != 1 or number[0].tag != INTEGER or len(number[0].content) != 1:
            raise DERError("malformed version")
        version, explicit = number[0].content[0], True
        fields = fields[1:]
    extensions: tuple[RawExtension, ...] = ()
    if fields and fields[-1].tag == CONTEXT_3_CONSTRUCTED:
        wrapped = children(fields[-1].content)
        if len(wrapped) != 1 or wrapped[0].tag != SEQUENCE:
            raise DERError("extensions are not a SEQUENCE")
        sequence = wrapped[0]
        extensions = tuple(_extension(e) for e in children(sequence.content))
        fields = fields[:-1]
    if len(fields) < 6:
        raise DERError("tbsCertificate lacks a required field")
    return CertificateParts(
        tbs=top[0].encoded,
        signature_algorithm=top[1].encoded,
        signature=bits[1:],
        version=version,
        version_explicit=explicit,
        fields=tuple(f.encoded for f in fields),
        extensions=extensions,
    )
