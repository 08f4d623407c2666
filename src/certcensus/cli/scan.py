"""`certcensus scan`: probe targets again and again, store every observation, print the census."""

from __future__ import annotations

import asyncio
import signal
import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certcensus.cli.command import Command
from certcensus.cli.fleet import dask_options, parse_vantages, run_on_cluster
from certcensus.cli.interruption import Interruption, interrupted_line
from certcensus.cli.options import (
    checked_profiles,
    concurrency_option,
    db_option,
    engine_option,
    identity_options,
    parse_duration,
    parse_targets,
    protocol_options,
    protocol_values,
    rate_option,
    show_certs_option,
    starttls_option,
    timeout_option,
    trust_options,
)
from certcensus.cli.output import (
    TargetStream,
    emit_census,
    print_error,
    print_warning,
    status_of_targets,
)
from certcensus.cli.output import save_pem as write_pem_files
from certcensus.cli.progress import StopWhenSureEstimate
from certcensus.cli.sclient import sclient_options
from certcensus.model import defaults
from certcensus.model.errors import EXIT_USAGE, UsageError
from certcensus.model.observation import Observation
from certcensus.probe.plan import DEFAULT_RESOLVE_EVERY, ProbeOptions, ScanPlan, build_plan
from certcensus.probe.run import PlanRun
from certcensus.probe.scheduler import ScanResult
from certcensus.render.console import make_console


@click.command(cls=Command)
@click.argument("targets", nargs=-1)
@starttls_option
@protocol_options
@click.option(
    "--ip",
    "ip_mode",
    default="all",
    show_default=True,
    metavar="all|first|ADDR[,ADDR...]",
    help="Probe every resolved address, the first one, or these addresses.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Probes per target (a cap when stopping when sure).",
)
@click.option("--duration", default=None, metavar="TIME", help="Probe for this long: 30s, 10m, 2h.")
@rate_option
@concurrency_option(defaults.SCAN_CONCURRENCY, ", over all targets")
@timeout_option
@identity_options
@click.option("--sni", default=None, help="Server name to send (default: the target's host name).")
@click.option("--no-sni", is_flag=True, help="Send no server name.")
@click.option(
    "--source-address",
    default=None,
    metavar="A,B,...",
    help="Local addresses to probe from, used in turn.",
)
@click.option(
    "--profile",
    "profile_list",
    default="default",
    show_default=True,
    metavar="P,P,...|all",
    help="ClientHello profiles: default, no-sni, tls1.2, tls1.3, rsa, ecdsa; real clients "
    "(native engine): openssl-1.0.2, java-8, java-17, ibmi-7.4, windows-schannel, android-7, "
    "curl-openssl3; all (every profile the engine speaks); clients (every real client).",
)
@engine_option
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999999),
    default=None,
    help=f"Stop when sure: the confidence of the coverage statement "
    f"[default: {defaults.CONFIDENCE}].",
)
@click.option(
    "--min-share",
    type=click.FloatRange(0.0001, 0.5),
    default=None,
    help=f"Stop when sure: no chain with at least this share may be missed "
    f"[default: {defaults.MIN_SHARE}].",
)
@click.option(
    "--spread",
    default=None,
    metavar="TIME",
    help="Space each stratum's probes evenly over this period (e.g. 10m) instead of bursting.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Probe from this many worker processes (one core each); 0 = in this process.",
)
@click.option(
    "--resolve-every",
    type=click.FloatRange(min=1),
    default=DEFAULT_RESOLVE_EVERY,
    show_default=True,
    help="Re-resolve names this often (seconds) on --duration runs.",
)
@dask_options
@db_option
@trust_options()
@click.option("--json", "as_json", is_flag=True, help="Print the census as JSON on stdout.")
@click.option(
    "--json-lines", is_flag=True,
    help="Print each target's census as one JSON object per line, as soon as its probes are "
         "done (for jq and fleets).",
)  # fmt: skip
@click.option(
    "--save-pem",
    type=click.Path(file_okay=False),
    default=None,
    help="Write each distinct chain to DIR/<chain id>.pem.",
)
@show_certs_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@sclient_options("-connect", "-starttls", "-servername", "-noservername", "-CAfile", "-CApath",
                 "-showcerts", "-tls1_2", "-tls1_3")  # fmt: skip
