"""Random chains for the differential test of the lenient verdict against `openssl verify`.

`random_case(rng, now)` draws one case: a PKI (roots with and without basicConstraints, v1
roots, key rollover, cross-signs, intermediates with name constraints, extendedKeyUsage,
pathLenConstraint, critical unknown extensions, odd keyUsage), a leaf, a served chain (sometimes
incomplete, out of order, with the root, with duplicates or unrelated certificates), a store, a
time at or near a validity edge, and a host name or none. Keys are RSA-2048 (and 1024), ECDSA
P-256 and P-384 and Ed25519, signatures SHA-256, SHA-384 or SHA-1, a few certificates malformed.
lab/reference.py gives both verdicts on it. Used by tests/trust (a few hundred seeded cases)
and bench/bench_differential.py (ten thousand).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certcensus.lab import forge as F

ONE_DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
HOSTS = ["www.example.test", "api.example.test", "mail.corp.test", "x.other.test", "10.1.2.3",
         "192.168.7.9"]  # fmt: skip
SAN_NAMES = HOSTS + ["*.example.test", "*.corp.test", "w*.example.test", "example.test",
                     "10.9.9.9", "fd00::1"]  # fmt: skip
# Each key type's share of the keys drawn (P-256 and RSA-2048 as in the web PKI).
KEY_WEIGHTS = {"rsa2048": 0.35, "ec256": 0.3, "ec384": 0.13, "ed25519": 0.17, "rsa1024": 0.05}
KEYS_PER_TYPE = 8
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
ANY_EKU = "2.5.29.37.0"


@dataclass
class Case:
    served: list[bytes]
    store: list[bytes]
    at: dt.datetime
    host: str | None
    features: list[str] = field(default_factory=list)


@dataclass
class CA:
    name: x509.Name
    key: object
    serial: int
    issuer: x509.Name
    der: bytes = b""


class _Draw:
    def __init__(self, rng: random.Random, now: dt.datetime):
        self.rng = rng
        self.now = now
        self.used_keys: set[tuple[str, int]] = set()
        self.features: list[str] = []
        self.serial = rng.randrange(1 << 20, 1 << 30)
        self.leaf_names: list[str] = []

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def key(self, allow_weak: bool = True):
        types = [t for t in KEY_WEIGHTS if allow_weak or t != "rsa1024"]
        kind = self.rng.choices(types, [KEY_WEIGHTS[t] for t in types])[0]
        free = [i for i in range(KEYS_PER_TYPE) if (kind, i) not in self.used_keys]
        index = self.rng.choice(free or list(range(KEYS_PER_TYPE)))
        self.used_keys.add((kind, index))
        if kind == "ed25519":
            self.features.append("ed25519")
        return F.ring_key(kind, index)

    def next_serial(self) -> int:
        self.serial += self.rng.randrange(1, 1000)
        return self.serial

    def validity(self, ca: bool) -> tuple[dt.datetime, dt.datetime]:
        before, after = self.now - 30 * ONE_DAY, self.now + (3650 if ca else 90) * ONE_DAY
        if self.chance(0.08):
            self.features.append("validity-edge")
            edge = self.rng.choice(["after=now", "after=now-1", "after=now+1", "before=now",
                                    "before=now+1", "expired", "future"])  # fmt: skip
            if edge == "after=now":
                after = self.now
            elif edge == "after=now-1":
                after = self.now - SECOND
            elif edge == "after=now+1":
                after = self.now + SECOND
            elif edge == "before=now":
                before = self.now
            elif edge == "before=now+1":
                before = self.now + SECOND
            elif edge == "expired":
                before, after = self.now - 90 * ONE_DAY, self.now - ONE_DAY
            else:
                before, after = self.now + ONE_DAY, self.now + 90 * ONE_DAY
        return before, after

    def hash_for(self, issuer_key) -> str | None:
        if F.key_kind(issuer_key) == "ed25519":
            return None
        if self.chance(0.15):
            self.features.append("sha1")
            return "sha1"
        return "sha384" if self.chance(0.1) else "sha256"

    def constraints(self) -> x509.NameConstraints:
        self.features.append("name-constraints")
        pool: list[x509.GeneralName] = [
            x509.DNSName(d) for d in ("example.test", ".example.test", "corp.test", "other.test")
        ]
        pool += [x509.IPAddress(ipaddress.ip_network(n)) for n in ("10.0.0.0/8", "10.1.2.0/24",
                                                                   "192.168.0.0/16", "fd00::/8")]  # fmt: skip
        pool += [
            x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)]))
            for o in (F.ORGANIZATION, "Another Org")
        ]
        permitted = self.rng.sample(pool, self.rng.randrange(0, 3))
        excluded = self.rng.sample(
            [p for p in pool if p not in permitted], self.rng.randrange(0, 2)
        )
        if not permitted and not excluded:
            permitted = [self.rng.choice(pool)]
        return x509.NameConstraints(permitted or None, excluded or None)

    def malformations(self, p: float, allowed: tuple[str, ...]) -> list[str]:
        if not self.chance(p):
            return []
        chosen = self.rng.choice(allowed)
        self.features.append(f"malformed:{chosen}")
        return [chosen]


def _root(draw: _Draw, label: str) -> CA:
    key = draw.key(allow_weak=False)
    name = F.name(f"{label} Root")
    before, after = draw.validity(ca=True)
    spec = F.Spec(name, name, key, key, draw.next_serial(), before, after,
                  hash=draw.hash_for(key))  # fmt: skip
    shape = draw.rng.random()
    if shape < 0.07:
        spec.ca, spec.key_usage = None, "default"  # no basicConstraints, keyUsage keyCertSign
        draw.features.append("root-without-basic-constraints")
    elif shape < 0.12:
        spec.ca, spec.key_usage = None, "none"  # no basicConstraints and no keyUsage
        draw.features.append("root-without-any-constraints")
    elif shape < 0.2:
        spec.version1 = True
        draw.features.append("v1-root")
    if draw.chance(0.08):
        spec.name_constraints = draw.constraints()
    if draw.chance(0.06):
        spec.eku = draw.rng.choice([(SERVER_AUTH,), (CLIENT_AUTH,)])
        draw.features.append("eku-on-ca")
    ca = CA(name, key, spec.serial, name)
    ca.der = F.forge(spec)
    return ca


def _issue_ca(draw: _Draw, label: str, issuer: CA, key=None, name: x509.Name | None = None) -> CA:
    if key is None and draw.chance(0.02):
        # An RSA key with exponent 1: cryptography will not load it, OpenSSL uses it.
        key = F.ExponentOneKey(F.ring_key("rsa2048", draw.rng.randrange(KEYS_PER_TYPE)))
        draw.features.append("rsa-exponent-1")
    key = key or draw.key()
    name = name or F.name(label)
    before, after = draw.validity(ca=True)
    spec = F.Spec(name, issuer.name, key, issuer.key, draw.next_serial(), before, after,
                  hash=draw.hash_for(issuer.key), issuer_issuer=issuer.issuer,
                  issuer_serial=issuer.serial)  # fmt: skip
    roll = draw.rng.random()
    if roll < 0.03:
        spec.ca = False
        draw.features.append("intermediate-not-ca")
    elif roll < 0.06:
        spec.ca = None
        draw.features.append("intermediate-without-basic-constraints")
    if draw.chance(0.35):
        spec.path_length = draw.rng.choice([0, 0, 1, 2])
        draw.features.append("path-length")
    roll = draw.rng.random()
    if roll < 0.04:
        spec.key_usage = "no-cert-sign"
        draw.features.append("ca-without-keycertsign")
    elif roll < 0.1:
        spec.key_usage = "none"
    if draw.chance(0.15):
        spec.eku = draw.rng.choice(
            [(SERVER_AUTH,), (SERVER_AUTH,), (CLIENT_AUTH,), (ANY_EKU,), (SERVER_AUTH, CLIENT_AUTH)]
        )
        draw.features.append("eku-on-ca")
    if draw.chance(0.25):
        spec.name_constraints = draw.constraints()
    if draw.chance(0.04):
        spec.critical_unknown = True
        draw.features.append("critical-unknown")
    if draw.chance(0.02):
        spec.critical_aki = True
        draw.features.append("critical-aki")
    if draw.chance(0.04):
        spec.aki = draw.rng.choice(["none", "keyid-issuer-serial"])
        draw.features.append(f"aki-{spec.aki}")
        if spec.aki == "keyid-issuer-serial" and draw.chance(0.3):
            spec.issuer_serial = (issuer.serial or 1) + 1  # names the wrong issuer certificate
    spec.malformations = draw.malformations(0.03, ("duplicate-san", "empty-eku",
                                                   "bad-ip-name-constraint", "bad-aia",
                                                   "aki-issuer-without-serial"))  # fmt: skip
    ca = CA(name, key, spec.serial, issuer.name)
    ca.der = F.forge(spec)
    return ca


def _leaf(draw: _Draw, issuer: CA) -> bytes:
    key = draw.key()
    names = draw.rng.sample(SAN_NAMES, draw.rng.randrange(1, 4))
    common = next((n for n in names if not n.startswith("*")), "leaf.example.test")
    before, after = draw.validity(ca=False)
    spec = F.Spec(F.name(common), issuer.name, key, issuer.key, draw.next_serial(), before, after,
                  ca=None, sans=names, eku=(SERVER_AUTH,), hash=draw.hash_for(issuer.key),
                  issuer_issuer=issuer.issuer, issuer_serial=issuer.serial)  # fmt: skip
    draw.leaf_names = [n for n in names if "*" not in n]
    if draw.chance(0.1):
        spec.sans = None
        draw.features.append("leaf-without-san")
    roll = draw.rng.random()
    if roll < 0.08:
        spec.eku = None
    elif roll < 0.13:
        spec.eku = (CLIENT_AUTH,)
        draw.features.append("leaf-client-auth-only")
    elif roll < 0.16:
        spec.eku = (ANY_EKU,)
        draw.features.append("leaf-any-eku")
    roll = draw.rng.random()
    if roll < 0.06:
        spec.ca = False
    elif roll < 0.09:
        spec.ca = True
        draw.features.append("leaf-is-ca")
    if draw.chance(0.05):
        spec.key_usage = draw.rng.choice(["none", "no-digital-signature"])
        draw.features.append(f"leaf-key-usage-{spec.key_usage}")
    if draw.chance(0.03):
        spec.critical_unknown = True
        draw.features.append("critical-unknown")
    spec.malformations = draw.malformations(0.06, F.MALFORMATIONS)
    return F.forge(spec)


def random_case(rng: random.Random, now: dt.datetime) -> Case:
    """One random case (see the module docstring)."""
    draw = _Draw(rng, now)
    root = _root(draw, "Alpha")
    roots = [root]
    issuing = root
    extras_served: list[bytes] = []
    store_extra: list[bytes] = []
    if draw.chance(0.1):
        # Key rollover (RFC 4210 4.4): the same root name with a new key; the old key signs a
        # self-issued "old with new" certificate that the server sends after the intermediates.
        draw.features.append("rollover")
        new_key = draw.key(allow_weak=False)
        before, after = draw.validity(ca=True)
        link = F.Spec(root.name, root.name, new_key, root.key, draw.next_serial(), before, after,
                      hash=draw.hash_for(root.key))  # fmt: skip
        issuing = CA(root.name, new_key, link.serial, root.name, F.forge(link))
        extras_served.append(issuing.der)
        if draw.chance(0.3):
            new_self = F.Spec(root.name, root.name, new_key, new_key, draw.next_serial(),
                              before, after, hash=draw.hash_for(new_key))  # fmt: skip
            store_extra.append(F.forge(new_self))
    intermediates: list[CA] = []
    for depth in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
        intermediates.append(_issue_ca(draw, f"Issuing CA {depth}", issuing))
        issuing = intermediates[-1]
    cross: CA | None = None
    if intermediates and draw.chance(0.15):
        draw.features.append("cross-sign")
        other = _root(draw, "Beta")
        roots.append(other)
        top = intermediates[0]
        cross = _issue_ca(draw, "", other, key=top.key, name=top.name)
    leaf = _leaf(draw, issuing)

    chain_cas = [c.der for c in reversed(intermediates)]  # lowest first
    chain_cas += extras_served
    if cross is not None:
        position = rng.randrange(len(chain_cas) + 1)
        chain_cas.insert(position, cross.der)
    if chain_cas and draw.chance(0.1):
        chain_cas.pop(rng.randrange(len(chain_cas)))
        draw.features.append("incomplete")
    if draw.chance(0.15):
        chain_cas.append(root.der)
        draw.features.append("root-sent")
    if len(chain_cas) > 1 and draw.chance(0.1):
        rng.shuffle(chain_cas)
        draw.features.append("shuffled")
    if chain_cas and draw.chance(0.03):
        chain_cas.append(rng.choice(chain_cas))
        draw.features.append("duplicate")
    if draw.chance(0.04):
        stranger = _root(draw, "Stranger")
        chain_cas.append(_issue_ca(draw, "Stranger CA", stranger).der)
        draw.features.append("extra")
    served = [leaf] + chain_cas

    roll = rng.random()
    if roll < 0.75:
        store = [c.der for c in roots[: rng.choice([1, len(roots)])]]
    elif roll < 0.85 and intermediates:
        store = [rng.choice(intermediates).der]
        draw.features.append("partial-chain-store")
    elif roll < 0.92 and len(roots) > 1:
        store = [roots[1].der]
    else:
        store = [_root(draw, "Unrelated").der]
        draw.features.append("unrelated-store")
    store += store_extra
    if draw.chance(0.04):
        # A root with the same name and another key, listed first: only the key identifiers
        # (and then the signature) tell them apart.
        impostor_key = draw.key(allow_weak=False)
        impostor = F.Spec(root.name, root.name, impostor_key, impostor_key, draw.next_serial(),
                          now - 30 * ONE_DAY, now + 3650 * ONE_DAY, hash=draw.hash_for(impostor_key),
                          ski=draw.chance(0.5))  # fmt: skip
        store.insert(0, F.forge(impostor))
        draw.features.append("impostor-root")
    host = None
    if rng.random() < 0.5:
        own = [n for n in draw.leaf_names if n in HOSTS or not n.startswith("*")]
        host = rng.choice(own) if own and rng.random() < 0.7 else rng.choice(HOSTS)
        draw.features.append("host")
    return Case(served, store, now, host, sorted(set(draw.features)))
