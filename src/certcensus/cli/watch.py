"""`certcensus watch`: a census every few minutes into the store, alerts on change, metrics."""

from __future__ import annotations

import asyncio
import signal
import sys

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from certcensus.cli.command import Command
from certcensus.cli.fleet import dask_options, parse_vantages
from certcensus.cli.options import (
    check_engine,
    concurrency_option,
    db_option,
    engine_option,
    positive_duration,
    profile_choice_option,
    protocol_options,
    protocol_values,
    rate_option,
    starttls_option,
    timeout_option,
)
from certcensus.cli.sclient import sclient_options
from certcensus.model import defaults
from certcensus.model.errors import EXIT_OK, TargetError, UsageError


def watch_probe_options(function):
    """What watch and check share: how to probe, and what to judge."""
    options = [
        starttls_option,
        click.option("--sni", default=None, help="Server name to send (default: the host name)."),
        profile_choice_option,
        engine_option,
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


# The s_client flags watch and check take (see cli/sclient.py).
WATCH_SCLIENT_FLAGS = ("-connect", "-starttls", "-servername", "-CAfile", "-CApath", "-tls1_2",
                       "-tls1_3")  # fmt: skip


def load_watch_judge(trust_stores):
    """The judge for watch and check: no AIA fetches (they run unattended)."""
    from certcensus.trust.judge import TrustJudge, TrustRequest

    return TrustJudge.load(TrustRequest(tuple(trust_stores), fetch_aia=False))


# A [watch] or [alerts] key of the targets file -> the parameter it sets when the command line
# does not (most are spelled alike).
FILE_KEYS = {"db": "db_path", "exec": "exec_command"}


@click.command(cls=Command)
@click.argument("targets", nargs=-1)
@click.option(
    "--targets-file",
    type=click.Path(dir_okay=False),
    help="certcensus.toml ([watch], [alerts], [[target]] tables), or one target per line.",
)
@watch_probe_options
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=defaults.WATCH_COUNT,
    show_default=True,
    help="Probes per target per round (the baseline round stops when sure instead).",
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
    "--confidence",
    type=click.FloatRange(0.5, 0.999999),
    default=defaults.CONFIDENCE,
    show_default=True,
    help="Baseline round: probe until, with this confidence, ...",
)
@click.option(
    "--min-share",
    type=click.FloatRange(0.0001, 0.5),
    default=defaults.MIN_SHARE,
    show_default=True,
    help="... no chain served on this share of connections or more was missed.",
)
@click.option(
    "--alerts-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Alerts on stdout: one line each, or JSON lines.",
)
@click.option(
    "--exec",
    "exec_command",
    metavar="CMD",
    help="Run CMD (with /bin/sh) for each alert, the event's JSON on its stdin.",
)
@click.option(
    "--exec-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds an --exec command may run before it is killed.",
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST each alert here (retried with back-off). Repeatable.",
)
@click.option(
    "--webhook-format",
    type=click.Choice(["json", "alertmanager", "slack"]),
    default="json",
    show_default=True,
    help="json: the event; alertmanager: Alertmanager's /api/v2/alerts body; slack: {text}.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port at /metrics (0: any free port).",
)
@click.option(
    "--metrics-address",
    default="127.0.0.1",
    show_default=True,
    help="Address --metrics-port listens on (0.0.0.0: every interface).",
)
@dask_options
@db_option
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@sclient_options(*WATCH_SCLIENT_FLAGS)
@click.pass_context
def watch(ctx, targets, targets_file, starttls, sni, profile, **given):
    """Census TARGETS every --every into the store and alert when what they serve changes.

    \b
    Alerts (a line on stdout, or --alerts-format json; JSON to --exec and --webhook):
      new-chain      a chain never seen for the target before; says whether it is new beyond
                     chance given the probes made before it, and after how many it was seen
      chain-gone     a chain served before is absent for too many probes to be chance
      trust-changed  a --trust-store verdict on a served chain flipped
      expiring       a served certificate expires within --warn-days (once per certificate)
    The first round of a target with no history in the store is a baseline that stops when
    sure (--confidence, --min-share): no new-chain alert.
    """
    from certcensus.watch.config import WatchTarget, read_fleet_file

    specs = [WatchTarget(text, starttls, sni, profile) for text in targets]
    webhooks = [(url, given["webhook_format"]) for url in given.pop("webhooks")]
    if targets_file:
        fleet = read_fleet_file(targets_file)
        specs += fleet.targets
        for key, value in fleet.settings.items():
            name = FILE_KEYS.get(key, key)
            if ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT:
                given[name] = value
        webhooks += [(hook.url, hook.format) for hook in fleet.webhooks]
    if not specs:
        raise UsageError("no targets: give TARGETS or --targets-file")
    _watch(specs, webhooks, **given)


def _watch(specs, webhooks, *, engine, timeout, warn_days, trust_stores, count, every, rounds, rate,
           concurrency, confidence, min_share, alerts_format, exec_command, exec_timeout,
           webhook_format, metrics_port, metrics_address, dask_spec, vantage_list, db_path, quiet,
           **protocol_arguments):  # fmt: skip
    from certcensus.store import open_store
    from certcensus.watch.metrics import MetricsServer, WatchMetrics
    from certcensus.watch.runner import Watcher, WatchSettings, build_plans
    from certcensus.watch.sinks import ExecSink, StdoutSink, WebhookSink

    interval = positive_duration(str(every), "--every")
    check_engine([spec.profile for spec in specs], engine)
    vantages = parse_vantages(vantage_list, dask_spec)
    dask = None
    if dask_spec is not None:
        from certcensus.fleet.cluster import parse_dask

        dask = parse_dask(dask_spec)
    settings = WatchSettings(count, timeout, rate, concurrency,
                             protocol_options=protocol_values(protocol_arguments),
                             confidence=confidence, min_share=min_share, engine=engine)  # fmt: skip
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

    try:
        sinks: list[StdoutSink | WebhookSink | ExecSink] = [
            StdoutSink(through_display if on_screen else None, format=alerts_format)
        ]
        sinks += [WebhookSink(url, format=kind) for url, kind in webhooks]
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
    state = WatchMetrics() if metrics_port is not None else None
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
                          on_observation=on_observation,
                          baseline=(min_share, confidence), dask=dask,
                          vantages=vantages)  # fmt: skip

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
