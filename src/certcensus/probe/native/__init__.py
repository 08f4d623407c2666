"""The native chain-capture engine (`--engine native`): a sans-IO TLS client that writes its own
ClientHello, reads the server's flight up to the Certificate message, and stops.

TLS 1.2 and older send the Certificate in clear, so no key exchange is computed; for TLS 1.3 the
engine does the (EC)DHE exchange and decrypts the handshake records with `cryptography`'s
primitives, then stops before CertificateVerify and Finished. `engine.py` lists every deviation
from RFC 8446/5246; `limits.py` every bound.
"""

from certcensus.probe.native.engine import ChainCapture
from certcensus.probe.native.errors import CaptureError
from certcensus.probe.native.hello import HelloSpec
from certcensus.probe.native.result import CaptureResult

__all__ = ["CaptureError", "CaptureResult", "ChainCapture", "HelloSpec"]
