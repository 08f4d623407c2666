"""`certcensus watch` (a census every few minutes, alerts on change, Prometheus metrics) and
`certcensus check` (one census with Nagios exit codes)."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from certcensus.cli.scan import UsageFailure, _open, _starttls_choices, db_option, parse_duration
from certcensus.probe.profiles import DEFAULT_ENGINE, ENGINES, PROFILES, engine_refusal
from certcensus.probe.targets import TargetError
from certcensus.watch.check import UNKNOWN, evaluate_target, unknown
from certcensus.watch.config import ConfigError, WatchTarget, read_targets_file
from certcensus.watch.metrics import MetricsServer, MetricsState
from certcensus.watch.runner import ProbeOptions, Watcher, build_plans
from certcensus.watch.sinks import ExecSink, StdoutSink, WebhookSink


def default_verdict_hook(trust_store_specs):
    """(store specs) -> hook or None; replace this to wire another trust engine."""
    if not trust_store_specs:
        return None
    from certcensus.watch.verdicts import trust_verdict_hook

    return trust_verdict_hook(trust_store_specs)


verdict_hook_factory = default_verdict_hook


def _seconds(option: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except UsageFailure:
        raise UsageFailure(f"{option} {text!r} is not like 30s, 10m, 2h or 1d") from None
    if not seconds or seconds <= 0:
        raise UsageFailure(f"{option} must be more than zero")
    return seconds


def _verdicts(trust_stores):
    try:
        return verdict_hook_factory(tuple(trust_stores))
    except (OSError, ValueError) as error:  # trust.TrustStoreError is a ValueError
        raise UsageFailure(str(error)) from None


def probe_options(function):
    options = [
        click.option("--starttls", default="auto", type=click.Choice(_starttls_choices()),
                     help="How TLS starts: auto (from scheme or port), none, or a protocol."),
        click.option("--sni", default=None, help="Server name to send (default: the host name)."),
        click.option("--profile", default="default", type=click.Choice(list(PROFILES)),
                     show_default=True, help="ClientHello profile."),
        click.option("--engine", default=DEFAULT_ENGINE, show_default=True, type=click.Choice(ENGINES),
                     help="Handshake engine: native (stops at the certificates) or openssl."),
        click.option("--timeout", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
                     help="Seconds allowed for each phase: connect, STARTTLS, handshake."),
        click.option("--warn-days", type=click.FloatRange(min=0), default=30.0, show_default=True,
                     help="Warn when a served certificate expires within this many days."),
        click.option("--trust-store", "trust_stores", multiple=True, metavar="[NAME=]SPEC",
                     help="Judge chains against this store (PEM, directory, system, ...). Repeatable."),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--targets-file", type=click.Path(dir_okay=False),
              help="certcensus.toml with [[target]] tables, or one target (and options) per line.")
@probe_options
@click.option("--count", type=click.IntRange(min=1), default=50, show_default=True,
              help="Probes per target per round.")
@click.option("--every", default="10m", show_default=True, metavar="TIME",
              help="Start a round this often: 30s, 10m, 1h.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Stop after N rounds.")
@click.option("--rate", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Probes per second per address; 0 = as fast as possible.")
@click.option("--concurrency", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--exec", "exec_command", metavar="CMD",
              help="Run CMD (with /bin/sh) for each alert, the event's JSON on its stdin.")
@click.option("--exec-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option("--webhook", metavar="URL", help="POST each alert's JSON here (retried with back-off).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port at /metrics (0: any free port).")
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
@db_option
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def watch(targets, targets_file, starttls, sni, profile, engine, timeout, warn_days, trust_stores, count,
          every, rounds, rate, concurrency, exec_command, exec_timeout, webhook, metrics_port,
          metrics_address, db_path, quiet):
    """Census TARGETS every --every into the store and alert when what they serve changes.

    \b
    Alerts (a line on stdout; JSON to --exec and --webhook):
      new-chain      a chain never seen for the target before
      chain-gone     a chain served before is absent for too many probes to be chance
      trust-changed  a --trust-store verdict on a served chain flipped
      expiring       a served certificate expires within --warn-days (once per certificate)
    The first round of a target with no history in the store is a baseline: no new-chain alert.
    """
    specs = [WatchTarget(text, starttls, sni, profile) for text in targets]
    if targets_file:
        try:
            specs += read_targets_file(targets_file)
        except ConfigError as error:
            raise UsageFailure(str(error)) from None
    if not specs:
        raise UsageFailure("no targets: give TARGETS or --targets-file")
    interval = _seconds("--every", every)
    _require_engine([spec.profile for spec in specs], engine)
    try:
        plans = build_plans(specs, ProbeOptions(count, timeout, rate, concurrency, engine=engine))
    except TargetError as error:
        raise UsageFailure(str(error)) from None
    verdicts = _verdicts(trust_stores)
    err = Console(stderr=True, highlight=False)
    show = not quiet and err.is_terminal
    progress = Progress(SpinnerColumn(), TextColumn("[bold]watch[/] round {task.fields[round]}: "
                        "{task.completed} probes, {task.fields[chains]} chains, "
                        "{task.fields[alerts]} alerts"), TimeElapsedColumn(),
                        console=err, transient=True, disable=not show)  # fmt: skip
    task = progress.add_task("watch", total=None, round=1, chains=0, alerts=0)
    seen: set[str] = set()
    # Alert lines go to stdout; while a live display holds the terminal they go through it, so
    # the two do not overwrite each other on the screen.
    on_screen = show and sys.stdout.isatty()
    def through_display(line: str) -> None:
        progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    stdout_sink = StdoutSink(through_display if on_screen else None)
    try:
        sinks = [stdout_sink] + ([WebhookSink(webhook)] if webhook else [])
    except ValueError as error:
        raise UsageFailure(str(error)) from None
    if exec_command:
        sinks.append(ExecSink(exec_command, exec_timeout))

    def on_observation(observation) -> None:
        if observation.chain_id:
            seen.add(observation.chain_id)
        progress.update(task, advance=1, chains=len(seen))

    def on_round_end(report) -> None:
        seen.clear()
        progress.reset(task, round=report.number + 1, chains=0, alerts=watcher.alerts)

    store = _open(db_path)
    state = MetricsState() if metrics_port is not None else None
    server = None
    if state is not None:
        try:
            server = MetricsServer(state, metrics_address, metrics_port)
        except OSError as error:
            store.close()
            raise UsageFailure(f"--metrics-port {metrics_port}: {error}") from None
        server.start()
        err.print(f"certcensus: metrics on http://{metrics_address}:{server.port}/metrics")
    with store:
        watcher = Watcher(plans, store, every=interval, rounds=rounds, warn_days=warn_days,
                          sinks=sinks, metrics=state, verdicts=verdicts, on_round_end=on_round_end,
                          on_observation=on_observation)  # fmt: skip

        async def go() -> int:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, watcher.interrupt)
            loop.add_signal_handler(signal.SIGTERM, watcher.interrupt)
            try:
                return await watcher.run()
            finally:
                loop.remove_signal_handler(signal.SIGINT)
                loop.remove_signal_handler(signal.SIGTERM)

        try:
            with progress:
                done = asyncio.run(go())
        finally:
            if server is not None:
                server.stop()
    if not quiet:
        err.print(f"certcensus: watch ended after {done} round(s), {watcher.alerts} alert(s)")
    sys.exit(0)


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
@probe_options
@click.option("--count", type=click.IntRange(min=1), default=30, show_default=True,
              help="Probes to make.")
@click.option("--rate", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Probes per second per address; 0 = as fast as possible.")
@click.option("--allow-multiple", is_flag=True, help="Several chains are fine (no WARNING).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="Keep the probes in this database (default: a temporary one).")
def check(target, starttls, sni, profile, engine, timeout, warn_days, trust_stores, count, rate,
          allow_multiple, db_path):
    """Census TARGET once and exit like a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

    CRITICAL: a served chain is expired or untrusted by a --trust-store. WARNING: more than one
    chain (unless --allow-multiple), or a certificate expiring within --warn-days. UNKNOWN: no
    probe succeeded, or bad input.
    """
    try:
        result = _run_check(target, starttls, sni, profile, engine, timeout, warn_days,
                            trust_stores, count, rate, allow_multiple, db_path)  # fmt: skip
    except click.ClickException as error:
        result = unknown(error.format_message())
    except Exception as error:  # noqa: BLE001 - a monitoring plugin must always answer 0-3
        result = unknown(f"internal error: {type(error).__name__}: {error}")
    click.echo(result.line)
    sys.exit(result.status)


def _require_engine(profiles: list[str], engine: str) -> None:
    refusal = engine_refusal(profiles, engine)
    if refusal:
        raise UsageFailure(refusal)


def _run_check(target, starttls, sni, profile, engine, timeout, warn_days, trust_stores, count,
               rate, allow_multiple, db_path):
    _require_engine([profile], engine)
    try:
        plans = build_plans([WatchTarget(target, starttls, sni, profile, count)],
                            ProbeOptions(count, timeout, rate, concurrency=16, engine=engine))  # fmt: skip
    except TargetError as error:
        raise UsageFailure(str(error)) from None
    verdicts = _verdicts(trust_stores)
    with tempfile.TemporaryDirectory(prefix="certcensus-check-") as directory:
        store = _open(db_path or Path(directory) / "check.sqlite")
        with store:
            reports = []
            watcher = Watcher(plans, store, every=0, rounds=1, verdicts=verdicts,
                              on_round_end=reports.append)  # fmt: skip
            asyncio.run(watcher.run())
    if not reports:
        return unknown("interrupted")
    return evaluate_target(reports[0].census["targets"][0], reports[0].verdicts,
                           warn_days=warn_days, allow_multiple=allow_multiple)  # fmt: skip
