"""Distinguished names compared the way OpenSSL compares them: by a canonical form.

OpenSSL's X509_NAME_cmp (and so its issuer lookup and directoryName name constraints) compares
a canonical encoding: every string attribute as UTF-8, leading and trailing white space removed,
inner runs of white space collapsed to one space, ASCII letters lower-cased. A CA whose name is a
PrintableString in its own certificate and a UTF8String in the certificates it issued (common in
older hierarchies) is therefore one issuer. `cryptography` compares names by value and type, so
the canonical form is built here, from the DER, with the same rules.
"""

from __future__ import annotations

from certcensus.certs.der import OID, SEQUENCE, SET, DERError, children, oid_text, read_element

# String types OpenSSL canonicalises (ASN1_MASK_CANON), with how to decode each.
_STRING_ENCODINGS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # TeletexString: OpenSSL reads it as Latin-1
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
}
_WHITE_SPACE = " \t\n\r\v\f"

Attribute = tuple[str, str, str | bytes]  # (OID, "text" or "raw:<tag>", value)
CanonicalName = tuple[tuple[Attribute, ...], ...]  # RDNs in order, attributes sorted


def _canonical_text(text: str) -> str:
    words = "".join(" " if c in _WHITE_SPACE else c for c in text).split(" ")
    collapsed = " ".join(word for word in words if word)
    return "".join(c.lower() if c < "\x80" else c for c in collapsed)


def _attribute(encoded: bytes) -> Attribute:
    element = read_element(encoded)
    parts = children(element.content)
    if element.tag != SEQUENCE or len(parts) != 2 or parts[0].tag != OID:
        raise DERError("malformed AttributeTypeAndValue")
    oid, value = oid_text(parts[0].content), parts[1]
    encoding = _STRING_ENCODINGS.get(value.tag)
    if encoding is not None:
        try:
            return oid, "text", _canonical_text(value.content.decode(encoding))
        except UnicodeDecodeError:
            pass
    return oid, f"raw:{value.tag}", value.content


def canonical_name(name_der: bytes) -> CanonicalName:
    """The canonical form of a Name given as DER; a malformed Name is its own raw bytes."""
    try:
        name = read_element(name_der)
        if name.tag != SEQUENCE:
            raise DERError("a Name is not a SEQUENCE")
        rdns = []
        for rdn in children(name.content):
            if rdn.tag != SET:
                raise DERError("an RDN is not a SET")
            rdns.append(tuple(sorted(_attribute(a.encoded) for a in children(rdn.content))))
        return tuple(rdns)
    except DERError:
        return ((("malformed", "raw", name_der),),)


def is_prefix(base: CanonicalName, name: CanonicalName) -> bool:
    """Does `name` start with the RDNs of `base` (a directoryName subtree, RFC 5280 4.2.1.10)?"""
    return name[: len(base)] == base


def attribute_values(name: CanonicalName, oid: str) -> list[str]:
    """The canonical text values of attribute `oid` (e.g. commonName 2.5.4.3) in `name`."""
    return [v for rdn in name for o, kind, v in rdn if o == oid and isinstance(v, str)]
