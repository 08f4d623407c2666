"""The one plan builder: what to probe, how, and how hard, for scan, demo, watch and check.

It owns the rules every command must agree on: the SNI a probe sends (`server_name`), the
per-target politeness some protocols need (xrdp's listen backlog is 2), one TLS context per
profile (shared by every target), and which profiles run in worker processes.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from certcensus.model.defaults import RATE_PER_ADDRESS, SCAN_CONCURRENCY, TIMEOUT_SECONDS
from certcensus.probe.dialogs import DialogOptions, dialog_class
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.profiles import DEFAULT_ENGINE, PROFILES, client_context
from certcensus.probe.targets import Target

# Re-resolve names this often on long runs: short enough to see DNS rotation within a typical
# 60-300 s TTL, rare enough to cost nothing.
DEFAULT_RESOLVE_EVERY = 60.0


@dataclass
class ScanPlan:
    targets: list[Target]
    settings: dict[tuple[str, str], ProbeSettings]  # by (target name, profile)
    count: int | None = 100  # per target; a cap when stopping when sure
    duration: float | None = None
    rate: float = RATE_PER_ADDRESS  # per address; 0 = unlimited
    concurrency: int = SCAN_CONCURRENCY
    ip_mode: str = "all"
    resolve_every: float = DEFAULT_RESOLVE_EVERY
    source_addresses: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=lambda: ["default"])
    # "Stop when sure": (min_share, confidence). Each stratum is probed until no chain with at
    # least min_share can have been missed, at the confidence that makes the target's
    # statement (the worst of its strata, Bonferroni-corrected) hold at `confidence`.
    stop_when_sure: tuple[float, float] | None = None
    target_concurrency: dict[str, int] = field(default_factory=dict)  # by target name
    workers: int = 0  # probe from this many worker processes per profile (0: in this process)
    spread: float | None = None  # seconds over which to space each lane's probes
    engine: str = DEFAULT_ENGINE  # the handshake engine of every probe (see probe/prober.py)

    def settings_for(self, target: Target, profile: str) -> ProbeSettings:
        return self.settings[(target.name, profile)]

    def profiles_in_workers(self) -> dict[str, int]:
        """Profile -> worker processes: `workers` each when asked for, and one for each profile
        that needs its own OpenSSL configuration (OpenSSL engine only)."""
        return {
            profile: self.workers or 1
            for profile in self.profiles
            if self.workers or PROFILES[profile].needs_worker_with(self.engine)
        }


@dataclass(frozen=True)
class ProbeOptions:
    """How each probe is made: what the user asked on the command line or in a targets file."""

    timeout: float = TIMEOUT_SECONDS  # per phase
    sni: str | None = None  # None: the target's host name
    no_sni: bool = False
    protocol_options: Mapping[str, str | None] = field(default_factory=dict)  # --ehlo-name ...
    http_head: bool = False  # --http-head: ask HTTPS targets `HEAD /` after the handshake
    identity_headers: tuple[str, ...] = ()  # --identity-header NAME, repeatable
    engine: str = DEFAULT_ENGINE  # --engine: native or openssl


def server_name(target: Target, profile: str, sni: str | None, no_sni: bool) -> str | None:
    """The SNI a probe sends: none for --no-sni or the no-sni profile, else --sni or the host
    name (never an IP address: RFC 6066 section 3 forbids literal addresses in SNI)."""
    if no_sni or not PROFILES[profile].send_sni:
        return None
    return sni or (None if target.is_address else target.host)


def polite_concurrency(targets: Sequence[Target]) -> dict[str, int]:
    """Probes in flight per target that the protocol's servers cope with, where it is lower than
    the global concurrency (an explicit --concurrency overrides it)."""
    limits = {}
    for target in targets:
        if target.dialog:
            limit = dialog_class(target.dialog).polite_concurrency
            if limit:
                limits[target.name] = limit
    return limits


def build_plan(
    targets: Sequence[Target],
    options: ProbeOptions,
    *,
    profiles: Sequence[str] = ("default",),
    count: int | None = None,
    duration: float | None = None,
    rate: float = RATE_PER_ADDRESS,
    concurrency: int | None = None,
    default_concurrency: int = SCAN_CONCURRENCY,
    ip_mode: str = "all",
    resolve_every: float = DEFAULT_RESOLVE_EVERY,
    source_addresses: Sequence[str] = (),
    stop_when_sure: tuple[float, float] | None = None,
    spread: float | None = None,
    workers: int = 0,
    contexts: dict[str, ssl.SSLContext] | None = None,
) -> ScanPlan:
    """The plan for `targets` (deduplicated by name, in order). `concurrency` None means
    `default_concurrency` with the polite per-target limits; a number the user gave overrides
    both.
    `contexts` lets several plans (watch groups) share one TLS context per profile."""
    unique = list({target.name: target for target in targets}.values())
    contexts = contexts if contexts is not None else {}
    for profile in profiles:
        if profile not in contexts:
            contexts[profile] = client_context(profile)
    settings = {
        (target.name, profile): ProbeSettings(
            context=contexts[profile],
            timeout=options.timeout,
            sni=server_name(target, profile, options.sni, options.no_sni),
            dialog_options=DialogOptions(host=target.host, values=dict(options.protocol_options)),
            profile=profile,
            http_head=options.http_head,
            identity_headers=tuple(options.identity_headers),
            engine=options.engine,
        )
        for target in unique
        for profile in profiles
    }
    return ScanPlan(
        targets=unique,
        settings=settings,
        count=count,
        duration=duration,
        rate=rate,
        concurrency=concurrency or default_concurrency,
        target_concurrency={} if concurrency else polite_concurrency(unique),
        ip_mode=ip_mode,
        resolve_every=resolve_every,
        source_addresses=list(source_addresses),
        profiles=list(profiles),
        stop_when_sure=stop_when_sure,
        spread=spread,
        workers=workers,
        engine=options.engine,
    )
