"""ClientHello specs: the generic profiles as OpenSSL 3.0 writes them, and real clients.

The generic profiles (`default`, `no-sni`, `tls1.2`, `tls1.3`, `rsa`, `ecdsa`) are the OpenSSL
engine's own ClientHellos, captured from Python's `ssl` (OpenSSL 3.0.19) with the contexts of
`probe/profiles.py`, so that both engines ask servers the same question; a test compares them
with what OpenSSL writes today.

The real-client profiles say what each client puts on the wire; `source` names where each list
comes from. Captured ones were read off the wire on loopback from the client itself.
"""

from __future__ import annotations

from typing import Any

from certcensus.probe.native import codes as c
from certcensus.probe.native.hello import TLS10, TLS11, TLS12, TLS13, HelloSpec


def _hex(text: str) -> tuple[int, ...]:
    return tuple(int(item, 16) for item in text.split())


# --- OpenSSL 3.0 as the OpenSSL engine configures it ("ALL:@SECLEVEL=0", OP_NO_TICKET) -------
_OPENSSL3_TLS12_SUITES = _hex(
    "c02c c030 00a3 009f cca9 cca8 ccaa c0af c0ad c0a3 c09f c05d c061 c057 c053 00a7 c02b c02f "
    "00a2 009e c0ae c0ac c0a2 c09e c05c c060 c056 c052 00a6 c024 c028 006b 006a c073 c077 00c4 "
    "00c3 006d 00c5 c023 c027 0067 0040 c072 c076 00be 00bd 006c 00bf c00a c014 0039 0038 0088 "
    "0087 c019 003a 0089 c009 c013 0033 0032 0045 0044 c018 0034 0046 009d c0a1 c09d c051 009c "
    "c0a0 c09c c050 003d 00c0 003c 00ba 0035 0084 002f 0041"
)
_OPENSSL3_TLS13_SUITES = _hex("1302 1303 1301")
_OPENSSL3_GROUPS = (c.X25519, c.SECP256R1, c.X448, c.SECP521R1, c.SECP384R1)
_FFDHE = (c.FFDHE2048, c.FFDHE3072, c.FFDHE4096, c.FFDHE6144, c.FFDHE8192)
_OPENSSL3_SIGALGS_TLS13 = _hex(
    "0403 0503 0603 0807 0808 0809 080a 080b 0804 0805 0806 0401 0501 0601"
)
_OPENSSL3_SIGALGS = _OPENSSL3_SIGALGS_TLS13 + _hex("0303 0203 0301 0201 0302 0202 0402 0502 0602")
_OPENSSL3_EXTENSIONS = (
    c.EXT_SERVER_NAME, c.EXT_EC_POINT_FORMATS, c.EXT_SUPPORTED_GROUPS, c.EXT_ENCRYPT_THEN_MAC,
    c.EXT_EXTENDED_MASTER_SECRET, c.EXT_SIGNATURE_ALGORITHMS, c.EXT_SUPPORTED_VERSIONS,
    c.EXT_PSK_KEY_EXCHANGE_MODES, c.EXT_KEY_SHARE, c.EXT_PADDING,
)  # fmt: skip
_OPENSSL3_SOURCE = (
    "OpenSSL 3.0.19 through Python's ssl, as the OpenSSL engine configures it (captured)"
)


def _openssl3(name: str, **changes: Any) -> HelloSpec:
    fields: dict[str, Any] = dict(
        name=name, versions=(TLS13, TLS12, TLS11, TLS10),
        cipher_suites=_OPENSSL3_TLS13_SUITES + _OPENSSL3_TLS12_SUITES + (c.TLS_EMPTY_RENEGOTIATION_INFO_SCSV,),
        extensions=_OPENSSL3_EXTENSIONS, groups=_OPENSSL3_GROUPS + _FFDHE,
        signature_algorithms=_OPENSSL3_SIGALGS, ec_point_formats=(0, 1, 2), source=_OPENSSL3_SOURCE,
    )  # fmt: skip
    fields.update(changes)
    return HelloSpec(**fields)


_RSA_SUITES = _hex(
    "c030 009f cca8 ccaa c0a3 c09f c061 c053 c02f 009e c0a2 c09e c060 c052 c028 006b c077 00c4 c027 "
    "0067 c076 00be c014 0039 0088 c013 0033 0045 c010 009d c0a1 c09d c051 009c c0a0 c09c c050 003d "
    "00c0 003c 00ba 003b 0035 0084 002f 0041 0002 0001"
)
_ECDSA_SUITES = _hex(
    "c02c cca9 c0af c0ad c05d c02b c0ae c0ac c05c c024 c073 c023 c072 c00a c009 c006"
)

