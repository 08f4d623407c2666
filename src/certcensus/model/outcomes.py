"""Every way a probe can end, classified once; every layer uses these names.

The names are what users see in the census (`"errors": {"timeout": 2}`), in the store, and in
metrics, so they are short, stable, and spelled like openssl's and sslyze's vocabulary where
one exists.
"""

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"  # handshake done, chain recorded
    DNS = "dns"  # the name did not resolve
    REFUSED = "refused"  # TCP connection refused (RST to our SYN)
    UNREACHABLE = "unreachable"  # no route to the address
    TIMEOUT = "timeout"  # a phase (connect, starttls, handshake) ran past --timeout
    RESET = "reset"  # the server reset the connection
    CLOSED = "closed"  # the server closed the connection before the handshake finished
    NOT_TLS = "not-tls"  # the server answered, but not with TLS
    TLS_ALERT = "tls-alert"  # the server ended the handshake with a TLS alert
    HANDSHAKE_FAILED = "handshake-failed"  # TLS failed on our side (no common version or cipher)
    CHAIN_TOO_LARGE = "chain-too-large"  # the certificate list passed OpenSSL's 100 KiB limit
    NO_CERTIFICATE = "no-certificate"  # the handshake finished without a certificate
    STARTTLS_UNSUPPORTED = "starttls-unsupported"  # the server does not offer the upgrade
    STARTTLS_REFUSED = "starttls-refused"  # the server refused the upgrade (4xx/5xx, NO, ...)
    BUSY = "busy"  # the server turned us away before the dialog (SMTP 421, ...)
    PROTOCOL_ERROR = "protocol-error"  # the plaintext dialog broke its protocol's framing
    LOCAL_ERROR = "local-error"  # our side failed (no free port, too many open files)
    # The user stopped the run (Ctrl-C, SIGTERM) while this probe was in flight: not the server's
    # failure, so the census counts it apart from the errors.
    INTERRUPTED = "interrupted"


# OpenSSL refuses a certificate list longer than this (SSL_MAX_CERT_LIST_DEFAULT in ssl.h: the
# default of SSL_CTX_set_max_cert_list, which Python's ssl module does not expose), as does every
# client built on OpenSSL with that default (curl, Python, Postfix, ...).
OPENSSL_MAX_CERT_LIST = 100 * 1024


EXPLANATIONS: dict[Outcome, str] = {
    Outcome.OK: "handshake completed and the chain was recorded",
    Outcome.DNS: "the name did not resolve to any address",
    Outcome.REFUSED: "nothing listens on that port (connection refused)",
    Outcome.UNREACHABLE: "no route to the address",
    Outcome.TIMEOUT: "the server did not answer within --timeout",
    Outcome.RESET: "the server reset the connection",
    Outcome.CLOSED: "the server closed the connection before the handshake finished",
    Outcome.NOT_TLS: "the server answered with something that is not TLS (wrong port or --starttls?)",
    Outcome.TLS_ALERT: "the server aborted the TLS handshake with an alert",
    Outcome.HANDSHAKE_FAILED: "the TLS handshake failed (no protocol version or cipher in common?)",
    Outcome.CHAIN_TOO_LARGE: f"the server's certificate list is larger than OpenSSL's limit of "
    f"{OPENSSL_MAX_CERT_LIST} bytes (100 KiB); OpenSSL-based clients refuse it too",
    Outcome.NO_CERTIFICATE: "the server completed the handshake without sending a certificate",
    Outcome.STARTTLS_UNSUPPORTED: "the server does not offer STARTTLS (possibly stripped by a middlebox)",
    Outcome.STARTTLS_REFUSED: "the server refused the STARTTLS command",
    Outcome.BUSY: "the server turned the connection away (busy or rate-limited)",
    Outcome.PROTOCOL_ERROR: "the server broke the plaintext protocol before STARTTLS",
    Outcome.LOCAL_ERROR: "the probe failed on this machine (ports or file descriptors exhausted?)",
    Outcome.INTERRUPTED: "the run was interrupted (Ctrl-C or SIGTERM) while the probe was in flight",
}
