"""The census as JSON: the contract other tools and checks read (keep these names).

One rendering of the census object (census/model.py), like the console and HTML; nothing
reads this dict back except `ingest`, which merges censuses made elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import IO

from certcensus.census.backends import BackendCensus, ranked
from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.model.chain import certificate_fingerprint as sha256_of
from certcensus.probe.identity.server_hello import ja3s_of
from certcensus.trust.chain_issues import ChainIssues
from certcensus.trust.missing import MissingCAs
from certcensus.trust.verdict import ModeVerdict, StoreVerdict


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mode_verdict_to_dict(verdict: ModeVerdict) -> dict:
    return {
        "trusted": verdict.trusted,
        "reason": str(verdict.reason),
        "detail": verdict.detail,
        "path": verdict.path,
        "missing": verdict.missing,
        "anchor": verdict.anchor,
        "problems": [{**dataclasses.asdict(p), "reason": str(p.reason)} for p in verdict.problems],
    }


def store_verdict_to_dict(verdict: StoreVerdict) -> dict:
    return {
        "lenient": mode_verdict_to_dict(verdict.lenient),
        "strict": mode_verdict_to_dict(verdict.strict),
    }


def missing_cas_to_dict(missing: MissingCAs) -> dict:
    return {
        "store": missing.store,
        "certificates": [
            {"sha256": c.sha256, "subject": c.subject.rfc4514_string(), "root": c.is_root}
            for c in missing.certificates
        ],
        "needed_by": missing.needed_by,
        "unfixable": missing.unfixable,
        "unknown_issuers": {
            chain_id: dataclasses.asdict(unknown)
            for chain_id, unknown in missing.unknown_issuers.items()
        },
        "complete": missing.complete,
    }


def chain_issues_to_dict(issues: ChainIssues) -> dict:
    return {
        "issues": [
            {"kind": str(i.kind), "detail": i.detail, "certificates": list(i.certificates)}
            for i in issues
        ],
        "path_as_sent": list(issues.path),
        "root_sent": issues.root_sent,
        "ends_at_issuer": issues.ends_at_issuer,
    }


def chain_to_dict(chain: ChainCount) -> dict:
    return {
        "id": chain.chain_id,
        "count": chain.count,
        "share": round(chain.share, 6),
        "first_seen": iso_time(chain.first_seen),
        "last_seen": iso_time(chain.last_seen),
        "ips": dict(chain.ips.most_common()),
        "certificates": [info.to_dict() for info in chain.certificates],
        "differs_from_most_common": [
            {
                "position": change.position,
                "change": change.change,
                "most_common": change.a.sha256 if change.a else None,
                "this": change.b.sha256 if change.b else None,
                "words": change.words,
            }
            for change in chain.differences
        ],
        **({"difference": chain.difference.summary} if chain.difference is not None else {}),
        "seen_only": chain.seen_only,
        # identity -> probes; probes that learned no identity are under "null" (JSON keys are
        # strings), never dropped.
        "backends": dict(ranked(chain.backends)),
        **(
            {"chain_issues": chain_issues_to_dict(chain.issues)} if chain.issues is not None else {}
        ),
        **({"vantages": dict(sorted(chain.vantages.items()))} if chain.vantages else {}),
        **(
            {"trust": {name: store_verdict_to_dict(v) for name, v in chain.trust.items()}}
            if chain.trust is not None
            else {}
        ),
    }


def target_to_dict(target: TargetCensus) -> dict:
    return {
        "target": target.target,
        "host": target.host,
        "port": target.port,
        "protocol": target.protocol,
        "probes": target.probes,
        "ok": target.ok,
        "interrupted": target.interrupted,  # in flight when the run was stopped; not errors
        "errors": dict(target.errors.most_common()),
        "error_examples": target.error_examples,
        "ips": dict(target.ips.most_common()),
        "first_probe": iso_time(target.first_probe),
        "last_probe": iso_time(target.last_probe),
        "chains": [chain_to_dict(chain) for chain in target.chains],
        "leaf_only": {sha256_of(der): count for der, count in target.leaf_only.most_common()},
        "strata": [
            {
                "address": stratum.key.address,
                "sni": stratum.key.sni,
                "profile": stratum.key.profile,
                "source_address": stratum.key.source_address,
                **({"vantage": stratum.key.vantage} if stratum.key.vantage else {}),
                "probes": stratum.probes,
                "ok": stratum.ok,
                "chains": dict(stratum.chains.most_common()),
            }
            for stratum in target.strata
        ],
        **coverage_to_dict(target),
        **backends_to_dict(target.backends),
        **vantages_to_dict(target),
        **(
            {"missing_cas": {n: missing_cas_to_dict(m) for n, m in target.missing_cas.items()}}
            if target.missing_cas is not None
            else {}
        ),
        **({"clients": [impact.to_dict() for impact in target.clients]} if target.clients else {}),
    }


def coverage_to_dict(target: TargetCensus) -> dict:
    if target.assessment is None:
        return {}
    assessment = target.assessment.to_dict()
    split = target.chain_split()
    coverage = {
        **assessment["coverage"],
        "sentence": target.coverage_sentence(),
        "split": split.to_dict() if split else None,
    }
    return {"coverage": coverage, "coverage_strata": assessment["strata"]}


def vantages_to_dict(target: TargetCensus) -> dict:
    """Probes and the coverage statement per vantage (only for censuses made from vantages);
    each chain carries its own "vantages" counts."""
    if not target.vantages:
        return {}
    sentences = target.vantage_sentences()
    return {
        "vantages": {
            vantage: {
                "probes": probes,
                "coverage": {
                    **target.vantage_coverage[vantage].to_dict(),
                    "sentence": sentences[vantage],
                },
            }
            for vantage, probes in sorted(target.vantages.items())
        }
    }


def backends_to_dict(backends: BackendCensus | None) -> dict:
    """The target's `backends`, `backend_estimate`, `server_hellos` and the sentences."""
    if backends is None:
        return {}
    estimate = backends.estimate
    return {
        "backends": [
            {
                "identity": backend.identity,
                "count": backend.probes,
                "chains": dict(ranked(backend.chains)),
                "failed": backend.failed,
                "server_hello": [
                    fingerprint for fingerprint, _ in backend.server_hellos.most_common()
                ],
                "serves_several_chains": backend.serves_several_chains,
                "why_several_chains": backend.why_several_chains,
            }
            for backend in backends.backends
        ],
        "backend_estimate": (
            estimate.to_dict()
            if estimate is not None
            else {"seen": 0, "estimated": 0, "low": 0, "high": 0, "confidence": None}
        ),
        "split_by_backend": backends.split_by_backend,
        "server_hellos": [
            {
                "fingerprint": fingerprint,
                "ja3s": ja3s_of(fingerprint),
                "count": count,
                "chains": dict(backends.by_server_hello.get(fingerprint, {})),
            }
            for fingerprint, count in backends.server_hello_probes.most_common()
        ],
        "backend_summary": backends.sentences(),
    }


