"""Did an issuer's key sign a certificate? Checked over the bytes that were signed.

The algorithm comes from the certificate's own AlgorithmIdentifier (the outer and the inner one
must be equal, as OpenSSL's X509_verify requires), so legacy algorithms verify: SHA-1 and MD5
with RSA, ECDSA with SHA-1 (for which `cryptography` gives no signature parameters), DSA. The
primitives are `cryptography`'s, except for one case no library handles: an RSA key
`cryptography` refuses to load (an exponent below 3) that OpenSSL still uses; its PKCS #1 v1.5
signature is checked here by hand (RFC 8017 8.2.2), because otherwise a chain OpenSSL accepts
would be reported as forged.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from certcensus.certs.der import BIT_STRING, INTEGER, SEQUENCE, DERError, children, read_element

if TYPE_CHECKING:
    from certcensus.trust.certs import Cert

# signatureAlgorithm OID -> (key family it needs, hash); RFC 3279, 4055, 5758, 8410.
SIGNATURE_ALGORITHMS: dict[str, tuple[str, type[hashes.HashAlgorithm] | None]] = {
    "1.2.840.113549.1.1.4": ("rsa", hashes.MD5),
    "1.2.840.113549.1.1.5": ("rsa", hashes.SHA1),
    "1.2.840.113549.1.1.14": ("rsa", hashes.SHA224),
    "1.2.840.113549.1.1.11": ("rsa", hashes.SHA256),
    "1.2.840.113549.1.1.12": ("rsa", hashes.SHA384),
    "1.2.840.113549.1.1.13": ("rsa", hashes.SHA512),
    "1.2.840.113549.1.1.10": ("rsa-pss", None),  # the hash is in the parameters
    "1.2.840.10045.4.1": ("ec", hashes.SHA1),
    "1.2.840.10045.4.3.1": ("ec", hashes.SHA224),
    "1.2.840.10045.4.3.2": ("ec", hashes.SHA256),
    "1.2.840.10045.4.3.3": ("ec", hashes.SHA384),
    "1.2.840.10045.4.3.4": ("ec", hashes.SHA512),
    "1.3.101.112": ("ed25519", None),
    "1.3.101.113": ("ed448", None),
    "1.2.840.10040.4.3": ("dsa", hashes.SHA1),
    "2.16.840.1.101.3.4.3.1": ("dsa", hashes.SHA224),
    "2.16.840.1.101.3.4.3.2": ("dsa", hashes.SHA256),
}
# SubjectPublicKeyInfo algorithm OID -> key family.
KEY_FAMILIES = {
    "1.2.840.113549.1.1.1": "rsa",
    "1.2.840.113549.1.1.10": "rsa-pss",
    "1.2.840.10045.2.1": "ec",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
    "1.2.840.10040.4.1": "dsa",
}
WEAK_HASHES = (hashes.SHA1, hashes.MD5)
# DigestInfo prefixes of EMSA-PKCS1-v1_5 (RFC 8017 9.2, note 1).
_DIGEST_INFO = {
    "md5": bytes.fromhex("3020300c06082a864886f70d020505000410"),
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def key_family_matches(key_family: str | None, signature_family: str | None) -> bool:
    """OpenSSL's check_sig_alg_match: an issuer can only have made signatures its key type
    makes (an RSA key also makes RSA-PSS signatures)."""
    if key_family is None or signature_family is None:
        return False
    return key_family == signature_family or (key_family, signature_family) == ("rsa", "rsa-pss")


def rsa_numbers(spki: bytes) -> tuple[int, int] | None:
    """(modulus, exponent) of an RSA SubjectPublicKeyInfo, read from its DER; None otherwise."""
    try:
        algorithm, key = children(read_element(spki).content)
        if key.tag != BIT_STRING or not key.content or key.content[0] != 0:
            return None
        sequence = read_element(key.content[1:])
        numbers = children(sequence.content)
        if sequence.tag != SEQUENCE or len(numbers) != 2 or any(n.tag != INTEGER for n in numbers):
            return None
        modulus, exponent = (int.from_bytes(n.content, "big", signed=True) for n in numbers)
    except (DERError, ValueError):
        return None
    return (modulus, exponent) if modulus > 0 and exponent > 0 else None


def _pkcs1_v15_verifies(spki: bytes, signature: bytes, data: bytes, algorithm) -> bool:
    numbers = rsa_numbers(spki)
    name = getattr(algorithm, "name", "")
    if numbers is None or name not in _DIGEST_INFO:
        return False
    modulus, exponent = numbers
    size = (modulus.bit_length() + 7) // 8
    value = int.from_bytes(signature, "big")
    if len(signature) != size or value >= modulus:
        return False
    digest_info = _DIGEST_INFO[name] + hashlib.new(name, data).digest()
    padding_length = size - 3 - len(digest_info)
    if padding_length < 8:
        return False
    expected = b"\x00\x01" + b"\xff" * padding_length + b"\x00" + digest_info
    return hmac.compare_digest(pow(value, exponent, modulus).to_bytes(size, "big"), expected)


@lru_cache(maxsize=1 << 16)
def signature_verifies(child: Cert, issuer: Cert) -> bool:
    """Did `issuer`'s key sign `child`, with the algorithm `child` names? Never raises."""
    parts = child.read.parts
    if parts.signature_algorithm != parts.inner_signature_algorithm:
        return False
    family, hash_class = SIGNATURE_ALGORITHMS.get(child.signature_algorithm_oid, (None, None))
    if family is None or not key_family_matches(issuer.key_family, family):
        return False
    key = issuer.public_key
    data, signature = parts.tbs, parts.signature
    try:
        if family == "rsa-pss":
            parameters = child.certificate.signature_algorithm_parameters
            algorithm = child.certificate.signature_hash_algorithm
            if not isinstance(key, rsa.RSAPublicKey) or not isinstance(parameters, padding.PSS):
                return False
            key.verify(signature, data, parameters, algorithm)  # type: ignore[arg-type]
            return True
        if family in ("ed25519", "ed448"):
            if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
                return False
            key.verify(signature, data)
            return True
        assert hash_class is not None
        if family == "rsa":
            if key is None:  # a key cryptography will not load (see the module docstring)
                return _pkcs1_v15_verifies(issuer.read.parts.spki, signature, data, hash_class())
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(signature, data, padding.PKCS1v15(), hash_class())
        elif family == "ec":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False
            key.verify(signature, data, ec.ECDSA(hash_class()))
        elif family == "dsa":
            if not isinstance(key, dsa.DSAPublicKey):
                return False
            key.verify(signature, data, hash_class())
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def signature_hash_name(cert: Cert) -> str:
    """The hash a certificate is signed with ("sha256"), "" for EdDSA, the OID if unknown."""
    try:
        algorithm = cert.certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:  # MD2, MD4, ...: older than anything cryptography names
        return cert.read.certificate.signature_algorithm_oid.dotted_string
    return algorithm.name if algorithm is not None else ""


def is_weak_signature(cert: Cert) -> bool:
    """Signed with SHA-1, MD5, or an algorithm older than anything `cryptography` names."""
    try:
        return isinstance(cert.certificate.signature_hash_algorithm, WEAK_HASHES)
    except UnsupportedAlgorithm:
        return True