def scan(targets, starttls, ip_mode, count, duration, rate, concurrency, timeout, http_head,
         identity_headers, sni, no_sni,
         source_address, profile_list, engine, confidence, min_share, spread, workers, resolve_every,
         dask_spec, vantage_list, db_path, trust_stores, store_password, offline, cache_dir, as_json, json_lines, save_pem,
         show_certs, quiet, **protocol_arguments):  # fmt: skip
    """Probe TARGETS again and again and count every chain they present.

    A target is host, host:port, [v6addr]:port or a URL (smtp://, submission://, smtps://,
    https://, imaps://, pop3s://, ldaps://, imap://, ldap://, xmpp://, postgres://, ...).
    Well-known ports pick their STARTTLS protocol (25 and 587: SMTP; 143: IMAP; ...).
    openssl s_client's flags work too: -connect HOST:PORT -starttls smtp -servername NAME
    -CAfile FILE -showcerts.

    \b
    Without --count or --duration, scan stops when sure: it probes each stratum (address,
    profile) until, with --confidence, no chain served on --min-share or more of connections
    can have been missed.
    """
    from certcensus.trust.judge import TrustJudge, TrustRequest

    if not targets:
        raise UsageError("give a target (host, host:port or a URL), or -connect HOST:PORT")
    if as_json and json_lines:
        raise UsageError("give --json or --json-lines, not both")
    parsed = parse_targets(targets, starttls)
    seconds = parse_duration(duration)
    profiles = checked_profiles(profile_list, engine)
    vantages = parse_vantages(vantage_list, dask_spec)
    if dask_spec is not None:
        from certcensus.fleet.cluster import parse_dask

        parse_dask(dask_spec)  # a typo fails before the trust stores load
        if workers:
            raise UsageError("--workers and --dask: the Dask workers are the worker processes")
    stop_when_sure = None
    if (count is None and seconds is None) or confidence is not None or min_share is not None:
        stop_when_sure = (min_share or defaults.MIN_SHARE, confidence or defaults.CONFIDENCE)
    options = ProbeOptions(
        timeout, sni, no_sni, protocol_values(protocol_arguments), http_head=http_head,
        identity_headers=tuple(identity_headers), engine=engine,
    )  # fmt: skip
    plan = build_plan(
        parsed, options, profiles=profiles, count=count, duration=seconds, rate=rate,
        concurrency=concurrency, ip_mode=ip_mode, resolve_every=resolve_every,
        source_addresses=[a.strip() for a in source_address.split(",")] if source_address else [],
        stop_when_sure=stop_when_sure, spread=parse_duration(spread, "--spread"), workers=workers,
    )  # fmt: skip
    # Trust stores load before any probe: a typo fails in a second, not after an hour.
    judge = TrustJudge.load(TrustRequest(trust_stores, store_password, offline, cache_dir))
    sys.exit(scan_and_print(plan, db_path, as_json=as_json, save_pem=save_pem, quiet=quiet,
                            confidence=confidence or defaults.CONFIDENCE, judge=judge,
                            show_certs=show_certs, json_lines=json_lines,
                            dask_spec=dask_spec, vantages=vantages))  # fmt: skip