def census_to_dict(census: Census) -> dict:
    return {"targets": [target_to_dict(target) for target in census.targets]}


# Indented for people up to this many targets; past it (fleets) compact: indentation was ~30%
# of a fleet's JSON, 5.2 KB a target, and nobody reads 10,000 targets by eye.
INDENT_UP_TO_TARGETS = 20


def census_to_json(census: Census) -> str:
    if len(census.targets) > INDENT_UP_TO_TARGETS:
        return json.dumps(census_to_dict(census), separators=(",", ":"))
    return json.dumps(census_to_dict(census), indent=2)


def write_census_json(census: Census, file: IO[str]) -> None:
    """census_to_json into `file`, a fleet's targets one at a time: the whole document as
    dicts (10 KB a target) is never in memory at once."""
    if len(census.targets) <= INDENT_UP_TO_TARGETS:
        file.write(census_to_json(census))
        return
    file.write('{"targets":[')
    for index, target in enumerate(census.targets):
        if index:
            file.write(",")
        file.write(json.dumps(target_to_dict(target), separators=(",", ":")))
    file.write("]}")


def target_to_json_line(target: TargetCensus) -> str:
    """One target as one line of JSON (--json-lines): an element of "targets", compact."""
    return json.dumps(target_to_dict(target), separators=(",", ":"))
