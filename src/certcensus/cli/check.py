"""`certcensus check`: one census judged with Nagios plugin semantics (exit 0, 1, 2 or 3),
with check_ssl_cert's option names where they overlap (-H, -p, -t, -w, -c, --sni)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click

from certcensus.cli.options import (
    check_engine,
    engine_option,
    profile_choice_option,
    protocol_options,
    protocol_values,
    starttls_option,
)
from certcensus.cli.sclient import apply_habits, format_options_with_habits, sclient_options
from certcensus.cli.watch import WATCH_SCLIENT_FLAGS, load_watch_judge
from certcensus.model import defaults
from certcensus.model.errors import CertcensusError, TargetError, UsageError
from certcensus.probe.profiles import DEFAULT_ENGINE
from certcensus.watch.check import UNKNOWN, CheckResult, Thresholds, unknown

# The Nagios plugin guidelines' default socket timeout, and check_ssl_cert's -w and a common -c.
OVERALL_TIMEOUT = 10.0
WARNING_DAYS = 30.0
CRITICAL_DAYS = 7.0


class NagiosCommand(click.Command):
    """Usage errors end with an UNKNOWN line on stdout and exit 3, as monitoring systems expect
    (click's own usage errors exit 2, which Nagios would read as CRITICAL)."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            _usage_unknown(error)

    def format_options(self, ctx, formatter) -> None:
        format_options_with_habits(self, ctx, formatter)

    def invoke(self, ctx):
        try:
            apply_habits(ctx)  # -connect, -servername, -CAfile ... into their options
        except click.UsageError as error:
            _usage_unknown(error)
        return super().invoke(ctx)


def _usage_unknown(error: click.UsageError) -> NoReturn:
    click.echo(unknown(f"usage: {error.format_message()}").line)
    sys.exit(UNKNOWN)


@click.command(cls=NagiosCommand)
@click.argument("target", required=False)
@click.option("-H", "--host", default=None, help="Host to check (with -p; instead of TARGET).")
@click.option("-p", "--port", type=click.IntRange(1, 65535), default=None, help="TCP port.")
@starttls_option
@click.option("--sni", default=None, help="Server name to send and to check the leaf against.")
@profile_choice_option
@engine_option
@click.option(
    "-t",
    "--timeout",
    type=click.FloatRange(min=0.5),
    default=OVERALL_TIMEOUT,
    show_default=True,
    help="Seconds for the whole check (each connect, STARTTLS and handshake gets at most that).",
)
@click.option(
    "-w",
    "--warning",
    "--warn-days",
    "warning_days",
    type=click.FloatRange(min=0),
    default=WARNING_DAYS,
    show_default=True,
    help="WARNING when a served certificate expires within this many days.",
)
@click.option(
    "-c",
    "--critical",
    "critical_days",
    type=click.FloatRange(min=0),
    default=CRITICAL_DAYS,
    show_default=True,
    help="CRITICAL when a served certificate expires within this many days.",
)
@click.option(
    "--trust-store",
    "trust_stores",
    multiple=True,
    metavar="[NAME=]SPEC",
    help="CRITICAL when a chain is untrusted by this store (PEM, directory, system, ...). Repeatable.",
)
@protocol_options
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
    "--allow-incomplete",
    is_flag=True,
    help="An incomplete chain (an intermediate not sent) is a WARNING, not CRITICAL.",
)
@click.option(
    "--db",
    "db_path",
    default=None,
    metavar="PATH|URL",
    help="Keep the probes in this database (default: a temporary one).",
)
@sclient_options(*WATCH_SCLIENT_FLAGS)
def check(target, host, port, starttls, sni, profile, engine, timeout, warning_days, critical_days,
          trust_stores, count, rate, allow_multiple, allow_incomplete, db_path,
          **protocol_arguments):  # fmt: skip
    """Census TARGET (or -H HOST -p PORT) once and exit like a Nagios plugin: 0 OK, 1 WARNING,
    2 CRITICAL, 3 UNKNOWN. One status line with performance data, then one line per chain.

    \b
    CRITICAL  no probe succeeded; a certificate expired or expires within -c days; the leaf is
              not valid for the host (or --sni); a chain is untrusted by a --trust-store; an
              incomplete chain (unless --allow-incomplete)
    WARNING   a certificate expires within -w days; some probes failed; more than one chain
              (unless --allow-multiple); the -t deadline came before --count probes
    UNKNOWN   bad input
    """
    try:
        given = _target_text(target, host, port)
        if critical_days > warning_days:
            raise UsageError(f"--critical ({critical_days:g}) exceeds --warning ({warning_days:g})")
        thresholds = Thresholds(warning_days, critical_days, allow_multiple, allow_incomplete)
        result = _run_check(given, starttls, sni, profile, timeout, thresholds, trust_stores,
                            count, rate, db_path, protocol_values(protocol_arguments),
                            engine=engine)  # fmt: skip
    except (CertcensusError, click.ClickException) as error:
        result = unknown(
            str(error) if isinstance(error, CertcensusError) else error.format_message()
        )
    except Exception as error:  # noqa: BLE001 - a monitoring plugin must always answer 0-3
        result = unknown(f"internal error: {type(error).__name__}: {error}")
    click.echo(result.text)
    sys.exit(result.status)


def _target_text(target: str | None, host: str | None, port: int | None) -> str:
    if target and host:
        raise UsageError("give TARGET or -H HOST, not both")
    if target:
        if port is not None:
            raise UsageError("-p goes with -H; TARGET carries its own port (host:port)")
        return target
    if not host:
        raise UsageError("no target: give TARGET or -H HOST [-p PORT]")
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{bracketed}:{port}" if port is not None else host


def _run_check(target, starttls, sni, profile, timeout, thresholds, trust_stores, count, rate,
               db_path, protocol_options, engine=DEFAULT_ENGINE) -> CheckResult:  # fmt: skip
    from certcensus.probe.plan import ProbeOptions, build_plan
    from certcensus.probe.targets import parse_target
    from certcensus.store import open_store
    from certcensus.watch.check import census_within, evaluate_target

    try:
        parsed = parse_target(target, starttls)
    except TargetError as error:
        raise UsageError(str(error)) from None
    check_engine([profile], engine)
    phase_timeout = min(timeout, defaults.TIMEOUT_SECONDS)
    plan = build_plan([parsed], ProbeOptions(phase_timeout, sni, False, protocol_options, engine=engine),
                      profiles=[profile], count=count, rate=rate,
                      default_concurrency=defaults.CHECK_CONCURRENCY)  # fmt: skip
    judge = load_watch_judge(trust_stores)
    with tempfile.TemporaryDirectory(prefix="certcensus-check-") as directory:
        with open_store(db_path or Path(directory) / "check.sqlite") as store:
            census, finished = asyncio.run(census_within(plan, store, timeout, judge))
    return evaluate_target(census, thresholds, finished=finished, requested=count)
