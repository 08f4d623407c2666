"""Every bound the chain-capture engine puts on what a server can make it buffer or repeat.

Each limit is named here once, with why it has the value it has. A server that passes one is
refused with the limit's name in the detail, so a user can tell a hostile server from a big
chain.
"""

from certcensus.model.outcomes import OPENSSL_MAX_CERT_LIST

# RFC 8446 section 5.1 / RFC 5246 section 6.2.1: a TLSPlaintext fragment MUST NOT exceed 2^14
# bytes; a receiver that gets a longer one MUST abort with record_overflow.
MAX_PLAINTEXT_RECORD = 2**14

# RFC 8446 section 5.2: a TLSCiphertext MUST NOT exceed 2^14 + 256 bytes (the plaintext, its
# inner content type and padding, and the AEAD expansion).
MAX_CIPHERTEXT_RECORD = 2**14 + 256

# The largest Certificate (or decompressed CompressedCertificate) message we accept: OpenSSL's
# default max_cert_list (SSL_CTX_set_max_cert_list, 100 KiB), so that both engines refuse the
# same oversized chains. A 10-certificate RSA-4096 chain is about 20 KiB.
MAX_CERTIFICATE_MESSAGE = OPENSSL_MAX_CERT_LIST  # 100 KiB, the `chain-too-large` outcome

# Every other handshake message we read before the Certificate (ServerHello, HelloRetryRequest,
# EncryptedExtensions, CertificateStatus): their fields are bounded by 16-bit lengths, and none
# of a real server's is past a few KiB; 64 KiB stops a length field that claims megabytes.
MAX_OTHER_HANDSHAKE_MESSAGE = 64 * 1024

# RFC 8879 section 4: a CompressedCertificate whose uncompressed_length is larger than the
# client's limit MUST be refused (bad_certificate); ours is the Certificate limit above, checked
# before inflating anything, and the decompressor is never allowed to produce more.
MAX_DECOMPRESSED_CERTIFICATE = MAX_CERTIFICATE_MESSAGE

# OpenSSL refuses more than 32 empty records in a row (MAX_EMPTY_RECORDS in ssl/record), a
# known denial-of-service vector (CVE-2004-0081's family); we use its number.
MAX_EMPTY_RECORDS = 32

# Warning alerts the engine ignores (TLS 1.2 and older only) before refusing: OpenSSL stops at 5
# consecutive ones (MAX_WARN_ALERT_COUNT); a server looping warnings would otherwise keep us
# busy until --timeout.
MAX_WARNING_ALERTS = 5

# RFC 8446 section 5 allows one middlebox-compatibility change_cipher_spec; some servers send
# one after HelloRetryRequest and another after ServerHello. More than that is not a middlebox
# shim, and OpenSSL too refuses repeated ones.
MAX_MIDDLEBOX_CCS = 2

# Bytes the server may send in all before the Certificate message is complete: the largest
# certificate message plus room for records, padding and the other messages, so a server that
# streams padding records forever is cut off long before --timeout.
MAX_BYTES_BEFORE_CERTIFICATE = 4 * MAX_CERTIFICATE_MESSAGE

# How many leading bytes of a non-TLS answer are quoted in the detail ("server sent 'HTTP/1.1
# 400 ...' instead of TLS"), as the OpenSSL engine does.
QUOTED_BYTES = 64

# Probes one ephemeral key pair serves before a new one is made (see KeyShare.for_probe): key
# generation is a tenth of a TLS 1.3 probe's client CPU; after a thousand probes it is nothing.
KEY_SHARE_USES = 1000
