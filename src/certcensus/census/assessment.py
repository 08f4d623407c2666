"""A whole target's statement: coverage and randomness per stratum, one conservative sum."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from certcensus.census.coverage import Coverage, target_coverage
from certcensus.census.randomness import Finding, RandomnessReport, assess, attribute_finding
from certcensus.model.defaults import CONFIDENCE


@dataclass(frozen=True, slots=True)
class ProbeSample:
    """One successful probe, as the statistics need it."""

    destination: Hashable  # what we connected to and how, e.g. (address, sni, profile)
    chain_id: str
    source_address: str | None = None
    source_port: int | None = None
    time: float | None = None  # when the probe started (any monotone clock)


@dataclass(frozen=True, slots=True)
class TargetAssessment:
    coverage: Coverage  # the one conservative statement for the target
    strata: dict[Hashable, tuple[Coverage, RandomnessReport]]  # key: (destination, source_address)

    def to_dict(self) -> dict:
        return {
            "coverage": self.coverage.to_dict(),
            "strata": [
                {
                    "stratum": _json_key(key),
                    "coverage": coverage.to_dict(),
                    "randomness": report.to_dict(),
                }
                for key, (coverage, report) in self.strata.items()
            ],
        }


def _json_key(key: Hashable) -> object:
    if isinstance(key, tuple):
        return [_json_key(part) for part in key]
    return key if isinstance(key, (str, int, float, bool, type(None))) else str(key)


def assess_target(
    samples: Sequence[ProbeSample], confidence: float = CONFIDENCE
) -> TargetAssessment:
    """Per-stratum coverage and randomness, and one target-level statement.

    A stratum is (destination, source_address): the census must never pool probes that could
    reach different pools. Address hashing cannot be seen inside a stratum (one source
    address), so it is tested per destination across source addresses; when it is found,
    every stratum of that destination loses its statement too, because a client from another
    address would meet a pool we never probed.
    """
    by_stratum: dict[Hashable, list[ProbeSample]] = defaultdict(list)
    by_destination: dict[Hashable, list[ProbeSample]] = defaultdict(list)
    for sample in samples:
        by_stratum[(sample.destination, sample.source_address)].append(sample)
        by_destination[sample.destination].append(sample)

    address_findings: dict[Hashable, Finding] = {}
    for destination, group in by_destination.items():
        addresses = [s.source_address for s in group]
        if None not in addresses and len(set(addresses)) >= 2:
            labels = {"source address": addresses}
            finding = attribute_finding(
                "source-address", "address", labels, [s.chain_id for s in group]
            )
            if finding:
                address_findings[destination] = finding

    strata: dict[Hashable, tuple[Coverage, RandomnessReport]] = {}
    for key, group in by_stratum.items():
        ports = [s.source_port for s in group if s.source_port is not None]
        times = [s.time for s in group if s.time is not None]
        coverage, report = assess(
            [s.chain_id for s in group],
            source_ports=ports if len(ports) == len(group) else None,
            times=times if len(times) == len(group) else None,
            confidence=confidence,
        )
        finding = address_findings.get(key[0])  # type: ignore[index]  # keys are (destination, source)
        if finding:
            untested = [note for note in report.untested if "source address" not in note]
            report = RandomnessReport([*report.findings, finding], untested)
            coverage = coverage.marked_not_applicable("; ".join(f.words for f in report.findings))
        strata[key] = (coverage, report)

    not_applicable = {
        key: coverage.not_applicable_reason or "not applicable"
        for key, (coverage, _) in strata.items()
        if not coverage.applicable and coverage.probes > 0
    }
    chain_ids = {key: [s.chain_id for s in group] for key, group in by_stratum.items()}
    return TargetAssessment(target_coverage(chain_ids, confidence, not_applicable), strata)