GENERIC: dict[str, HelloSpec] = {
    "default": _openssl3("default"),
    "no-sni": _openssl3("no-sni"),
    "tls1.2": _openssl3(
        "tls1.2",
        versions=(TLS12, TLS11, TLS10),
        session_id=False,
        groups=_OPENSSL3_GROUPS,
        cipher_suites=_OPENSSL3_TLS12_SUITES + (c.TLS_EMPTY_RENEGOTIATION_INFO_SCSV,),
        extensions=tuple(e for e in _OPENSSL3_EXTENSIONS if e not in (43, 45, 51)),
    ),  # fmt: skip
    "tls1.3": _openssl3(
        "tls1.3",
        versions=(TLS13,),
        signature_algorithms=_OPENSSL3_SIGALGS_TLS13,
        cipher_suites=_OPENSSL3_TLS13_SUITES + (c.TLS_EMPTY_RENEGOTIATION_INFO_SCSV,),
    ),  # fmt: skip
    "rsa": _openssl3(
        "rsa",
        signature_algorithms=_hex("0804 0805 0806 0401 0501 0601 0201"),
        cipher_suites=_OPENSSL3_TLS13_SUITES + _RSA_SUITES + (c.TLS_EMPTY_RENEGOTIATION_INFO_SCSV,),
    ),  # fmt: skip
    "ecdsa": _openssl3(
        "ecdsa",
        signature_algorithms=_hex("0403 0503 0603 0203"),
        cipher_suites=_OPENSSL3_TLS13_SUITES
        + _ECDSA_SUITES
        + (c.TLS_EMPTY_RENEGOTIATION_INFO_SCSV,),
    ),  # fmt: skip
}

# --- Real clients ----------------------------------------------------------------------------

# The JDK's TLS stack (JDK 11 and later, backported to 8u261): one ClientHello layout.
_JDK_EXTENSIONS = (
    c.EXT_SERVER_NAME, c.EXT_STATUS_REQUEST, c.EXT_SUPPORTED_GROUPS, c.EXT_EC_POINT_FORMATS,
    c.EXT_STATUS_REQUEST_V2,  # RFC 6961, sent by the JDK only
    c.EXT_EXTENDED_MASTER_SECRET, c.EXT_SESSION_TICKET, c.EXT_SIGNATURE_ALGORITHMS,
    c.EXT_SUPPORTED_VERSIONS, c.EXT_PSK_KEY_EXCHANGE_MODES, c.EXT_SIGNATURE_ALGORITHMS_CERT,
    c.EXT_KEY_SHARE,
)  # fmt: skip
_JDK17_SIGALGS = _hex(
    "0403 0503 0603 0807 0808 0804 0805 0806 0809 080a 080b 0401 0501 0601 0402 0303 0301 0302 "
    "0203 0201 0202"
)

