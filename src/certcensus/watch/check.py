"""`certcensus check`: one census judged with Nagios plugin semantics, as check_ssl_cert does.

Nagios Plugin API (https://nagios-plugins.org/doc/guidelines.html): exit 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN; one status line, then `|` and performance data as
'label'=value[UOM];warn;crit;min;max with ranges in the guidelines' syntax ("30:" alerts below
30; "1" alerts above 1); further lines are the long output. Icinga, Naemon, Sensu and Zabbix
read the same.

  CRITICAL  no probe succeeded (connection problems are the service's state, as check_ssl_cert
            says them); a certificate expired or expiring within --critical days; the leaf not
            valid for the name a client checks (the host, or --sni); a chain untrusted by a
            --trust-store; an incomplete chain (unless --allow-incomplete)
  WARNING   a certificate expiring within --warning days; some probes failed; more than one
            chain (unless --allow-multiple); the -t deadline cut the census short
  UNKNOWN   bad input, or the check itself failed
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from dataclasses import dataclass, field

from certcensus.census.build import build_census
from certcensus.census.judged import judge_census
from certcensus.census.model import ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo, short_name
from certcensus.model.outcomes import Outcome
from certcensus.probe.plan import ScanPlan
from certcensus.probe.run import PlanRun
from certcensus.store.base import Store
from certcensus.trust.certs import Cert
from certcensus.trust.judge import TrustJudge
from certcensus.trust.verdict import Reason, host_matches

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# Probes in flight when the deadline comes get this long to finish (the scheduler's grace).
DRAIN_SECONDS = 1.0
# Room left for the census and the verdicts after the probes stop.
CENSUS_SECONDS = 0.5


@dataclass(frozen=True)
class Thresholds:
    warning_days: float = 30.0
    critical_days: float = 7.0
    allow_multiple: bool = False
    allow_incomplete: bool = False


@dataclass(frozen=True)
class CheckResult:
    status: int
    line: str
    long_output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What the plugin prints: the status line, then one line per chain."""
        return "\n".join([self.line, *self.long_output])


def _plain(text: str) -> str:
    """One line, and no '|' (it would start the performance data early)."""
    return " ".join(str(text).split()).replace("|", "/")


def unknown(message: str) -> CheckResult:
    return CheckResult(UNKNOWN, f"CERTCENSUS UNKNOWN - {_plain(message)}")


async def census_within(
    plan: ScanPlan, store: Store, seconds: float, judge: TrustJudge | None
) -> tuple[TargetCensus, bool]:
    """The census of the plan's one target, probing for at most about `seconds` in all;
    returns it (judged when `judge` is given) and whether the probes ran to the end."""
    run_id = store.start_run("check", [t.name for t in plan.targets])
    run = PlanRun(plan, store, run_id)
    probing = max(0.1, seconds - DRAIN_SECONDS - CENSUS_SECONDS)
    # Probes the deadline cuts off did not answer within -t: timeouts, not a user's Ctrl-C.
    said = f"no answer within the -t deadline ({seconds:g}s)"
    stopper = asyncio.get_running_loop().call_later(probing, run.interrupt, Outcome.TIMEOUT, said)
    try:
        result = await run.run()
    finally:
        stopper.cancel()
        store.finish_run(run_id)
    census = build_census(store, [plan.targets[0].name], [run_id])
    if judge is not None:
        judge_census(census, judge)
    return census.targets[0], not result.interrupted


def _days_left(info: CertificateInfo, now: dt.datetime) -> float | None:
    if not info.not_after:
        return None
    end = dt.datetime.fromisoformat(info.not_after.replace("Z", "+00:00"))
    return (end - now).total_seconds() / 86400


def name_problem(chain: ChainCount, name: str | None) -> str | None:
    """Why the leaf is not valid for `name` (RFC 6125: SAN, else CN), or None when it is."""
    if name is None or not chain.ders:
        return None
    try:
        leaf = Cert.from_der(chain.ders[0])
    except ValueError:
        return "the leaf does not parse"
    if host_matches(leaf, name):
        return None
    return f"leaf {short_name(chain.leaf)} is not valid for {name}"


def incomplete_problem(chain: ChainCount) -> str | None:
    """Why the chain is incomplete (the server left out an intermediate), or None.

    With trust stores the verdicts know (a missing-intermediate problem in any store). Without
    one, the served certificates alone: a leaf that is not self-signed and whose issuer the
    server did not send is incomplete (a client must find the intermediate itself). A leaf
    issued directly by a root is then reported too: --allow-incomplete, or give the store.
    """
    for verdict in (chain.trust or {}).values():
        for problem in verdict.lenient.problems:
            if problem.reason == Reason.MISSING_INTERMEDIATE:
                return problem.detail
    if chain.trust:
        return None
    leaf = chain.leaf
    if leaf is None or leaf.self_signed or leaf.parse_error:
        return None
    if any(info.subject == leaf.issuer for info in chain.certificates[1:]):
        return None
    return f"the server did not send the issuer of the leaf ({leaf.issuer or '?'})"


