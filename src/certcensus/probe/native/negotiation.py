"""What the client must check of the server's hellos before going on (RFC 8446 sections 4.1.3,
4.1.4 and 4.2; RFC 5246 section 7.4.1.3): each check a conforming client aborts on, so that the
native engine refuses exactly what OpenSSL refuses (the agreement tests hold it to that)."""

from __future__ import annotations

from certcensus.probe.native import codes
from certcensus.probe.native.errors import handshake_failed
from certcensus.probe.native.hello import TLS11, TLS12, TLS13, VERSION_NAMES, HelloSpec
from certcensus.probe.native.keyschedule import KEY_SHARE_GROUPS, SUITES
from certcensus.probe.native.server_hello import (
    DOWNGRADE_TO_TLS11_OR_BELOW,
    DOWNGRADE_TO_TLS12,
    ServerHello,
    cookie_of,
    key_share_of,
)

HELLO_RETRY_EXTENSIONS = frozenset(
    (codes.EXT_KEY_SHARE, codes.EXT_SUPPORTED_VERSIONS, codes.EXT_COOKIE)
)
TLS13_SERVER_HELLO_EXTENSIONS = frozenset((codes.EXT_KEY_SHARE, codes.EXT_SUPPORTED_VERSIONS))


def check_hello_retry_request(
    spec: HelloSpec, hello: ServerHello, session_id: bytes, shared_groups: set[int], retried: bool
) -> tuple[int | None, bytes | None]:
    """(the group to send a share of, or None; the cookie to echo, or None)."""
    # Section 4.1.4: a second HelloRetryRequest is an unexpected_message; one that would change
    # nothing, or that names a group not offered or already shared, is an illegal_parameter.
    if retried:
        raise handshake_failed("second HelloRetryRequest (unexpected message)")
    if not spec.offers_tls13 or hello.version != TLS13:
        raise handshake_failed("HelloRetryRequest outside TLS 1.3")
    check_common(spec, hello, HELLO_RETRY_EXTENSIONS, session_id)
    share = key_share_of(hello)
    cookie = cookie_of(hello)
    if share is None and cookie is None:
        raise handshake_failed("HelloRetryRequest that changes nothing (illegal parameter)")
    if share is None:
        return None, cookie
    group = share[0]
    if group not in spec.groups or group in shared_groups:
        raise handshake_failed(f"HelloRetryRequest asks for group {group} (illegal parameter)")
    if group not in KEY_SHARE_GROUPS:
        raise handshake_failed(
            f"HelloRetryRequest asks for group {group}, which this engine cannot compute"
        )
    return group, cookie


def check_server_hello(
    spec: HelloSpec, hello: ServerHello, session_id: bytes, retry: ServerHello | None
) -> None:
    version = hello.version
    if version not in spec.versions:
        name = VERSION_NAMES.get(version, f"0x{version:04X}")
        raise handshake_failed(
            f"server chose {name}, which we did not offer (unsupported protocol)"
        )
    if version == TLS13:
        allowed = set(TLS13_SERVER_HELLO_EXTENSIONS)
    else:
        allowed = set(spec.extensions) - {codes.EXT_SUPPORTED_VERSIONS, codes.EXT_KEY_SHARE}
        if codes.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in spec.cipher_suites:
            allowed.add(codes.EXT_RENEGOTIATION_INFO)  # RFC 5746 section 3.4
    check_common(spec, hello, allowed, session_id)
    max_offered = max(spec.versions)
    downgrade = hello.random[-8:]
    sentinels = (DOWNGRADE_TO_TLS12, DOWNGRADE_TO_TLS11_OR_BELOW)
    if (max_offered == TLS13 and version <= TLS12 and downgrade in sentinels) or (
        max_offered >= TLS12 and version <= TLS11 and downgrade == DOWNGRADE_TO_TLS11_OR_BELOW
    ):
        # Section 4.1.3: clients MUST check the downgrade sentinel and abort.
        raise handshake_failed("server random carries the downgrade sentinel (illegal parameter)")
    if retry is not None and (version != TLS13 or hello.cipher_suite != retry.cipher_suite):
        raise handshake_failed("ServerHello contradicts the HelloRetryRequest (illegal parameter)")


def check_common(spec: HelloSpec, hello: ServerHello, allowed: set[int] | frozenset[int],
                 session_id: bytes) -> None:  # fmt: skip
    """What RFC 8446 section 4.1.3 and RFC 5246 section 7.4.1.3 require of both hellos."""
    version = hello.version
    suite = hello.cipher_suite
    if suite not in spec.cipher_suites or (version == TLS13) != (suite in SUITES):
        raise handshake_failed(f"server chose cipher suite 0x{suite:04X}, which we did not offer")
    if hello.compression_method != 0:
        raise handshake_failed("server chose a compression method we did not offer")
    for kind in hello.extension_types:
        if kind not in allowed:
            # Section 4.2: an extension not offered, or not allowed in this message, is an
            # unsupported_extension.
            raise handshake_failed(f"server sent extension {kind}, which we did not offer")
    if version == TLS13 and hello.session_id != session_id:
        # Section 4.1.3: legacy_session_id_echo must match, else illegal_parameter.
        raise handshake_failed("server did not echo our legacy_session_id (illegal parameter)")
