"""Both verdicts on a differential case: `openssl verify` as the reference, and the lenient one.

The reference runs `openssl verify -partial_chain -purpose sslserver -attime T` with
`-verify_hostname` (or `-verify_ip`) only when the case has a host, the store as -CAfile and the
served chain as -untrusted: what the lenient verdict claims to be.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from certcensus.certs.info import pem_of
from certcensus.lab.differential import Case


@dataclass(frozen=True)
class OpenSSLVerdict:
    trusted: bool
    error: str  # "" when trusted, else "20 unable to get local issuer certificate" or a load error


_ERROR = re.compile(r"error (\d+) at \d+ depth lookup: ?(.*)")


def openssl_command(directory: Path, case: Case) -> list[str]:
    name: list[str] = []
    if case.host:
        try:
            ipaddress.ip_address(case.host)
            name = ["-verify_ip", case.host]
        except ValueError:
            name = ["-verify_hostname", case.host]
    return [
        "openssl", "verify", "-partial_chain", "-purpose", "sslserver",
        "-attime", str(int(case.at.timestamp())), *name,
        "-CAfile", str(directory / "store.pem"), "-untrusted", str(directory / "served.pem"),
        str(directory / "leaf.pem"),
    ]  # fmt: skip


def run_openssl(case: Case, openssl: str = "openssl") -> OpenSSLVerdict:
    with tempfile.TemporaryDirectory(prefix="certcensus-diff-") as name:
        directory = Path(name)
        (directory / "store.pem").write_text("".join(pem_of(d) for d in case.store))
        (directory / "served.pem").write_text("".join(pem_of(d) for d in case.served))
        (directory / "leaf.pem").write_text(pem_of(case.served[0]))
        command = openssl_command(directory, case)
        command[0] = openssl
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        return OpenSSLVerdict(True, "")
    found = _ERROR.search(result.stdout + result.stderr)
    if found:
        return OpenSSLVerdict(False, f"{found.group(1)} {found.group(2).strip()}")
    lines = (result.stderr or result.stdout).strip().splitlines()
    return OpenSSLVerdict(False, f"unparsed: {lines[0] if lines else result.returncode}")


def run_lenient(case: Case):
    """The lenient ModeVerdict of certcensus on `case` (no CA pool: OpenSSL has none)."""
    from certcensus.trust.certs import Cert
    from certcensus.trust.stores import TrustStore
    from certcensus.trust.verdict import chain_trust_verdicts

    unique = {d: None for d in case.store}
    store = TrustStore("store", "case", tuple(Cert.from_der(d) for d in unique))
    return chain_trust_verdicts(case.served, [store], host=case.host, at=case.at)["store"].lenient


# OpenSSL's verify error codes (x509_vfy.h, stable across 3.x) -> the verdict reasons that name
# the same fault. OpenSSL reports its first error; the verdict lists every problem.
OPENSSL_ERROR_REASONS = {
    "2": {"missing-intermediate", "missing-root"},  # unable to get issuer certificate
    "6": {"malformed-certificate"},  # unable to decode issuer public key
    "7": {"bad-signature"},  # certificate signature failure
    "9": {"not-yet-valid"},
    "10": {"expired"},
    "18": {"missing-root"},  # self-signed certificate (the leaf)
    "19": {"missing-root"},  # self-signed certificate in certificate chain
    "20": {"missing-intermediate", "missing-root", "malformed-certificate"},
    "22": {"path-too-long"},
    "25": {"path-length"},
    "26": {"wrong-purpose"},
    "32": {"key-usage"},  # key usage does not include certificate signing
    "34": {"unhandled-critical-extension"},
    "47": {"name-constraints"}, "48": {"name-constraints"}, "49": {"name-constraints"},
    "51": {"name-constraints"}, "52": {"name-constraints"}, "53": {"name-constraints"},
    "62": {"name-mismatch"},  # hostname mismatch
    "64": {"name-mismatch"},  # IP address mismatch
    "79": {"not-a-ca"},  # invalid CA certificate
}  # fmt: skip


def reasons_agree(openssl: OpenSSLVerdict, lenient) -> bool:
    """Does the verdict name, among its problems, the fault OpenSSL stopped at?"""
    if openssl.trusted or lenient.trusted:
        return openssl.trusted == lenient.trusted
    code = openssl.error.split(" ", 1)[0]
    expected = OPENSSL_ERROR_REASONS.get(code)
    return expected is not None and bool(expected & {str(p.reason) for p in lenient.problems})