def evaluate_target(
    target: TargetCensus,
    thresholds: Thresholds = Thresholds(),
    *,
    finished: bool = True,
    requested: int | None = None,
    now: dt.datetime | None = None,
) -> CheckResult:
    """Judge one target's census (its chains judged when trust stores were given)."""
    now = now or dt.datetime.now(dt.UTC)
    chains, probes, ok = target.chains, target.probes, target.ok
    failed = probes - ok
    errors = ", ".join(f"{name} {n}" for name, n in target.errors.most_common())
    if ok == 0:
        example = next(iter(target.error_examples.values()), "")
        line = (f"CERTCENSUS CRITICAL - no probe of {target.target} succeeded "
                f"({errors or 'no probes'})" + (f": {example}" if example else ""))  # fmt: skip
        return CheckResult(CRITICAL, _plain(line) + f" | probes={probes};;;0 ok=0;;;0")
    name = target.server_name
    critical: list[str] = []
    warning: list[str] = []
    long_output: list[str] = []
    earliest: float | None = None
    for number, chain in enumerate(chains, 1):
        label = f"chain #{number} {chain.chain_id[:12]}" + (
            f" ({chain.share:.0%})" if len(chains) > 1 else "")  # fmt: skip
        notes = []
        for cert in chain.certificates:
            days = _days_left(cert, now)
            if days is None:
                continue
            earliest = days if earliest is None else min(earliest, days)
            who = short_name(cert)
            if days <= 0:
                critical.append(f"{label}: {who} expired {cert.not_after}")
            elif days < thresholds.critical_days:
                critical.append(f"{label}: {who} expires in {math.floor(days)} days")
            elif days < thresholds.warning_days:
                warning.append(f"{label}: {who} expires in {math.floor(days)} days")
        if (problem := name_problem(chain, name)) is not None:
            critical.append(f"{label}: {problem}")
            notes.append("NAME MISMATCH")
        elif name is not None:
            notes.append(f"valid for {name}")
        if (problem := incomplete_problem(chain)) is not None:
            notes.append("INCOMPLETE")
            (warning if thresholds.allow_incomplete else critical).append(
                f"{label}: incomplete chain: {problem}")  # fmt: skip
        for store, verdict in sorted((chain.trust or {}).items()):
            if verdict.trusted:
                notes.append(f"trusted by {store}")
            else:
                critical.append(f"{label}: untrusted by {store} ({verdict.lenient.reason})")
                notes.append(f"UNTRUSTED by {store}: {verdict.lenient.detail}")
        long_output.append(_chain_line(number, chain, target.ok, notes, now))
    if name is None:
        long_output.append("no name checked: an address, and no --sni")
    if len(chains) > 1 and not thresholds.allow_multiple:
        shares = ", ".join(f"{c.share:.0%}" for c in chains)
        warning.append(f"{len(chains)} different chains served ({shares})")
    if failed:
        warning.append(f"{failed} of {probes} probes failed ({errors})")
    if not finished:
        asked = f" of {requested}" if requested else ""
        warning.append(f"only {probes}{asked} probes made before the -t deadline")
    status = CRITICAL if critical else WARNING if warning else OK
    summary = (f"{target.target}: {len(chains)} chain{'s' if len(chains) != 1 else ''}, "
               f"{ok}/{probes} probes ok")  # fmt: skip
    if status == OK and earliest is not None:
        summary += f", expires in {math.floor(earliest)} days"
    problems = "; ".join(critical + warning)
    line = f"CERTCENSUS {STATUS_NAMES[status]} - {summary}" + (f": {problems}" if problems else "")
    return CheckResult(status, f"{_plain(line)} | {_perfdata(target, thresholds, earliest)}",
                       [_plain(text) for text in long_output])  # fmt: skip


def _perfdata(target: TargetCensus, thresholds: Thresholds, earliest: float | None) -> str:
    """Nagios ranges: 'N:' alerts below N, 'N' alerts above N."""
    parts = []
    if earliest is not None:
        parts.append(f"days_left={math.floor(earliest)};{thresholds.warning_days:g}:;"
                     f"{thresholds.critical_days:g}:")  # fmt: skip
    chains_warn = "" if thresholds.allow_multiple else "1"
    parts.append(f"chains={len(target.chains)};{chains_warn};;0")
    parts.append(f"probes={target.probes};;;0")
    parts.append(f"ok={target.ok};;;0")
    parts.append(f"failed={target.probes - target.ok};0;;0")
    return " ".join(parts)


def _chain_line(number: int, chain: ChainCount, ok: int, notes: list[str], now) -> str:
    path = " <- ".join(short_name(info) for info in chain.certificates)
    ends = [(d, c) for c in chain.certificates if (d := _days_left(c, now)) is not None]
    expiry = ""
    if ends:
        days, cert = min(ends, key=lambda pair: pair[0])
        expiry = (
            f"; earliest expiry {cert.not_after[:10]} ({math.floor(days)} days, {short_name(cert)})"
        )
    return (f"chain #{number} {chain.chain_id[:16]}: {chain.count}/{ok} probes ({chain.share:.1%}): "
            f"{path}{expiry}" + (f"; {'; '.join(notes)}" if notes else ""))  # fmt: skip
