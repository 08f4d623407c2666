"""Hand-made census objects for tests of what reads a census (alerts, metrics, check, renders)."""

from __future__ import annotations

from collections import Counter

from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo
from certcensus.trust import ModeVerdict, Problem, Reason, StoreVerdict


def certificate(sha256: str, not_after: str, subject: str | None = None, issuer: str = "CN=ca",
                common_name: str | None = None) -> CertificateInfo:  # fmt: skip
    return CertificateInfo(
        sha256=sha256, subject=subject if subject is not None else f"CN={sha256}", issuer=issuer,
        serial="1", not_before="2020-01-01T00:00:00Z", not_after=not_after, key="EC-secp256r1",
        signature_algorithm="ecdsa-with-SHA256", pem="",
        common_name=common_name if common_name is not None else sha256,
    )  # fmt: skip


def verdict(store: str, trusted: bool) -> StoreVerdict:
    problems = [] if trusted else [Problem(Reason.MISSING_ROOT, f"root is not in store {store}")]
    mode = ModeVerdict(trusted, problems, [], [], "CN=root" if trusted else None)
    return StoreVerdict(store, mode, mode)


def chain(chain_id: str, count: int, ok: int, certificates: list[CertificateInfo],
          trust: dict[str, bool] | None = None, ips: dict[str, int] | None = None) -> ChainCount:  # fmt: skip
    return ChainCount(
        chain_id, [b""] * len(certificates), certificates, count=count, share=count / ok,
        ips=Counter(ips or {}),
        trust={store: verdict(store, ok_) for store, ok_ in trust.items()} if trust is not None else None,
    )  # fmt: skip


def target(name: str, chains: list[ChainCount], probes: int | None = None,
           errors: dict[str, int] | None = None) -> TargetCensus:  # fmt: skip
    ok = sum(c.count for c in chains)
    host, _, port = name.rpartition(":")
    return TargetCensus(name, host, int(port), "smtp", probes=probes if probes is not None else ok,
                        ok=ok, chains=chains, errors=Counter(errors or {}))  # fmt: skip


def census(*targets: TargetCensus) -> Census:
    return Census(list(targets))
