"""`certcensus watch`: a census every few minutes into the store, alerts on change, metrics."""

from __future__ import annotations

import asyncio
import signal
import sys

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from certcensus.cli.command import Command
from certcensus.cli.options import (
    concurrency_option,
    db_option,
    positive_duration,
    profile_choice_option,
    protocol_options,
    protocol_values,
    rate_option,
    starttls_option,
    timeout_option,
)
from certcensus.model import defaults
from certcensus.model.errors import EXIT_OK, TargetError, UsageError


def watch_probe_options(function):
    """What watch and check share: how to probe, and what to judge."""
    options = [
        starttls_option,
        click.option("--sni", default=None, help="Server name to send (default: the host name)."),
        profile_choice_option,
        timeout_option,
        click.option("--warn-days", type=click.FloatRange(min=0), default=30.0, show_default=True,
                     help="Warn when a served certificate expires within this many days."),
        click.option("--trust-store", "trust_stores", multiple=True, metavar="[NAME=]SPEC",
                     help="Judge chains against this store (PEM, directory, system, ...). Repeatable."),
        protocol_options,
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


def load_watch_judge(trust_stores):
    """The judge for watch and check: no AIA fetches (they run unattended)."""
    from certcensus.trust.judge import TrustJudge, TrustRequest

    return TrustJudge.load(TrustRequest(tuple(trust_stores), fetch_aia=False))


@click.command(cls=Command)
@click.argument("targets", nargs=-1)
@click.option(
    "--targets-file",
    type=click.Path(dir_okay=False),
    help="certcensus.toml with [[target]] tables, or one target (and options) per line.",
)
@watch_probe_options
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=defaults.WATCH_COUNT,
    show_default=True,
    help="Probes per target per round.",
)
@click.option(
    "--every",
    default="10m",
    show_default=True,
    metavar="TIME",
    help="Start a round this often: 30s, 10m, 1h.",
)
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Stop after N rounds.")
@rate_option
@concurrency_option(defaults.WATCH_CONCURRENCY)
@click.option(
    "--exec",
    "exec_command",
    metavar="CMD",
    help="Run CMD (with /bin/sh) for each alert, the event's JSON on its stdin.",
)
@click.option("--exec-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option(
    "--webhook", metavar="URL", help="POST each alert's JSON here (retried with back-off)."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port at /metrics (0: any free port).",
)
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
@db_option
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def watch(targets, targets_file, starttls, sni, profile, timeout, warn_days, trust_stores, count,
          every, rounds, rate, concurrency, exec_command, exec_timeout, webhook, metrics_port,
          metrics_address, db_path, quiet, **protocol_arguments):  # fmt: skip
    """Census TARGETS every --every into the store and alert when what they serve changes.

    \b
    Alerts (a line on stdout; JSON to --exec and --webhook):
      new-chain      a chain never seen for the target before
      chain-gone     a chain served before is absent for too many probes to be chance
      trust-changed  a --trust-store verdict on a served chain flipped
      expiring       a served certificate expires within --warn-days (once per certificate)
    The first round of a target with no history in the store is a baseline: no new-chain alert.
    """
    from certcensus.store import open_store
    from certcensus.watch.config import WatchTarget, read_targets_file
    from certcensus.watch.metrics import MetricsServer, MetricsState
    from certcensus.watch.runner import Watcher, WatchSettings, build_plans
    from certcensus.watch.sinks import ExecSink, StdoutSink, WebhookSink

    specs = [WatchTarget(text, starttls, sni, profile) for text in targets]
    if targets_file:
        specs += read_targets_file(targets_file)
    if not specs:
        raise UsageError("no targets: give TARGETS or --targets-file")
    interval = positive_duration(every, "--every")
    settings = WatchSettings(count, timeout, rate, concurrency,
                             protocol_options=protocol_values(protocol_arguments))  # fmt: skip
    try:
        plans = build_plans(specs, settings)
    except TargetError as error:
        raise UsageError(str(error)) from None
    judge = load_watch_judge(trust_stores)
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
    sinks: list[StdoutSink | WebhookSink | ExecSink] = [stdout_sink]
    try:
        if webhook:
            sinks.append(WebhookSink(webhook))
    except ValueError as error:
        raise UsageError(str(error)) from None
    if exec_command:
        sinks.append(ExecSink(exec_command, exec_timeout))

    def on_observation(observation) -> None:
        if observation.chain_id:
            seen.add(observation.chain_id)
        progress.update(task, advance=1, chains=len(seen))

    def on_round_end(report) -> None:
        seen.clear()
        progress.reset(task, round=report.number + 1, chains=0, alerts=watcher.alerts)

    store = open_store(db_path)
    state = MetricsState() if metrics_port is not None else None
    server = None
    if state is not None:
        try:
            server = MetricsServer(state, metrics_address, metrics_port)
        except OSError as error:
            store.close()
            raise UsageError(f"--metrics-port {metrics_port}: {error}") from None
        server.start()
        err.print(f"certcensus: metrics on http://{metrics_address}:{server.port}/metrics")
    with store:
        watcher = Watcher(plans, store, every=interval, rounds=rounds, warn_days=warn_days,
                          sinks=sinks, metrics=state, judge=judge, on_round_end=on_round_end,
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
    sys.exit(EXIT_OK)
