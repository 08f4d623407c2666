"""Services where TLS starts at once, with no dialog: their URL schemes and IANA ports."""

from __future__ import annotations

# scheme -> default port (IANA service names; "tls" is ours: any service, port 443 by default).
IMPLICIT_TLS_SCHEMES: dict[str, int] = {
    "https": 443,
    "smtps": 465,
    "submissions": 465,  # RFC 8314 section 7.3
    "nntps": 563,
    "ldaps": 636,
    "dot": 853,
    "ftps": 990,
    "imaps": 993,
    "pop3s": 995,
    "sips": 5061,
    "xmpps": 5223,
    "ircs": 6697,
    "tls": 443,
}

# Well-known ports of implicit-TLS services (what `--starttls auto` leaves without a dialog).
IMPLICIT_TLS_PORTS: dict[int, str] = {
    443: "https",
    465: "smtps",
    563: "nntps",
    636: "ldaps",
    853: "dot",
    990: "ftps",
    993: "imaps",
    995: "pop3s",
    3269: "ldaps",  # Active Directory's global catalog over TLS
    5061: "sips",
    5223: "xmpps",
    6697: "ircs",
}
