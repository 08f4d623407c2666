"""A small, bounded reader for BER tag-length-value elements, enough for LDAP's replies.

Why by hand: `cryptography` parses X.509 but exposes no general BER decoder, and pyasn1 (a new
dependency) decodes whole values, not a stream that may stop mid-element; LDAP needs only
definite-length TLVs with low tag numbers. RFC 4511 section 5.1: "Only the definite form of
length encoding is used", so an indefinite length is a protocol error here.
"""

from __future__ import annotations

from dataclasses import dataclass

from certcensus.probe.dialogs.base import MAX_BUFFER, DialogError

# A length needs at most 4 bytes to reach MAX_BUFFER; longer forms are refused outright.
MAX_LENGTH_OCTETS = 4


@dataclass(frozen=True, slots=True)
class Element:
    tag: int  # the identifier octet as sent (class, constructed bit, number)
    value: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def element_size(data: bytes | bytearray, offset: int = 0) -> int | None:
    """Total size of the element starting at `offset`, or None if its header is incomplete."""
    if len(data) < offset + 2:
        return None
    if data[offset] & 0x1F == 0x1F:
        raise DialogError("BER high tag numbers are not used by LDAP")
    first = data[offset + 1]
    if first < 0x80:
        return 2 + first
    octets = first & 0x7F
    if octets == 0:
        raise DialogError("BER indefinite length (RFC 4511 5.1 allows only definite lengths)")
    if octets > MAX_LENGTH_OCTETS:
        raise DialogError(f"BER length of {octets} octets")
    if len(data) < offset + 2 + octets:
        return None
    length = int.from_bytes(data[offset + 2 : offset + 2 + octets], "big")
    if length > MAX_BUFFER:
        raise DialogError(f"BER element of {length} bytes is longer than {MAX_BUFFER}")
    return 2 + octets + length


def take_element(buffer: bytearray) -> Element | None:
    """Remove and return one whole element from the front of `buffer`, or None if incomplete."""
    size = element_size(buffer)
    if size is None or len(buffer) < size:
        return None
    element = read_elements(bytes(buffer[:size]))[0]
    del buffer[:size]
    return element


def read_elements(data: bytes) -> list[Element]:
    """Split `data` (a constructed element's value) into its elements; all must be complete."""
    elements = []
    offset = 0
    while offset < len(data):
        size = element_size(data, offset)
        if size is None or offset + size > len(data):
            raise DialogError("BER element runs past its enclosing element")
        header = size - _content_length(data, offset)
        elements.append(Element(data[offset], bytes(data[offset + header : offset + size])))
        offset += size
    return elements


def _content_length(data: bytes, offset: int) -> int:
    first = data[offset + 1]
    if first < 0x80:
        return first
    octets = first & 0x7F
    return int.from_bytes(data[offset + 2 : offset + 2 + octets], "big")


def read_integer(element: Element) -> int:
    if not element.value or len(element.value) > 8:
        raise DialogError(f"BER integer of {len(element.value)} bytes")
    return int.from_bytes(element.value, "big", signed=True)
