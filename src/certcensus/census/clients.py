"""What the census means for the clients of each trust store, in one line per store.

"clients that trust only Root G1 (client) fail on about 8% of connections (chain #2);
importing Root G2 fixes it": computed from the verdicts already on the census (chain.trust,
lenient mode: what GSKit, Java and OpenSSL accept) and the CAs each store lacks
(target.missing_cas). Nothing here judges anything again; it only adds up shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.x509.oid import NameOID

from certcensus.trust.certs import Cert
from certcensus.trust.stores import TrustStore

if TYPE_CHECKING:  # the census model holds these impacts, so it cannot be imported at run time
    from certcensus.census.model import TargetCensus

# A store this small is named by what it holds ("clients that trust only Root G1"); a bigger
# one by its name and size ("clients using mozilla (144 CAs)").
MAX_CAS_NAMED = 3
# trust/missing.py opens its reasons with this; our sentence already says it.
UNFIXABLE_PREFIX = "no CA certificate helps: "


@dataclass(frozen=True, slots=True)
class ClientImpact:
    store: str
    clients: str  # "clients that trust only Root G1 (client)", "clients using mozilla (144 CAs)"
    failing: tuple[int, ...]  # chain numbers (1 = most common) this store's clients reject
    failing_share: float  # the share of connections that served one of them
    fix: tuple[str, ...]  # the CAs to import, by name (roots first)
    fixes: tuple[int, ...]  # the failing chains the import makes trusted
    unfixable: tuple[tuple[int, str], ...]  # (chain number, why no CA helps)
    strict_only: tuple[int, ...]  # chains accepted here but refused by strict (web PKI) clients
    where: tuple[tuple[int, str], ...] = ()  # (chain number, "only at 127.0.0.3") for failing

    @property
    def fine(self) -> bool:
        return not self.failing and not self.strict_only

    def sentence(self) -> str:
        if not self.failing:
            words = f"{self.clients} accept every chain served"
        else:
            seen = dict(self.where)
            chains = ", ".join(f"#{n}" + (f" {seen[n]}" if n in seen else "") for n in self.failing)
            plural = "s" if len(self.failing) > 1 else ""
            words = f"{self.clients} fail on {_about(self.failing_share)} (chain{plural} {chains})"
            if self.fix:
                target = "it" if set(self.fixes) == set(self.failing) else _chains(self.fixes)
                words += f"; importing {_and(self.fix)} fixes {target}"
            for number, why in self.unfixable:
                why = why.removeprefix(UNFIXABLE_PREFIX)
                words += f"; no CA import fixes chain #{number} ({why})"
        if self.strict_only:
            words += (
                f"; strictly verifying clients (web PKI) with the same store also refuse "
                f"{_chains(self.strict_only)}"
            )
        return words + "."

    def to_dict(self) -> dict:
        return {
            "store": self.store, "failing_chains": list(self.failing),
            "failing_share": round(self.failing_share, 6), "import": list(self.fix),
            "fixes_chains": list(self.fixes),
            "unfixable": [{"chain": n, "why": why} for n, why in self.unfixable],
            "strict_only_chains": list(self.strict_only), "sentence": self.sentence(),
        }  # fmt: skip


def _about(share: float) -> str:
    """ "about 8% of connections": the observed share, rounded as a person says it."""
    if share >= 0.995:
        return "every connection"
    percent = share * 100
    if percent >= 1:
        return f"about {round(percent)}% of connections"
    if percent >= 0.1:
        return f"about {percent:.1f}% of connections"
    return "fewer than 0.1% of connections"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _chains(numbers: Sequence[int]) -> str:
    plural = "s" if len(numbers) > 1 else ""
    return f"chain{plural} " + _and([f"#{n}" for n in numbers])


def _name(cert: Cert) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def describe_clients(store: TrustStore | None, name: str) -> str:
    """Who the clients of a store are, in words: by its CAs when few, else by its name."""
    if store is None:
        return f"clients using {name}"
    cas = sorted({_name(cert) for cert in store.certificates})
    if 0 < len(cas) <= MAX_CAS_NAMED:
        return f"clients that trust only {_and(cas)} ({name})"
    return f"clients using {name} ({len(store.certificates)} CAs)"


def client_impact(target: TargetCensus, stores: Sequence[TrustStore]) -> list[ClientImpact]:
    """One ClientImpact per store the target's chains were judged against (none when the
    census was not judged)."""
    if not target.chains or not any(chain.trust for chain in target.chains):
        return []
    by_name = {store.name: store for store in stores}
    names = list(dict.fromkeys(name for chain in target.chains for name in (chain.trust or {})))
    numbers = {chain.chain_id: number for number, chain in enumerate(target.chains, 1)}
    impacts = []
    for name in names:
        judged = [(c, c.trust[name]) for c in target.chains if c.trust and name in c.trust]
        failing = [c for c, verdict in judged if not verdict.lenient.trusted]
        missing = (target.missing_cas or {}).get(name)
        unfixable = dict(missing.unfixable) if missing else {}
        fixes = tuple(numbers[c.chain_id] for c in failing if c.chain_id not in unfixable)
        impacts.append(
            ClientImpact(
                store=name,
                clients=describe_clients(by_name.get(name), name),
                failing=tuple(numbers[c.chain_id] for c in failing),
                failing_share=sum(c.share for c in failing),
                fix=tuple(_name(cert) for cert in missing.certificates) if missing else (),
                fixes=fixes if missing and missing.certificates else (),
                unfixable=tuple(
                    (numbers[chain_id], why)
                    for chain_id, why in unfixable.items()
                    if chain_id in numbers
                ),  # fmt: skip
                strict_only=tuple(
                    numbers[c.chain_id]
                    for c, verdict in judged
                    if verdict.lenient.trusted and not verdict.strict.trusted
                ),  # fmt: skip
                where=tuple((numbers[c.chain_id], c.seen_only[0]) for c in failing if c.seen_only),
            )
        )
    return impacts
