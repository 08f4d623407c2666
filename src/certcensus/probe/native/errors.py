"""The engine's one exception: a classified refusal, carrying an outcome of the shared vocabulary.

Like h11's ProtocolError, everything a server can do wrong ends in `CaptureError`; its `outcome`
is one of `model.outcomes.Outcome` (`not-tls`, `tls-alert`, `closed`, `handshake-failed`), so the
prober records it exactly as it records the OpenSSL engine's failures.
"""

from __future__ import annotations

from certcensus.model.outcomes import EXPLANATIONS, Outcome


class CaptureError(Exception):
    """The server's bytes cannot lead to a certificate list: an alert, a close, not TLS, or a
    violation of RFC 8446/5246 that a conforming client must abort on."""

    def __init__(self, outcome: Outcome, detail: str):
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def chain_too_large(length: int) -> CaptureError:
    """A certificate list past OpenSSL's max_cert_list: the outcome the OpenSSL engine gives."""
    return CaptureError(
        Outcome.CHAIN_TOO_LARGE,
        f"{EXPLANATIONS[Outcome.CHAIN_TOO_LARGE]} (this one: {length} bytes)",
    )


def handshake_failed(detail: str) -> CaptureError:
    """The server broke the TLS protocol (what OpenSSL reports as a handshake failure)."""
    return CaptureError(Outcome.HANDSHAKE_FAILED, detail)


# RFC 8446 section 6 and RFC 5246 section 7.2, with OpenSSL's words for them (the OpenSSL
# engine reports "server sent TLS alert: handshake failure"), so both engines say the same.
ALERT_NAMES: dict[int, str] = {
    0: "close notify",
    10: "unexpected message",
    20: "bad record mac",
    21: "decryption failed",
    22: "record overflow",
    30: "decompression failure",
    40: "handshake failure",
    41: "no certificate",
    42: "bad certificate",
    43: "unsupported certificate",
    44: "certificate revoked",
    45: "certificate expired",
    46: "certificate unknown",
    47: "illegal parameter",
    48: "unknown ca",
    49: "access denied",
    50: "decode error",
    51: "decrypt error",
    60: "export restriction",
    70: "protocol version",
    71: "insufficient security",
    80: "internal error",
    86: "inappropriate fallback",
    90: "user cancelled",
    100: "no renegotiation",
    109: "missing extension",
    110: "unsupported extension",
    111: "certificate unobtainable",
    112: "unrecognized name",
    113: "bad certificate status response",
    114: "bad certificate hash value",
    115: "unknown psk identity",
    116: "certificate required",
    120: "no application protocol",
}

CLOSE_NOTIFY = 0
USER_CANCELED = 90
WARNING, FATAL = 1, 2


def alert_error(level: int, description: int) -> CaptureError:
    if description == CLOSE_NOTIFY:
        # OpenSSL reports a close_notify during the handshake as a clean close (ZERO_RETURN).
        return CaptureError(Outcome.CLOSED, "server closed the connection during handshake")
    name = ALERT_NAMES.get(description, f"unknown alert {description}")
    return CaptureError(Outcome.TLS_ALERT, f"server sent TLS alert: {name}")
