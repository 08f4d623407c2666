"""The demo's story: an SMTP service whose backends are part-way through a CA change.

Modelled on Office 365's SMTP endpoints, whose backends rolled from one chain to another over
weeks: most connections still got the old chain, a few got the new one, and clients that
trusted only the old root failed on a fraction of deliveries that nobody could reproduce.

    chain A (92%)  smtp.demo.certcensus.test <- Demo Cloud Services CA-1 <- Demo Global Root CA
    chain B  (8%)  smtp.demo.certcensus.test <- Demo TLS RSA CA G2       <- Demo Global Root G2

Each chain comes from its own backend, which names itself in its greeting (mx1. and
mx2.smtp.demo.certcensus.test, as Exchange Online's backends do), so the census can say which
backend serves the rare chain. Both leaves carry the same names but different keys, as after a
real re-issue. Servers send the
leaf and its intermediate, never the root (RFC 8446 section 4.4.2 lets them omit it), so which
root a client needs is exactly the question certcensus answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from certcensus.lab.pki import PKI, Issued
from certcensus.lab.pool import Backend

DEMO_HOSTNAME = "smtp.demo.certcensus.test"
# The IP too, so that a client verifying against 127.0.0.1 finds a matching name.
DEMO_NAMES = [DEMO_HOSTNAME, "127.0.0.1"]
OLD_CHAIN_SHARE = 0.92
NEW_CHAIN_SHARE = 0.08


@dataclass(frozen=True)
class DemoPool:
    """The demo's backends (old chain first) and the two roots, with a PEM file for each."""

    backends: list[Backend]
    roots: list[Issued]  # [Demo Global Root CA, Demo Global Root G2]
    root_pem_paths: list[Path]  # one PEM file per root, same order as `roots`
    hostname: str = DEMO_HOSTNAME


def build_demo_pki(directory: Path) -> DemoPool:
    """Build both chains in memory and write each root to `directory/<slug>.pem`.

    CAs are RSA-2048, as in the story; leaves are P-256 because an ECDSA signature is much
    cheaper than an RSA one and the demo performs hundreds of handshakes. Every CA gets its own
    key: a shared key would give two intermediates the same key identifier and let a path
    builder join leaf B to CA-1, which is not the story. Total cost: about 0.2 s (four RSA keys).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pki = PKI(organization="certcensus demo")

    old_root = pki.root("Demo Global Root CA")
    old_intermediate = pki.intermediate("Demo Cloud Services CA-1", old_root)
    old_leaf = pki.leaf(DEMO_NAMES, old_intermediate, key_type="ec256")

    new_root = pki.root("Demo Global Root G2")
    new_intermediate = pki.intermediate("Demo TLS RSA CA G2", new_root)
    new_leaf = pki.leaf(DEMO_NAMES, new_intermediate, key_type="ec256")

    backends = [
        Backend("mx1", old_leaf, [old_intermediate], weight=OLD_CHAIN_SHARE),
        Backend("mx2", new_leaf, [new_intermediate], weight=NEW_CHAIN_SHARE),
    ]
    roots = [old_root, new_root]
    paths = []
    for root, slug in zip(roots, ("demo-global-root-ca", "demo-global-root-g2")):
        path = directory / f"{slug}.pem"
        path.write_bytes(root.pem)
        paths.append(path)
    return DemoPool(backends=backends, roots=roots, root_pem_paths=paths)
