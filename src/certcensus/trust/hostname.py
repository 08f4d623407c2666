"""Does a leaf certificate name the host a client asked for? As OpenSSL's X509_check_host and
X509_check_ip decide it with default flags (what `openssl verify -verify_hostname` and most
OpenSSL clients use).

A DNS name is checked against the subjectAltName dNSNames, or, when the certificate has no
dNSName at all, against every subject commonName. A wildcard is allowed only in the left-most
label, which must not be an IDNA label, and the pattern needs two dots after it; it matches one
label (and may be partial, "f*.example.com"). An address is checked against iPAddress names only.
Written by hand because `cryptography` applies RFC 6125 only inside its web-PKI verifier.
"""

from __future__ import annotations

import ipaddress

from certcensus.trust.certs import Cert


def _lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def _valid_star(pattern: str) -> int | None:
    """The index of the one legal wildcard in `pattern`, or None (OpenSSL's valid_star)."""
    star = None
    dots = 0
    at_label_start, hyphen, idna = True, False, False
    for index, char in enumerate(pattern):
        if char == "*":
            at_end = index == len(pattern) - 1 or pattern[index + 1] == "."
            if star is not None or idna or dots or (not at_label_start and not at_end):
                return None
            star = index
            at_label_start = False
        elif char.isascii() and char.isalnum():
            if at_label_start and pattern[index : index + 4].lower() == "xn--":
                idna = True
            at_label_start, hyphen = False, False
        elif char == ".":
            if at_label_start or hyphen:
                return None
            at_label_start, hyphen, idna = True, False, False
            dots += 1
        elif char == "-":
            if at_label_start:
                return None
            hyphen = True
        else:
            return None
    if at_label_start or hyphen or dots < 2:
        return None
    return star


def dns_name_matches(pattern: str, host: str) -> bool:
    star = _valid_star(pattern)
    if star is None:
        return _lower(pattern) == _lower(host) and "\0" not in pattern
    prefix, suffix = pattern[:star], pattern[star + 1 :]
    if len(host) < len(prefix) + len(suffix):
        return False
    if _lower(host[: len(prefix)]) != _lower(prefix) or _lower(
        host[len(host) - len(suffix) :]
    ) != _lower(suffix):
        return False
    middle = host[len(prefix) : len(host) - len(suffix)]
    allow_idna = False
    if not prefix and suffix.startswith("."):
        if not middle:
            return False  # a whole-label wildcard matches at least one character
        allow_idna = True
    if not allow_idna and host[:4].lower() == "xn--":
        return False
    if middle == "*":
        return True
    return all(c.isascii() and (c.isalnum() or c == "-") for c in middle)


def host_matches(leaf: Cert, host: str) -> bool:
    """Would an OpenSSL client that asked for `host` (a name or an address) accept `leaf`?"""
    names = leaf.facts.subject_alt_names
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return names is not None and address.packed in names.ip
    dns = names.dns if names is not None else ()
    candidates = dns or tuple(leaf.common_names)
    return any(dns_name_matches(name, host) for name in candidates)