REAL_CLIENTS: dict[str, HelloSpec] = {
    "openssl-1.0.2": HelloSpec(
        name="openssl-1.0.2",
        versions=(TLS12, TLS11, TLS10),
        cipher_suites=_hex(
            "c030 c02c c028 c024 c014 c00a 00a5 00a3 00a1 009f 006b 006a 0069 0068 0039 0038 0037 "
            "0036 0088 0087 0086 0085 c032 c02e c02a c026 c00f c005 009d 003d 0035 0084 c02f c02b "
            "c027 c023 c013 c009 00a4 00a2 00a0 009e 0067 0040 003f 003e 0033 0032 0031 0030 009a "
            "0099 0098 0097 0045 0044 0043 0042 c031 c02d c029 c025 c00e c004 009c 003c 002f 0096 "
            "0041 c012 c008 0016 0013 0010 000d c00d c003 000a 0007 c011 c007 c00c c002 0005 0004 "
            "00ff"
        ),
        extensions=(
            c.EXT_SERVER_NAME,
            c.EXT_EC_POINT_FORMATS,
            c.EXT_SUPPORTED_GROUPS,
            c.EXT_SESSION_TICKET,
            c.EXT_SIGNATURE_ALGORITHMS,
            c.EXT_HEARTBEAT,
            c.EXT_PADDING,
        ),
        groups=(
            14,
            13,
            25,
            28,
            11,
            12,
            27,
            24,
            9,
            10,
            26,
            22,
            23,
            8,
            6,
            7,
            20,
            21,
            4,
            5,
            18,
            19,
            1,
            2,
            3,
            15,
            16,
            17,
        ),
        signature_algorithms=_hex(
            "0601 0602 0603 0501 0502 0503 0401 0402 0403 0301 0302 0303 0201 0202 0203"
        ),
        ec_point_formats=(0, 1, 2),
        session_id=False,
        source="OpenSSL 1.0.2u `openssl s_client` defaults: the DEFAULT cipher list in its own "
        "order (JA3 string 771,49200-49196-...-5-4-255,0-11-10-35-13-15-21,...; the "
        "widely published fingerprint of 1.0.2 clients), ssl/t1_lib.c's default curves "
        "and tls12_sigalgs, and its extension order; not captured here (no 1.0.2 binary "
        "is packaged)",
    ),  # fmt: skip
    "java-8": HelloSpec(
        name="java-8",
        versions=(TLS12, TLS11, TLS10),
        cipher_suites=_hex(
            "c02c c02b c030 009f c02f 009e 00a3 00a2 c024 c028 c023 c027 006b 006a 0067 0040 c00a "
            "c014 c009 c013 0039 0038 0033 0032 009d 009c 003d 003c 0035 002f 00ff"
        ),
        extensions=tuple(e for e in _JDK_EXTENSIONS if e not in (35, 43, 45, 51)),
        groups=(c.SECP256R1, c.SECP384R1, c.SECP521R1) + _FFDHE,
        signature_algorithms=_hex(
            "0403 0503 0603 0804 0805 0806 0809 080a 080b 0401 0501 0601 0402 0303 0301 0302 0203 0201 0202"
        ),
        signature_algorithms_cert=_hex(
            "0403 0503 0603 0804 0805 0806 0809 080a 080b 0401 0501 0601 0402 0303 0301 0302 0203 0201 0202"
        ),
        session_id=False,
        record_version=TLS12,
        source="OpenJDK 8u (8u261 and later: the JDK 11 TLS stack backported, TLS 1.3 off for "
        "clients): the JDK 17 ClientHello captured here without what 8u lacks (TLS 1.3, "
        "ChaCha20, X25519/X448, EdDSA, session tickets), per the JDK 8u release notes and "
        "the SunJSSE cipher suite table of the JDK 8 Security Providers documentation",
    ),  # fmt: skip
    "java-17": HelloSpec(
        name="java-17",
        versions=(TLS13, TLS12),
        cipher_suites=_hex(
            "1302 1301 1303 c02c c02b cca9 c030 cca8 c02f 009f ccaa 00a3 009e 00a2 c024 c028 c023 "
            "c027 006b 006a 0067 0040 c00a c014 c009 c013 0039 0038 0033 0032 009d 009c 003d 003c "
            "0035 002f 00ff"
        ),
        extensions=_JDK_EXTENSIONS,
        groups=(c.X25519, c.SECP256R1, c.SECP384R1, c.SECP521R1, c.X448) + _FFDHE,
        key_share_groups=(c.X25519, c.SECP256R1),
        signature_algorithms=_JDK17_SIGALGS,
        signature_algorithms_cert=_JDK17_SIGALGS,
        ec_point_formats=(0,),
        record_version=TLS12,
        source="OpenJDK 17.0.15 (Debian default-jre-headless), SSLSocket with default "
        "parameters: captured on loopback",
    ),  # fmt: skip
    "ibmi-7.4": HelloSpec(
        name="ibmi-7.4",
        versions=(TLS13, TLS12),
        cipher_suites=_hex("1301 1302 1303 c02b c02c c02f c030 cca9 cca8 00ff"),
        extensions=(
            c.EXT_SERVER_NAME,
            c.EXT_STATUS_REQUEST,
            c.EXT_SUPPORTED_GROUPS,
            c.EXT_EC_POINT_FORMATS,
            c.EXT_SIGNATURE_ALGORITHMS,
            c.EXT_SUPPORTED_VERSIONS,
            c.EXT_PSK_KEY_EXCHANGE_MODES,
            c.EXT_KEY_SHARE,
            c.EXT_SIGNATURE_ALGORITHMS_CERT,
        ),
        groups=(c.SECP256R1, c.SECP384R1, c.X25519, c.SECP521R1, c.X448),
        key_share_groups=(c.SECP256R1,),
        signature_algorithms=_hex(
            "0603 0503 0403 0303 0203 0806 0805 0804 0601 0501 0401 0301 0201"
        ),
        signature_algorithms_cert=_hex(
            "0603 0503 0403 0303 0203 0806 0805 0804 0601 0501 0401 0301 0201"
        ),
        ec_point_formats=(0,),
        source="IBM i 7.4 System TLS as documented by IBM: QSSLCSL default (*OPSYS) cipher "
        "order, QSSLPCL *OPSYS protocols (TLSv1.3, TLSv1.2), the default named group order "
        "(secp256r1, secp384r1, x25519, secp521r1, x448; 'System TLS enhancements to the "
        "TLSv1.3 and TLSv1.2 protocols'), and the TLSCONFIG default signature algorithm "
        "lists; the extension order is ours (IBM does not document it)",
    ),  # fmt: skip
    "windows-schannel": HelloSpec(
        name="windows-schannel",
        versions=(TLS12, TLS11, TLS10),
        cipher_suites=_hex(
            "c02c c02b c030 c02f 009f 009e c024 c023 c028 c027 c00a c009 c014 c013 009d 009c 003d "
            "003c 0035 002f 000a"
        ),
        extensions=(
            c.EXT_SERVER_NAME,
            c.EXT_STATUS_REQUEST,
            c.EXT_SUPPORTED_GROUPS,
            c.EXT_EC_POINT_FORMATS,
            c.EXT_SIGNATURE_ALGORITHMS,
            c.EXT_SESSION_TICKET,
            c.EXT_EXTENDED_MASTER_SECRET,
            c.EXT_RENEGOTIATION_INFO,
        ),
        groups=(c.X25519, c.SECP256R1, c.SECP384R1),
        signature_algorithms=_hex("0804 0805 0806 0401 0501 0201 0403 0503 0203 0202 0601 0603"),
        ec_point_formats=(0,),
        session_id=False,
        record_version=TLS12,
        source="Windows 10 1809-22H2 Schannel: 'TLS Cipher Suites in Windows 10 v1809' "
        "(Microsoft Learn) default priority order, TLS 1.0-1.2; groups, signature "
        "algorithms and extensions as published Schannel JA3 captures show them",
    ),  # fmt: skip
    "android-7": HelloSpec(
        name="android-7",
        versions=(TLS12, TLS11, TLS10),
        cipher_suites=_hex(
            "c02b c02c cca9 c02f c030 cca8 c009 c00a c013 c014 009c 009d 002f 0035 00ff"
        ),
        extensions=(
            c.EXT_RENEGOTIATION_INFO,
            c.EXT_SERVER_NAME,
            c.EXT_EXTENDED_MASTER_SECRET,
            c.EXT_SESSION_TICKET,
            c.EXT_SIGNATURE_ALGORITHMS,
            c.EXT_STATUS_REQUEST,
            c.EXT_SIGNED_CERTIFICATE_TIMESTAMP,
            c.EXT_EC_POINT_FORMATS,
            c.EXT_SUPPORTED_GROUPS,
        ),
        groups=(c.X25519, c.SECP256R1, c.SECP384R1),
        signature_algorithms=_hex("0601 0603 0501 0503 0401 0403 0201 0203"),
        ec_point_formats=(0,),
        session_id=False,
        source="Android 7.0 (API 24) platform SSLSocket: the suites the Android SSLSocket "
        "reference lists as enabled by default from API 24, in Conscrypt's order; "
        "extensions, groups and signature algorithms of the BoringSSL of mid-2016 that "
        "Android 7.0 ships (ssl/t1_lib.c kExtensions order)",
    ),  # fmt: skip
    "curl-openssl3": HelloSpec(
        name="curl-openssl3",
        versions=(TLS13, TLS12, TLS11, TLS10),
        cipher_suites=_hex(
            "1302 1303 1301 c02c c030 009f cca9 cca8 ccaa c02b c02f 009e c024 c028 006b c023 c027 "
            "0067 c00a c014 0039 c009 c013 0033 009d 009c 003d 003c 0035 002f 00ff"
        ),
        extensions=(
            c.EXT_SERVER_NAME,
            c.EXT_EC_POINT_FORMATS,
            c.EXT_SUPPORTED_GROUPS,
            c.EXT_ALPN,
            c.EXT_ENCRYPT_THEN_MAC,
            c.EXT_EXTENDED_MASTER_SECRET,
            c.EXT_POST_HANDSHAKE_AUTH,
            c.EXT_SIGNATURE_ALGORITHMS,
            c.EXT_SUPPORTED_VERSIONS,
            c.EXT_PSK_KEY_EXCHANGE_MODES,
            c.EXT_KEY_SHARE,
            c.EXT_PADDING,
        ),
        groups=_OPENSSL3_GROUPS + _FFDHE,
        signature_algorithms=_hex(
            "0403 0503 0603 0807 0808 0809 080a 080b 0804 0805 0806 0401 0501 0601 0303 0301 0302 "
            "0402 0502 0602"
        ),
        alpn=(b"h2", b"http/1.1"),
        ec_point_formats=(0, 1, 2),
        source="curl 7.88.1 with OpenSSL 3.0.19 (Debian 12), `curl https://...`: captured on loopback",
    ),  # fmt: skip
}

ALL_SPECS: dict[str, HelloSpec] = {**GENERIC, **REAL_CLIENTS}
