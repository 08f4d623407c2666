"""LDAP StartTLS (RFC 4511 section 4.14, RFC 4513 section 3): one ExtendedRequest, one reply.

    C: LDAPMessage { messageID 1, ExtendedRequest { requestName "1.3.6.1.4.1.1466.20037" } }
    S: LDAPMessage { messageID 1, ExtendedResponse { resultCode success(0), "", "" } }

The client speaks first. RFC 4511 section 4.14.2: a resultCode other than success means TLS
was not established, and the connection stays usable in plaintext.
"""

from __future__ import annotations

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import Dialog, DialogError
from certcensus.probe.dialogs.ber import Element, read_elements, read_integer, take_element

START_TLS_OID = b"1.3.6.1.4.1.1466.20037"
NOTICE_OF_DISCONNECTION_OID = b"1.3.6.1.4.1.1466.20036"
MESSAGE_ID = 1

SEQUENCE = 0x30
INTEGER = 0x02
ENUMERATED = 0x0A
OCTET_STRING = 0x04
EXTENDED_REQUEST = 0x77  # [APPLICATION 23] constructed
EXTENDED_RESPONSE = 0x78  # [APPLICATION 24] constructed
REQUEST_NAME = 0x80  # [0] primitive
RESPONSE_NAME = 0x8A  # [10] primitive

# RFC 4511 appendix A.
RESULT_NAMES = {
    0: "success",
    1: "operationsError",
    2: "protocolError",
    3: "timeLimitExceeded",
    7: "authMethodNotSupported",
    8: "strongerAuthRequired",
    11: "adminLimitExceeded",
    12: "unavailableCriticalExtension",
    13: "confidentialityRequired",
    50: "insufficientAccessRights",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}
# RFC 4511 section 4.12: "If the server does not recognize the request name, it MUST return
# only the response fields from LDAPResult, containing the protocolError result code."
PROTOCOL_ERROR = 2
# slapd 2.5 with no TLS settings answers protocolError(2) "unsupported extended operation"
# (checked against the real server); unavailable(52) is what servers answer when TLS is set up
# but cannot start. Either way the server has no TLS to offer.
UNAVAILABLE = 52
BUSY = 51


def _tlv(tag: int, value: bytes) -> bytes:
    assert len(value) < 0x80  # our request is small enough for short-form lengths
    return bytes([tag, len(value)]) + value


def start_tls_request() -> bytes:
    extended = _tlv(EXTENDED_REQUEST, _tlv(REQUEST_NAME, START_TLS_OID))
    return _tlv(SEQUENCE, _tlv(INTEGER, bytes([MESSAGE_ID])) + extended)


class LDAPDialog(Dialog):
    name = "ldap"
    default_ports = (389,)
    schemes = {"ldap": 389}

    def initiate(self) -> bytes:
        return start_tls_request()

    def _on_data(self) -> bytes:
        while not self.done:
            if self._buffer and self._buffer[0] != SEQUENCE:
                # Judge the first byte at once: a non-LDAP service must not keep us waiting.
                first = self._buffer[0]
                raise DialogError(f"LDAPMessage is not a SEQUENCE (first byte 0x{first:02x})")
            message = take_element(self._buffer)
            if message is None:
                return b""
            self._on_message(message)
        return b""

    def _on_message(self, message: Element) -> None:
        fields = read_elements(message.value)
        if len(fields) < 2 or fields[0].tag != INTEGER:
            raise DialogError("LDAPMessage without messageID and protocolOp")
        message_id = read_integer(fields[0])
        operation = fields[1]
        if operation.tag != EXTENDED_RESPONSE:
            raise DialogError(f"expected an ExtendedResponse, got tag 0x{operation.tag:02x}")
        code, diagnostic, response_name = _read_extended_response(operation)
        said = f"resultCode {code} ({RESULT_NAMES.get(code, 'unknown')})"
        if diagnostic:
            said += f": {diagnostic}"
        if message_id == 0:
            # RFC 4511 section 4.4.1: the Notice of Disconnection, messageID zero, is sent just
            # before the server closes the connection.
            if response_name not in (NOTICE_OF_DISCONNECTION_OID, None):
                raise DialogError("unsolicited notification other than Notice of Disconnection")
            outcome = Outcome.BUSY if code in (BUSY, UNAVAILABLE) else Outcome.STARTTLS_REFUSED
            self._refuse(outcome, f"notice of disconnection: {said}")
            return
        if message_id != MESSAGE_ID:
            raise DialogError(f"reply to messageID {message_id}, we sent {MESSAGE_ID}")
        if code == 0:
            self.ready = True
        elif code in (PROTOCOL_ERROR, UNAVAILABLE):
            self._refuse(Outcome.STARTTLS_UNSUPPORTED, f"StartTLS not available: {said}")
        elif code == BUSY:
            self._refuse(Outcome.BUSY, said)
        else:
            self._refuse(Outcome.STARTTLS_REFUSED, said)


def _read_extended_response(operation: Element) -> tuple[int, str, bytes | None]:
    """(resultCode, diagnosticMessage, responseName) of an ExtendedResponse (RFC 4511 4.12)."""
    fields = read_elements(operation.value)
    if len(fields) < 3 or fields[0].tag != ENUMERATED or fields[2].tag != OCTET_STRING:
        raise DialogError("ExtendedResponse without resultCode, matchedDN, diagnosticMessage")
    code = read_integer(fields[0])
    diagnostic = fields[2].value.decode("utf-8", "replace")
    names = [field.value for field in fields[3:] if field.tag == RESPONSE_NAME]
    return code, diagnostic, names[0] if names else None
