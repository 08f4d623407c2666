"""Reading certcensus's own JSON census (`scan --json`), so censuses from several machines merge.

Each chain becomes one Capture carrying its `count` and its per-address counts; the ingest turns
it into that many observations, so merged censuses add up exactly. Failed probes (`errors`)
come along too, so `probes` and `ok` add up as well.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from certcensus.ingest.capture import Capture, UnusableFile
from certcensus.ingest.pem import checked_certificate_der
from certcensus.model.outcomes import Outcome


def captures_from_census(document: object, path: str) -> list[Capture]:
    if not isinstance(document, dict) or not isinstance(document.get("targets"), list):
        raise UnusableFile("bad-json", 'no "targets" list')
    captures = []
    for index, target in enumerate(document["targets"]):
        try:
            captures.extend(_captures_of_target(target, path))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UnusableFile("bad-json", f"target {index + 1}: {error!r}") from None
    if not captures:
        raise UnusableFile("no-certificate", "a census without any probe")
    return captures


def _captures_of_target(target: dict, path: str) -> list[Capture]:
    said: dict[str, Any] = {
        "target": str(target["target"]),
        "host": str(target.get("host") or ""),
        "port": int(target.get("port") or 0),
        "protocol": str(target.get("protocol") or "unknown"),
    }
    first = _seconds(target.get("first_probe"))
    captures = []
    for chain in target.get("chains", []):
        ders = tuple(
            checked_certificate_der(
                _der_of_pem(cert["pem"]), f"certificate {cert.get('sha256', '?')[:12]}"
            )
            for cert in chain["certificates"]
        )
        captures.append(Capture(
            path=path, format="census-json", chain=ders, count=int(chain["count"]),
            spread=tuple((str(a), int(n)) for a, n in (chain.get("ips") or {}).items()),
            started_at=_seconds(chain.get("first_seen")), last_seen=_seconds(chain.get("last_seen")),
            **said,
        ))  # fmt: skip
    examples = target.get("error_examples") or {}
    failed = dict(target.get("errors") or {})
    if target.get("interrupted"):  # counted apart from the errors, merged back alike
        failed[str(Outcome.INTERRUPTED)] = target["interrupted"]
    for outcome, count in failed.items():
        Outcome(str(outcome))  # ValueError (-> bad-json) for an outcome we do not know
        captures.append(Capture(
            path=path, format="census-json", chain=(), outcome=str(outcome), count=int(count),
            detail=str(examples.get(outcome, "")), started_at=first, **said,
        ))  # fmt: skip
    return captures


def _der_of_pem(pem: str) -> bytes:
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def _seconds(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
