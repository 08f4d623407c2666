"""ClientHello profiles: what a probe offers, since what a server sends depends on who asks.

`default` offers everything OpenSSL can still speak (TLS 1.0 to 1.3, every cipher, security
level 0), so an old or odd server still hands over its chain: we are observing, not judging.
Verification is off on purpose; trust is decided later, in analysis.

`rsa` and `ecdsa` must steer the server's certificate choice in TLS 1.3 too, where cipher
suites say nothing about the key type: only the `signature_algorithms` extension does. The
stdlib cannot set it per context (no SSL_CTX_set1_sigalgs binding), but OpenSSL applies a
`SignatureAlgorithms` line from its configuration file to every context a process creates. So
those profiles run in a worker process started with OPENSSL_CONF pointing at a generated
configuration (see `workers.py`); the rest run in the main process.

The native engine (`--engine native`, `probe/native/`) writes its own ClientHello, so it can also
speak like real clients (`java-8`, `ibmi-7.4`, ...: `probe/native/clients.py` says where each
comes from) and needs no worker for `rsa` or `ecdsa`. Those real-client profiles are native-only:
OpenSSL cannot be made to send their ClientHellos.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from certcensus.probe.native.clients import ALL_SPECS, REAL_CLIENTS
from certcensus.probe.native.hello import HelloSpec

ALL_CIPHERS = "ALL:@SECLEVEL=0"

ENGINES = ("native", "openssl")
# The default, since it agrees with OpenSSL on every agreement test (tests/native/test_agreement.py
# and every real-server test, run once per engine through tests/engines.py).
DEFAULT_ENGINE = "native"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    send_sni: bool = True
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.MINIMUM_SUPPORTED
    maximum_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ciphers: str = ALL_CIPHERS  # TLS 1.2 and below (OpenSSL cipher string)
    signature_algorithms: str | None = None  # None: OpenSSL's defaults; else needs a worker
    native_only: bool = False  # a real client's ClientHello, which only the native engine writes

    @property
    def needs_worker(self) -> bool:
        """With the OpenSSL engine: whether probes need a process with their own OPENSSL_CONF."""
        return self.signature_algorithms is not None

    def needs_worker_with(self, engine: str) -> bool:
        return engine == "openssl" and self.needs_worker

    @property
    def hello(self) -> HelloSpec:
        """The ClientHello the native engine sends for this profile."""
        return ALL_SPECS[self.name]

    def openssl_config(self) -> str:
        """An OpenSSL configuration that imposes this profile's signature algorithms."""
        return (
            "openssl_conf = openssl_init\n"
            "[openssl_init]\nssl_conf = ssl_section\n"
            "[ssl_section]\nsystem_default = certcensus_profile\n"
            f"[certcensus_profile]\nSignatureAlgorithms = {self.signature_algorithms}\n"
        )


# RFC 8446 section 4.2.3 names; OpenSSL spells them "RSA-PSS+SHA256" or "rsa_pss_rsae_sha256".
_RSA_SIGNATURES = (
    "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:RSA+SHA256:RSA+SHA384:RSA+SHA512:RSA+SHA1"
)
_ECDSA_SIGNATURES = "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ECDSA+SHA1"

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("default", "every version and cipher OpenSSL can speak, with SNI"),
        Profile("no-sni", "as default, without a server name", send_sni=False),
        Profile("tls1.2", "TLS 1.2 at most", maximum_version=ssl.TLSVersion.TLSv1_2),
        Profile("tls1.3", "TLS 1.3 only", minimum_version=ssl.TLSVersion.TLSv1_3),
        Profile(
            "rsa",
            "RSA certificates only: aRSA suites, RSA signature algorithms",
            ciphers="aRSA:@SECLEVEL=0",
            signature_algorithms=_RSA_SIGNATURES,
        ),
        Profile(
            "ecdsa",
            "ECDSA certificates only: aECDSA suites, ECDSA signature algorithms",
            ciphers="aECDSA:@SECLEVEL=0",
            signature_algorithms=_ECDSA_SIGNATURES,
        ),
        *(
            Profile(name, f"the ClientHello of {name} (native engine only)", native_only=True)
            for name in REAL_CLIENTS
        ),
    )
}


def engine_refusal(profiles: list[str], engine: str) -> str | None:
    """One line saying why `engine` cannot speak one of `profiles`, or None."""
    if engine not in ENGINES:
        return f"unknown engine {engine!r} (known: {', '.join(ENGINES)})"
    if engine == "native":
        return None
    native = [name for name in profiles if PROFILES[name].native_only]
    if native:
        return (f"profile {', '.join(native)} needs --engine native "
                "(OpenSSL cannot be made to send that ClientHello)")  # fmt: skip
    return None


# openssl s_client's spellings of the protocol versions (-tls1_2, -tls1_3), the TLSv1.2 of its
# output and of nginx's ssl_protocols, and its -noservername.
PROFILE_ALIASES = {
    "tls1_2": "tls1.2", "tlsv1.2": "tls1.2", "tlsv1_2": "tls1.2",
    "tls1_3": "tls1.3", "tlsv1.3": "tls1.3", "tlsv1_3": "tls1.3",
    "noservername": "no-sni", "nosni": "no-sni",
}  # fmt: skip


def canonical_profile_name(text: str) -> str:
    """The profile for what a user typed ("TLSv1.2", "tls1_3", "-tls1_2"); unknown names come
    back normalised, for the caller to refuse."""
    name = text.strip().lower().lstrip("-")
    return PROFILE_ALIASES.get(name, name)


def parse_profiles(text: str, engine: str = "native") -> list[str]:
    """`default,no-sni` or `all` -> profile names, validated, in order, without repeats. `all`
    is every profile `engine` can speak; `clients` every real-client profile."""
    spoken = [name for name, p in PROFILES.items() if engine == "native" or not p.native_only]
    aliases = {"all": spoken, "clients": list(REAL_CLIENTS)}
    names = []
    for item in (canonical_profile_name(n) for n in text.split(",") if n.strip()):
        names.extend(aliases.get(item, [item]))
    unknown = [n for n in names if n not in PROFILES]
    if unknown or not names:
        raise ValueError(
            f"unknown profile {', '.join(unknown) or repr(text)} (known: {', '.join(PROFILES)}, all, clients)"
        )
    return list(dict.fromkeys(names))


def client_context(profile: str = "default") -> ssl.SSLContext:
    try:
        settings = PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(settings.ciphers)
    context.minimum_version = settings.minimum_version
    context.maximum_version = settings.maximum_version
    # We never pass a session to wrap_bio, so nothing is resumed; asking for no ticket also
    # spares the server the work of minting one per probe.
    context.options |= ssl.OP_NO_TICKET
    return context