def scan_and_print(plan: ScanPlan, db_path, *, as_json: bool, save_pem, quiet: bool,
                   command: str = "scan", confidence: float = defaults.CONFIDENCE,
                   judge=None, show_certs: bool = False, json_lines: bool = False,
                   dask_spec: str | None = None,
                   vantages: list[str] | None = None) -> int:  # fmt: skip
    """Run the plan into the store, print the census of this run (with `json_lines`, each
    target's as soon as its probes are done); return the exit status."""
    from certcensus.census.build import build_census
    from certcensus.census.judged import judge_census
    from certcensus.store import open_store

    err = make_console(stderr=True)
    with open_store(db_path) as store:
        run_id = store.start_run(command, [t.name for t in plan.targets])
        stream = TargetStream(store, [run_id], confidence, judge) if json_lines else None
        show = not quiet and err.is_terminal
        if dask_spec is not None:  # --json-lines: each target's census once the run is done
            result, stopped_by = run_on_cluster(plan, store, run_id, dask_spec, vantages, show=show)
        else:
            result, stopped_by = _run_with_progress(plan, store, run_id, show=show, stream=stream)
        store.finish_run(run_id)
        for message in result.resolution_errors.values():
            print_error(message)
        for rejected in store.rejected:
            print_warning(f"an observation could not be stored: {rejected.reason}")
        if stopped_by is not None and not (stream is not None and stream.closed):
            err.print(interrupted_line(result, stopped_by))
        if stream is not None:
            stream.emit_rest([t.name for t in plan.targets])
            if save_pem:
                write_pem_files(build_census(store, [t.name for t in plan.targets], [run_id]),
                                save_pem)  # fmt: skip
            written = stream.written
        else:
            census = build_census(
                store, [t.name for t in plan.targets], [run_id], confidence=confidence
            )
            for target, planned in zip(census.targets, plan.targets):
                if not target.probes:  # never probed (interrupted first): say what it was
                    target.protocol = planned.protocol
            if judge is not None:
                judge_census(census, judge)
            emit_census(census, as_json=as_json, pem_directory=save_pem, show_certs=show_certs)
            written = census.targets
    if stopped_by is not None:
        return 128 + stopped_by  # EXIT_INTERRUPTED (SIGINT) or EXIT_TERMINATED (SIGTERM)
    if len(result.resolution_errors) == len(plan.targets):
        return EXIT_USAGE
    return status_of_targets(written)


def _run_with_progress(plan: ScanPlan, store, run_id: int, *, show: bool,
                       stream: TargetStream | None = None) -> tuple[ScanResult, int | None]:  # fmt: skip
    """Run the plan, with a progress bar when `show`; return the result and the signal that
    stopped it (None when it ran to its end, or a closed --json-lines reader stopped it)."""
    sure = plan.stop_when_sure is not None
    total = plan.count * len(plan.targets) if plan.count and not sure else None
    progress = Progress(
        TextColumn("[bold]probing[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[chains]} chains"), TimeElapsedColumn(),
        TextColumn("{task.fields[estimate]}"),
        console=make_console(stderr=True), transient=True, disable=not show,
    )  # fmt: skip
    task = progress.add_task("probing", total=total, chains=0, estimate="")
    seen: set[str] = set()
    counts = {"probes": 0, "ok": 0}
    run = PlanRun(plan, store, run_id, None, on_target_done=stream.emit if stream else None)
    estimate = StopWhenSureEstimate(run.probes_still_needed)
    if stream is not None:
        stream.on_closed = run.interrupt  # `| head`: stop probing once nobody reads
    interruption = Interruption(run, progress.console)

    def on_observation(observation: Observation) -> None:
        counts["probes"] += 1
        if observation.chain_id:
            seen.add(observation.chain_id)
            counts["ok"] += 1
        if not show:
            return
        if sure:
            estimate.update(counts["ok"])
            if estimate.remaining is not None:
                # The bar's end moves as lanes appear and failures add probes.
                progress.update(task, total=counts["probes"] + estimate.remaining)
        progress.update(task, advance=1, chains=len(seen), estimate=estimate.words)

    run.on_observation = on_observation

    async def go() -> ScanResult:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, interruption, signum)
        try:
            return await run.run()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    with progress:
        result = asyncio.run(go())
    return result, interruption.signal
