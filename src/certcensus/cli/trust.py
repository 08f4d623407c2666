"""`certcensus trust`: per chain and trust store, would a client trust it, and why not.

Reads the chains of the latest runs from the store and never probes. Exit status: 0 every chain
trusted (lenient), 1 some chain untrusted, 2 usage or bad input.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from certcensus.cli.command import Command
from certcensus.cli.options import db_option, trust_options
from certcensus.cli.sclient import sclient_options
from certcensus.model import defaults
from certcensus.model.errors import EXIT_OK, EXIT_PROBLEM_FOUND, InputError, UsageError


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at {value!r} is not an ISO 8601 time (2026-01-31T12:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def analysis_options(function):
    """What `trust` and `export` share: the store, the selection, the time, the trust stores."""
    options = [
        db_option,
        click.option("--target", "targets", multiple=True,
                     help="Only this target (repeatable; default: every target of the latest runs)."),
        click.option("--at", "at", metavar="ISO-TIME", help="Judge validity at this time (default: now)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    function = sclient_options("-CAfile", "-CApath")(function)
    return trust_options(default_store=defaults.TRUST_STORE)(function)


def judged_census(db_path, targets, trust_stores, store_password, offline, at, cache_dir):
    """The latest runs' census of `targets` (all when empty), judged by the requested stores."""
    from certcensus.census.build import build_census
    from certcensus.census.judged import judge_census
    from certcensus.store import open_store
    from certcensus.trust.judge import TrustJudge, TrustRequest

    when = parse_time(at)  # before any loading or fetching: a typo should fail fast
    request = TrustRequest(trust_stores, store_password, offline, cache_dir, at=when,
                           default_store=defaults.TRUST_STORE)  # fmt: skip
    judge = TrustJudge.load(request)
    assert judge is not None  # a default store is always given
    with open_store(db_path, read_only=True) as store:
        run_ids = store.latest_run_ids(list(targets) or None)
        if not run_ids:
            if targets:
                raise InputError(f"no probes stored for target(s): {', '.join(targets)}")
            raise InputError("the database holds no runs yet; run a scan first")
        known = set(store.targets(run_ids))
        unknown = [t for t in targets if t not in known]
        if unknown:
            raise InputError(f"no probes stored for target(s): {', '.join(unknown)}")
        census = build_census(store, list(targets) or None, run_ids, timeline=False)
    return judge_census(census, judge), judge


@click.command("trust", cls=Command)
@analysis_options
def trust(db_path, targets, trust_stores, store_password, offline, at, cache_dir, as_json):
    """Say, per chain and trust store, whether a client would trust it, and why not."""
    from certcensus.render.as_json import (
        INDENT_UP_TO_TARGETS,
        chain_issues_to_dict,
        store_verdict_to_dict,
    )
    from certcensus.render.tables import print_trust_table

    census, judge = judged_census(db_path, targets, trust_stores, store_password, offline, at,
                                  cache_dir)  # fmt: skip
    if as_json:
        document: dict = {
            "at": judge.moment().isoformat(),
            "stores": {
                s.name: {"source": s.source, "fingerprint": s.fingerprint,
                         "certificates": len(s.certificates)}
                for s in judge.stores
            },
            "targets": {},
        }  # fmt: skip
        for target in census.targets:
            for chain in target.chains:
                document["targets"].setdefault(target.target, {})[chain.chain_id] = {
                    "host": target.server_name,
                    "trust": {n: store_verdict_to_dict(v) for n, v in (chain.trust or {}).items()},
                    **(
                        {"chain_issues": chain_issues_to_dict(chain.issues)}
                        if chain.issues is not None
                        else {}
                    ),
                }
        # Indented for people, compact for fleets (json's C encoder only runs without indent).
        indent = 2 if len(census.targets) <= INDENT_UP_TO_TARGETS else None
        click.echo(json.dumps(document, indent=indent))
    else:
        print_trust_table(census)
    untrusted = any(
        not verdict.trusted
        for target in census.targets
        for chain in target.chains
        for verdict in (chain.trust or {}).values()
    )
    sys.exit(EXIT_PROBLEM_FOUND if untrusted else EXIT_OK)
