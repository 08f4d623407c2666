"""File names for exported certificates: readable, safe on every platform, and unique.

A subject is attacker-controlled text (any CA, or the server itself, chooses it), so it never
reaches the file system unfiltered: only ASCII letters, digits, '-', '_' and '.' survive, no
leading dot, bounded length, and a fingerprint suffix keeps two CAs with one name apart.
"""

from __future__ import annotations

import re
import unicodedata

from certcensus.trust.certs import Cert

# Leaves room for the fingerprint and extension under the 255-byte limit of common file
# systems, and keeps names typeable on the IBM i IFS and in DCM's path field.
MAX_STEM_CHARACTERS = 60
FINGERPRINT_CHARACTERS = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_stem(cert: Cert) -> str:
    """`<subject CN made safe>_<first 12 hex of SHA-256>`, e.g. `Example_Root_CA_3f2a9c01b7de`."""
    # NFKD then ASCII keeps "Ünïcødé CA" readable as "Unicode_CA" instead of dropping letters.
    text = unicodedata.normalize("NFKD", cert.display_name).encode("ascii", "ignore").decode()
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\.{2,}", "_", text).strip("._-")[:MAX_STEM_CHARACTERS].rstrip("._-")
    return f"{text or 'certificate'}_{cert.sha256[:FINGERPRINT_CHARACTERS]}"


def java_alias(cert: Cert) -> str:
    """A keytool alias: keytool lower-cases aliases in PKCS#12 and JKS stores anyway."""
    return safe_file_stem(cert).lower()
