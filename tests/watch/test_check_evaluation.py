"""The check's verdict on hand-made census objects: thresholds, failures and perfdata ranges."""

from __future__ import annotations

import datetime as dt

from certcensus.watch.check import CRITICAL, OK, WARNING, Thresholds, evaluate_target

from .. import census_objects as made

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def target(days_left: float, ok: int = 10, probes: int = 10, errors=None):
    end = (NOW + dt.timedelta(days=days_left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    leaf = made.certificate("aa", end, subject="CN=ca", issuer="CN=ca")  # self-signed: complete
    leaf = leaf.__class__(**{**leaf.to_dict(), "self_signed": True})
    return made.target("10.0.0.1:443", [made.chain("c1", ok, ok, [leaf])], probes=probes,
                       errors=errors)  # fmt: skip


def test_warning_and_critical_days_with_nagios_ranges():
    cases = [(60, OK), (20, WARNING), (5, CRITICAL), (-1, CRITICAL)]
    for days, status in cases:
        result = evaluate_target(target(days + 0.5), Thresholds(30, 7), now=NOW)
        assert result.status == status, (days, result.line)
        # Whole days left, rounded down (half a day past expiry is -1): ranges in Nagios syntax.
        assert f" | days_left={days};30:;7: " in result.line, result.line


def test_some_failed_probes_are_a_warning():
    result = evaluate_target(target(365, ok=8, probes=10, errors={"timeout": 2}), now=NOW)
    assert result.status == WARNING
    assert "2 of 10 probes failed (timeout 2)" in result.line
    assert result.line.endswith("chains=1;1;;0 probes=10;;;0 ok=8;;;0 failed=2;0;;0")


def test_a_deadline_that_cut_the_census_short_is_said():
    result = evaluate_target(target(365), finished=False, requested=30, now=NOW)
    assert (
        result.status == WARNING
        and "only 10 of 30 probes made before the -t deadline" in result.line
    )
