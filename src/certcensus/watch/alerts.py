"""What changed between watch rounds, as alert events. Pure: census objects in, events out.

Four events, each a dict {"event", "target", "chain", "time", "details"}:
  new-chain      a chain never seen for the target before (in the store or this process); its
                 details say whether it is new beyond chance given the probes made before
                 (novelty.py) and after how many probes it was first seen
  chain-gone     a chain served before is absent for so many probes that chance cannot explain it
  trust-changed  a store's lenient verdict on a served chain flipped
  expiring       a certificate of a served chain expires within the warning period (or has)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo
from certcensus.store.base import Store
from certcensus.watch.novelty import novelty

# A chain is declared gone when, had it kept its last share p, the chance of missing it in all
# N successful probes since, (1 - p)^N, is below this. 1% keeps a watch of a few targets every
# 10 minutes to about one false alarm a week at worst, while a chain served on half of all
# connections is declared gone after 7 probes.
GONE_SIGNIFICANCE = 0.01


@dataclass(frozen=True)
class AlertEvent:
    event: str
    target: str
    chain: str | None
    time: str  # ISO 8601 UTC
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"event": self.event, "target": self.target, "chain": self.chain,
                "time": self.time, "details": self.details}  # fmt: skip

    def line(self) -> str:
        """One line for a terminal or a log: time, event, target, short chain id, summary."""
        chain = f" chain {self.chain[:12]}" if self.chain else ""
        return f"{self.time} ALERT {self.event} {self.target}{chain}: {self.details.get('summary', '')}"


@dataclass
class TargetHistory:
    """What a target served before: every chain id, and how many successful probes saw them."""

    chains: set[str]
    probes: int = 0  # successful probes so far
    baseline_probes: int | None = None  # successful probes of this watch's baseline round


def chains_in_store(store: Store, targets: Iterable[str]) -> dict[str, TargetHistory]:
    """Every chain id each target has ever served, from the store (targets with no probes left
    out: their first round is a baseline)."""
    history: dict[str, TargetHistory] = {}
    # One aggregate over the whole history, not every probe of a watch that ran for weeks.
    groups = store.probe_groups(
        ("target", "chain", "leaf_only"), targets=list(targets), where={"outcome": "ok"}
    )
    for group in groups:
        target, chain_id, leaf_only = group.key
        if chain_id and not leaf_only:
            seen = history.setdefault(target, TargetHistory(set()))
            seen.chains.add(chain_id)
            seen.probes += group.probes
    return history


def ok_probes_before(target: TargetCensus, moment: float) -> int:
    """Successful probes of the census that started before `moment` (from its timeline)."""
    return target.timeline.ok_probes_before(moment) if target.timeline else 0


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(info: CertificateInfo) -> str:
    return info.common_name or info.subject or info.sha256[:12]


def _leaf_name(chain: ChainCount) -> str:
    return _name(chain.leaf) if chain.leaf else chain.chain_id[:12]


def _path(chain: ChainCount) -> list[str]:
    return [_name(info) for info in chain.certificates]


def _trusted_by(chain: ChainCount) -> dict[str, bool]:
    return {store: verdict.trusted for store, verdict in (chain.trust or {}).items()}


class ChangeDetector:
    """Remembers what each target served and turns each round's census into alert events."""

    def __init__(self, history: Mapping[str, TargetHistory] | None = None, warn_days: float = 30.0):
        # target -> what it served; a target missing here has no history: baseline round.
        self.known: dict[str, TargetHistory] = dict(history or {})
        self.warn = dt.timedelta(days=warn_days)
        # target -> chain -> (its share when last seen, successful probes since without it)
        self.absent: dict[str, dict[str, tuple[float, int]]] = {}
        self.trust: dict[tuple[str, str, str], bool] = {}
        self.warned: set[tuple[str, str]] = set()  # (target, certificate sha256)

    def observe_round(self, census: Census, now: dt.datetime | None = None) -> list[AlertEvent]:
        """Events for one round's census (judged, when trust stores were given)."""
        now = now or dt.datetime.now(dt.UTC)
        events: list[AlertEvent] = []
        for target in census.targets:
            events += self._target_events(target, now)
        return events

    def _target_events(self, target: TargetCensus, now: dt.datetime) -> list[AlertEvent]:
        name, time = target.target, _iso(now)
        current = {chain.chain_id: chain for chain in target.chains}
        events = []
        known = self.known.get(name)
        if known is None:
            # The baseline: nothing to compare with yet.
            self.known[name] = TargetHistory(set(current), target.ok, target.ok)
        else:
            for chain_id, chain in current.items():
                if chain_id not in known.chains:
                    known.chains.add(chain_id)
                    events.append(self._new_chain(target, chain, known, time))
            known.probes += target.ok
        events += self._gone_events(name, current, target.ok, time)
        events += self._trust_events(name, current, time)
        events += self._expiry_events(name, current, now, time)
        return events

    def _new_chain(
        self, target: TargetCensus, chain: ChainCount, known: TargetHistory, time: str
    ) -> AlertEvent:
        judged = novelty(chain.count, target.ok, known.probes)
        after = known.probes + ok_probes_before(target, chain.first_seen)
        summary = (f"new chain {_leaf_name(chain)} seen on {chain.count} of {target.ok} probes "
                   f"({chain.share:.1%}), first after {after} probes; {judged.sentence()}")  # fmt: skip
        # How it differs from the round's most common chain, in certs/compare.py's words.
        difference = chain.difference.summary if chain.difference else None
        if difference:
            summary += f"; vs the most common chain: {difference}"
        return AlertEvent("new-chain", target.target, chain.chain_id, time, {
            "summary": summary, "count": chain.count, "share": chain.share,
            "probes": target.ok, "path": _path(chain),
            "certificates": [c.sha256 for c in chain.certificates],
            "differs_from_most_common": difference,
            "first_seen_after_probes": after,
            "probes_before": known.probes,
            "baseline_probes": known.baseline_probes,
            "share_at_least": judged.share_at_least,
            "chance_missed_before": judged.chance_missed_before,
            "new_beyond_chance": judged.new_beyond_chance,
        })  # fmt: skip

    def _gone_events(
        self, name: str, current: dict[str, ChainCount], ok: int, time: str
    ) -> list[AlertEvent]:
        watching = self.absent.setdefault(name, {})
        events = []
        for chain_id in list(watching):
            if chain_id in current:
                continue
            share, missed = watching[chain_id]
            missed += ok
            chance = (
                math.exp(missed * math.log1p(-share)) if share < 1 else (0.0 if missed else 1.0)
            )
            if missed and chance < GONE_SIGNIFICANCE:
                del watching[chain_id]
                summary = (f"chain served on {share:.1%} of probes before is absent from the "
                           f"{missed} successful probes since (chance {chance:.2g})")  # fmt: skip
                events.append(AlertEvent("chain-gone", name, chain_id, time, {
                    "summary": summary, "previous_share": share, "probes_without": missed,
                    "chance_if_still_served": chance,
                }))  # fmt: skip
            else:
                watching[chain_id] = (share, missed)
        for chain_id, chain in current.items():
            watching[chain_id] = (chain.share, 0)
        return events

    def _trust_events(
        self, name: str, current: dict[str, ChainCount], time: str
    ) -> list[AlertEvent]:
        events = []
        for chain_id, chain in current.items():
            for store, trusted in _trusted_by(chain).items():
                key = (name, chain_id, store)
                before = self.trust.get(key)
                self.trust[key] = bool(trusted)
                if before is None or before == bool(trusted):
                    continue
                word = "now trusted" if trusted else "no longer trusted"
                events.append(AlertEvent("trust-changed", name, chain_id, time, {
                    "summary": f"chain {word} by store {store}", "store": store,
                    "trusted_before": before, "trusted_now": bool(trusted),
                }))  # fmt: skip
        return events

    def _expiry_events(
        self, name: str, current: dict[str, ChainCount], now: dt.datetime, time: str
    ) -> list[AlertEvent]:
        events = []
        for chain_id, chain in current.items():
            for position, cert in enumerate(chain.certificates):
                if not cert.not_after or (name, cert.sha256) in self.warned:
                    continue
                not_after = dt.datetime.fromisoformat(cert.not_after.replace("Z", "+00:00"))
                left = not_after - now
                if left >= self.warn:
                    continue
                self.warned.add((name, cert.sha256))
                when = "expired" if left.total_seconds() <= 0 else f"expires in {left.days} days,"
                events.append(AlertEvent("expiring", name, chain_id, time, {
                    "summary": f"{_name(cert)} {when} {cert.not_after}", "sha256": cert.sha256,
                    "subject": cert.subject, "position": position,
                    "not_after": cert.not_after, "days_left": _days_floor(left),
                    "expired": left.total_seconds() <= 0,
                }))  # fmt: skip
        return events


def _days_floor(left: dt.timedelta) -> float:
    """Days left, rounded down to 0.01 day: 364 days and 23 hours is 364.95, never 365.0 beside
    a summary that says "expires in 364 days" (and check's days_left, rounded down too)."""
    return math.floor(left.total_seconds() / 864) / 100
