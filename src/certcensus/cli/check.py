"""`certcensus check`: one census judged with Nagios plugin semantics (exit 0, 1, 2 or 3)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import click

from certcensus.cli.options import check_engine, protocol_values
from certcensus.cli.watch import load_watch_judge, watch_probe_options
from certcensus.model import defaults
from certcensus.model.errors import CertcensusError, TargetError, UsageError
from certcensus.probe.profiles import DEFAULT_ENGINE
from certcensus.watch.check import UNKNOWN, CheckResult, unknown


class NagiosCommand(click.Command):
    """Usage errors end with an UNKNOWN line on stdout and exit 3, as monitoring systems expect
    (click's own usage errors exit 2, which Nagios would read as CRITICAL)."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            click.echo(unknown(f"usage: {error.format_message()}").line)
            sys.exit(UNKNOWN)


@click.command(cls=NagiosCommand)
@click.argument("target")
@watch_probe_options
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=defaults.CHECK_COUNT,
    show_default=True,
    help="Probes to make.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Probes per second per address; 0 = as fast as possible.",
)
@click.option("--allow-multiple", is_flag=True, help="Several chains are fine (no WARNING).")
@click.option(
    "--db",
    "db_path",
    default=None,
    metavar="PATH|URL",
    help="Keep the probes in this database (default: a temporary one).",
)
def check(target, starttls, sni, profile, engine, timeout, warn_days, trust_stores, count, rate,
          allow_multiple, db_path, **protocol_arguments):  # fmt: skip
    """Census TARGET once and exit like a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

    CRITICAL: a served chain is expired or untrusted by a --trust-store. WARNING: more than one
    chain (unless --allow-multiple), or a certificate expiring within --warn-days. UNKNOWN: no
    probe succeeded, or bad input.
    """
    try:
        result = _run_check(target, starttls, sni, profile, timeout, warn_days, trust_stores,
                            count, rate, allow_multiple, db_path,
                            protocol_values(protocol_arguments), engine=engine)  # fmt: skip
    except (CertcensusError, click.ClickException) as error:
        result = unknown(
            str(error) if isinstance(error, CertcensusError) else error.format_message()
        )
    except Exception as error:  # noqa: BLE001 - a monitoring plugin must always answer 0-3
        result = unknown(f"internal error: {type(error).__name__}: {error}")
    click.echo(result.line)
    sys.exit(result.status)


def _run_check(target, starttls, sni, profile, timeout, warn_days, trust_stores, count, rate,
               allow_multiple, db_path, protocol_options, engine=DEFAULT_ENGINE) -> CheckResult:  # fmt: skip
    from certcensus.store import open_store
    from certcensus.watch.check import evaluate_target
    from certcensus.watch.config import WatchTarget
    from certcensus.watch.runner import Watcher, WatchSettings, build_plans

    check_engine([profile], engine)
    settings = WatchSettings(count, timeout, rate, None, defaults.CHECK_CONCURRENCY,
                             protocol_options=protocol_options, engine=engine)  # fmt: skip
    try:
        plans = build_plans([WatchTarget(target, starttls, sni, profile, count)], settings)
    except TargetError as error:
        raise UsageError(str(error)) from None
    judge = load_watch_judge(trust_stores)
    with tempfile.TemporaryDirectory(prefix="certcensus-check-") as directory:
        with open_store(db_path or Path(directory) / "check.sqlite") as store:
            reports: list = []
            watcher = Watcher(plans, store, every=0, rounds=1, judge=judge,
                              on_round_end=reports.append)  # fmt: skip
            asyncio.run(watcher.run())
    if not reports:
        return unknown("interrupted")
    return evaluate_target(reports[0].census.targets[0], warn_days=warn_days,
                           allow_multiple=allow_multiple)  # fmt: skip
