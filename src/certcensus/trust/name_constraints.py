"""Name constraints (RFC 5280 4.2.1.10) checked the way OpenSSL 3 checks them.

`cryptography` parses the extension (its `x509.NameConstraints` objects are used when it can),
but applies constraints only inside its own web-PKI verifier, which the lenient verdict does not
use; so the matching is done here, rule for rule as OpenSSL's v3_ncons.c does it: permitted
subtrees of a name's kind must contain it, excluded ones must not; dNSName by right-hand labels,
iPAddress by address and mask, directoryName by leading RDNs (canonical form), rfc822Name and
URI hosts as OpenSSL reads them. An iPAddress constraint that is not 8 or 32 octets is kept (as
OpenSSL keeps it) and fails only when an address has to be checked against it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509

from certcensus.certs.der import DERError, children, read_element
from certcensus.certs.names import CanonicalName, canonical_name, is_prefix

# RFC 5280 GeneralName tags (context-specific), as they appear in a GeneralSubtree's base.
_DNS, _IP, _EMAIL, _URI, _DIRECTORY = 0x82, 0x87, 0x81, 0x86, 0xA4


@dataclass(frozen=True)
class Subtree:
    kind: str  # "dns", "ip", "email", "uri", "directory", or "other"
    value: str | bytes | CanonicalName
    minmax_valid: bool = True  # OpenSSL refuses a minimum other than 0, and any maximum

    def describe(self) -> str:
        if self.kind == "ip" and isinstance(self.value, bytes):
            return f"ip {self.value.hex()}"
        if self.kind == "directory":
            return "directoryName"
        return f"{self.kind} {self.value!s}"


@dataclass(frozen=True)
class NameConstraints:
    permitted: tuple[Subtree, ...]
    excluded: tuple[Subtree, ...]


def _from_general_name(name: x509.GeneralName) -> Subtree:
    if isinstance(name, x509.DNSName):
        return Subtree("dns", name.value)
    if isinstance(name, x509.IPAddress):
        network = name.value
        if isinstance(network, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return Subtree("ip", network.network_address.packed + network.netmask.packed)
        return Subtree("ip", network.packed)  # an address where a network belongs
    if isinstance(name, x509.RFC822Name):
        return Subtree("email", name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return Subtree("uri", name.value)
    if isinstance(name, x509.DirectoryName):
        return Subtree("directory", canonical_name(name.value.public_bytes()))
    return Subtree("other", b"")


def constraints_from_cryptography(value: x509.NameConstraints) -> NameConstraints:
    return NameConstraints(
        tuple(_from_general_name(n) for n in value.permitted_subtrees or ()),
        tuple(_from_general_name(n) for n in value.excluded_subtrees or ()),
    )


def _subtree_from_der(encoded: bytes) -> Subtree:
    subtree = read_element(encoded)
    if subtree.tag != 0x30:
        raise DERError("GeneralSubtree is not a SEQUENCE")
    fields = children(subtree.content)
    if not fields:
        raise DERError("empty GeneralSubtree")
    base, rest = fields[0], fields[1:]
    minmax_valid = all(
        f.tag == 0x80 and int.from_bytes(f.content or b"\0", "big") == 0 for f in rest
    )
    if base.tag == _DNS:
        return Subtree("dns", base.content.decode("latin-1"), minmax_valid)
    if base.tag == _IP:
        return Subtree("ip", base.content, minmax_valid)
    if base.tag == _EMAIL:
        return Subtree("email", base.content.decode("latin-1"), minmax_valid)
    if base.tag == _URI:
        return Subtree("uri", base.content.decode("latin-1"), minmax_valid)
    if base.tag == _DIRECTORY:
        name = read_element(base.content).encoded
        return Subtree("directory", canonical_name(name), minmax_valid)
    return Subtree("other", b"", minmax_valid)


def constraints_from_der(value: bytes) -> NameConstraints:
    """NameConstraints from its DER; for the encodings `cryptography` refuses (see module doc)."""
    sequence = read_element(value)
    if sequence.tag != 0x30 or sequence.end != len(value):
        raise DERError("nameConstraints is not a SEQUENCE")
    permitted: list[Subtree] = []
    excluded: list[Subtree] = []
    for part in children(sequence.content):
        if part.tag not in (0xA0, 0xA1):
            raise DERError("unexpected field in nameConstraints")
        target = permitted if part.tag == 0xA0 else excluded
        target.extend(_subtree_from_der(s.encoded) for s in children(part.content))
    return NameConstraints(tuple(permitted), tuple(excluded))


# What a single comparison can say, as OpenSSL's nc_match_single does.
OK, OUTSIDE = "ok", "outside"


def _ascii_equal(a: str, b: str) -> bool:
    return a.encode("latin-1", "replace").lower() == b.encode("latin-1", "replace").lower()


def _dns(name: str, base: str) -> str:
    if not base:
        return OK  # an empty constraint matches every name
    if len(name) < len(base):
        return OUTSIDE
    if len(name) > len(base):
        tail = name[len(name) - len(base) :]
        if not base.startswith(".") and name[len(name) - len(base) - 1] != ".":
            return OUTSIDE
        return OK if _ascii_equal(tail, base) else OUTSIDE
    return OK if _ascii_equal(name, base) else OUTSIDE


def _ip(address: bytes, base: bytes) -> str:
    if len(address) not in (4, 16) or len(base) not in (8, 32):
        return "unsupported name syntax (an iPAddress constraint is not an address and mask)"
    if len(address) * 2 != len(base):
        return OUTSIDE
    network, mask = base[: len(address)], base[len(address) :]
    same = all((a & m) == (n & m) for a, n, m in zip(address, network, mask))
    return OK if same else OUTSIDE


def _email(address: str, base: str) -> str:
    if "@" not in address:
        return "unsupported name syntax (an email address without '@')"
    local, host = address.rsplit("@", 1)
    if "@" not in base and base.startswith("."):
        tail = address[len(address) - len(base) :] if len(address) > len(base) else None
        return OK if tail is not None and _ascii_equal(tail, base) else OUTSIDE
    if "@" in base:
        base_local, base = base.rsplit("@", 1)
        if base_local and base_local != local:  # the local part matches case-sensitively
            return OUTSIDE
    return OK if len(host) == len(base) and _ascii_equal(host, base) else OUTSIDE


def _uri(uri: str, base: str) -> str:
    scheme, separator, rest = uri.partition("://")
    if not separator or ":" in scheme or not scheme:
        return "unsupported name syntax (a URI without scheme://)"
    host = rest
    for stop in (":", "/"):
        if stop in host:
            host = host.split(stop, 1)[0]
            break
    if not host:
        return "unsupported name syntax (a URI without a host)"
    if base.startswith("."):
        return OK if len(host) > len(base) and _ascii_equal(host[-len(base) :], base) else OUTSIDE
    return OK if len(host) == len(base) and _ascii_equal(host, base) else OUTSIDE


def _single(kind: str, name, base) -> str:
    if kind == "directory":
        return OK if is_prefix(base, name) else OUTSIDE
    if kind == "dns":
        return _dns(name, base)
    if kind == "ip":
        return _ip(name, base)
    if kind == "email":
        return _email(name, base)
    if kind == "uri":
        return _uri(name, base)
    return "unsupported constraint type"


def name_violation(kind: str, name, constraints: NameConstraints) -> str | None:
    """Why `name` (of `kind`) breaks `constraints`, or None when it does not (nc_match)."""
    match = 0
    for subtree in constraints.permitted:
        if subtree.kind != kind:
            continue
        if not subtree.minmax_valid:
            return "a subtree has a minimum or maximum, which is not supported"
        if match == 2:
            continue
        match = max(match, 1)
        result = _single(kind, name, subtree.value)
        if result == OK:
            match = 2
        elif result != OUTSIDE:
            return result
    if match == 1:
        return f"{_shown(kind, name)} is not in any permitted {kind} subtree"
    for subtree in constraints.excluded:
        if subtree.kind != kind:
            continue
        if not subtree.minmax_valid:
            return "a subtree has a minimum or maximum, which is not supported"
        result = _single(kind, name, subtree.value)
        if result == OK:
            return f"{_shown(kind, name)} is in an excluded {kind} subtree ({subtree.describe()})"
        if result != OUTSIDE:
            return result
    return None


def _shown(kind: str, name) -> str:
    if kind == "ip" and isinstance(name, bytes):
        try:
            return str(ipaddress.ip_address(name))
        except ValueError:
            return name.hex()
    if kind == "directory":
        return "the subject"
    return f"{kind} name {name}"


def dns_id_of_common_name(common_name: str) -> str | None:
    """A commonName that looks like a host name (two labels or more), as OpenSSL's cn2dnsid
    decides; None for any other text, which DNS constraints then do not apply to."""
    text = common_name.rstrip("\0")
    if "\0" in text or not text:
        return None
    plausible = False
    for index, char in enumerate(text):
        if char.isascii() and (char.isalnum() or char == "_"):
            continue
        if 0 < index < len(text) - 1:
            if char == "-":
                continue
            if char == "." and text[index + 1] not in ".-" and text[index - 1] != "-":
                plausible = True
                continue
        return None
    return text if plausible else None
