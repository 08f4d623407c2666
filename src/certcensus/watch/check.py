"""`certcensus check`: one census judged with Nagios plugin semantics.

Nagios Plugin API (https://nagios-plugins.org/doc/guidelines.html): exit 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN; one line of text, then `|` and performance data as 'label'=value[UOM];
warn;crit;min;max. Icinga, Naemon, Sensu and Zabbix read the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from certcensus.census.model import TargetCensus

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


@dataclass(frozen=True)
class CheckResult:
    status: int
    line: str


def unknown(message: str) -> CheckResult:
    text = " ".join(message.split()).replace("|", "/")
    return CheckResult(UNKNOWN, f"CERTCENSUS UNKNOWN - {text}")


def evaluate_target(
    target: TargetCensus,
    *,
    warn_days: float = 30.0,
    allow_multiple: bool = False,
    now: dt.datetime | None = None,
) -> CheckResult:
    """Judge one target of a census (its chains judged when trust stores were given)."""
    now = now or dt.datetime.now(dt.UTC)
    chains, probes, ok = target.chains, target.probes, target.ok
    errors = probes - ok
    if ok == 0:
        why = ", ".join(f"{name} {n}" for name, n in target.errors.most_common())
        example = next(iter(target.error_examples.values()), "")
        return unknown(f"no probe of {target.target} succeeded ({why or 'no probes'})"
                       + (f": {example}" if example else ""))  # fmt: skip
    critical, warning = [], []
    earliest: float | None = None
    for number, chain in enumerate(chains, 1):
        label = f"chain #{number} {chain.chain_id[:12]}"
        for store, verdict in sorted((chain.trust or {}).items()):
            if not verdict.trusted:
                critical.append(f"{label} untrusted by {store}")
        for cert in chain.certificates:
            if not cert.not_after:
                continue
            end = dt.datetime.fromisoformat(cert.not_after.replace("Z", "+00:00"))
            days = (end - now).total_seconds() / 86400
            earliest = days if earliest is None else min(earliest, days)
            who = cert.common_name or cert.subject or cert.sha256[:12]
            if days <= 0:
                critical.append(f"{label}: {who} expired {cert.not_after}")
            elif days < warn_days:
                warning.append(f"{label}: {who} expires in {days:.0f} days")
    if len(chains) > 1 and not allow_multiple:
        shares = ", ".join(f"{c.share:.0%}" for c in chains)
        warning.append(f"{len(chains)} different chains served ({shares})")
    status = CRITICAL if critical else WARNING if warning else OK
    summary = f"{len(chains)} chain{'s' if len(chains) != 1 else ''}, {ok}/{probes} probes ok"
    problems = "; ".join(critical + warning)
    perfdata = f"chains={len(chains)} probes={probes} ok={ok} errors={errors}"
    if earliest is not None:
        perfdata += f" days_left={earliest:.1f};{warn_days:g};0"
    # A '|' in the text would start the performance data early; subjects may contain one.
    problems = problems.replace("|", "/")
    text = f"CERTCENSUS {STATUS_NAMES[status]} - {summary}" + (f": {problems}" if problems else "")
    return CheckResult(status, f"{text} | {perfdata}")
