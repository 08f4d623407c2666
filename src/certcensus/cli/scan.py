"""`certcensus scan` and `certcensus report`: probe and count, or count again from the store."""

from __future__ import annotations

import asyncio
import os
import dataclasses
import re
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certcensus.census.build import Census, build_census
from certcensus.cli.options import trust_options
from certcensus.probe.dialogs import DIALOGS, DialogOptions, dialog_class
from certcensus.render.console import make_console, print_census
from certcensus.render.as_json import census_to_json
from certcensus.render.pem_files import save_chains_as_pem
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.workers import WorkerPool
from certcensus.probe.profiles import (
    DEFAULT_ENGINE,
    ENGINES,
    PROFILES,
    client_context,
    engine_refusal,
    parse_profiles,
)
from certcensus.probe.scheduler import DEFAULT_RESOLVE_EVERY, Scan, ScanPlan, ScanResult
from certcensus.store.sqlite import StoreError, open_store
from certcensus.probe.targets import Target, TargetError, parse_target

DEFAULT_CONCURRENCY = 64
DEFAULT_CONFIDENCE = 0.99
DEFAULT_MIN_SHARE = 0.01


class UsageFailure(click.ClickException):
    """Bad input from the user: one line, exit status 2."""

    exit_code = 2


def parse_duration(text: str | None) -> float | None:
    """`90`, `90s`, `10m`, `2h`, `1d` -> seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise UsageFailure(f"--duration {text!r} is not like 30s, 10m, 2h or 1d")
    value, unit = float(match[1]), match[2] or "s"
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _starttls_choices() -> list[str]:
    return ["auto", "none", *sorted(DIALOGS)]


@dataclasses.dataclass(frozen=True)
class TrustRequest:
    stores: tuple[str, ...] = ()
    password: str = "changeit"
    offline: bool = False
    cache_dir: str | None = None


@dataclasses.dataclass
class Judge:
    """Trust stores loaded once (before any probe, so a bad one fails first), then applied."""

    stores: list
    pool: object
    fetcher: object

    def apply(self, census: Census) -> None:
        from certcensus.trust.census_trust import judge_census

        judge_census(census, self.stores, pool=self.pool, fetcher=self.fetcher)


def load_judge(request: TrustRequest | None) -> Judge | None:
    """Load the named stores and open the CA pool and AIA cache; None when no store is named."""
    if not request or not request.stores:
        return None
    from certcensus.cli.trust import cache_directory, load_stores
    from certcensus.trust import AIAFetcher, CAPool

    cache = cache_directory(request.cache_dir)
    return Judge(load_stores(request.stores, request.password), CAPool(cache / "ca-pool"),
                 AIAFetcher(cache / "aia", offline=request.offline))  # fmt: skip


def db_option(function):
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        help="SQLite database (default: certcensus.sqlite in the user data directory).",
    )(function)


@click.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--starttls", default="auto", type=click.Choice(_starttls_choices()),
              help="How TLS starts: auto (from scheme or port), none (implicit TLS), or a protocol.")
@click.option("--ehlo-name", default="certcensus.invalid", show_default=True,
              help="Name sent in SMTP EHLO / LMTP LHLO.")
@click.option("--xmpp-domain", default=None, help="Domain for the XMPP stream's to= (default: host).")
@click.option("--ip", "ip_mode", default="all", show_default=True, metavar="all|first|ADDR",
              help="Probe every resolved address, the first one, or this address.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Probes per target (a cap when stopping when sure).")
@click.option("--duration", default=None, metavar="TIME", help="Probe for this long: 30s, 10m, 2h.")
@click.option("--rate", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Probes per second per address; 0 = as fast as possible.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Probes in flight at once, over all targets [default: 64; 2 per RDP target].")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Seconds allowed for each phase: connect, STARTTLS, handshake.")
@click.option("--sni", default=None, help="Server name to send (default: the target's host name).")
@click.option("--no-sni", is_flag=True, help="Send no server name.")
@click.option("--source-address", default=None, metavar="A,B,...",
              help="Local addresses to probe from, used in turn.")
@click.option("--profile", "profile_list", default="default", show_default=True,
              metavar="P,P,...|all",
              help="ClientHello profiles: default, no-sni, tls1.2, tls1.3, rsa, ecdsa; real clients "
                   "(native engine): openssl-1.0.2, java-8, java-17, ibmi-7.4, windows-schannel, "
                   "android-7, curl-openssl3; all; clients.")
@click.option("--engine", default=DEFAULT_ENGINE, show_default=True, type=click.Choice(ENGINES),
              help="Handshake engine: native (our chain-capture client, stops at the "
                   "certificates) or openssl (a full handshake through OpenSSL).")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999999), default=None,
              help="Stop when sure: the confidence of the coverage statement [default: 0.99].")
@click.option("--min-share", type=click.FloatRange(0.0001, 0.5), default=None,
              help="Stop when sure: no chain with at least this share may be missed [default: 0.01].")
@click.option("--spread", default=None, metavar="TIME",
              help="Space each stratum's probes evenly over this period (e.g. 10m) instead of bursting.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Probe from this many worker processes (one core each); 0 = in this process.")
@click.option("--resolve-every", type=click.FloatRange(min=1), default=DEFAULT_RESOLVE_EVERY,
              show_default=True, help="Re-resolve names this often (seconds) on --duration runs.")
@db_option
@trust_options()
@click.option("--json", "as_json", is_flag=True, help="Print the census as JSON on stdout.")
@click.option("--save-pem", type=click.Path(file_okay=False), default=None,
              help="Write each distinct chain to DIR/<chain id>.pem.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def scan(targets, starttls, ehlo_name, xmpp_domain, ip_mode, count, duration, rate, concurrency,
         timeout, sni, no_sni, source_address, profile_list, engine, confidence, min_share, spread,
         workers, resolve_every, db_path, trust_stores, store_password, offline, cache_dir, as_json,
         save_pem, quiet):
    """Probe TARGETS again and again and count every chain they present.

    A target is host, host:port, [v6addr]:port or a URL (smtp://, submission://, smtps://,
    https://, imaps://, pop3s://, ldaps://, imap://, ldap://, xmpp://, postgres://, ...).
    Well-known ports pick their STARTTLS protocol (25 and 587: SMTP; 143: IMAP; ...).

    \b
    Without --count or --duration, scan stops when sure: it probes each stratum (address,
    profile) until, with --confidence, no chain served on --min-share or more of connections
    can have been missed.
    """
    parsed = _parse_targets(targets, starttls)
    seconds = parse_duration(duration)
    try:
        profiles = parse_profiles(profile_list, engine)
    except ValueError as error:
        raise UsageFailure(str(error)) from None
    refusal = engine_refusal(profiles, engine)
    if refusal:
        raise UsageFailure(refusal)
    stop_when_sure = None
    if (count is None and seconds is None) or confidence is not None or min_share is not None:
        stop_when_sure = (min_share or DEFAULT_MIN_SHARE, confidence or DEFAULT_CONFIDENCE)
    sources = [a.strip() for a in source_address.split(",")] if source_address else []
    settings = {
        (target.name, profile): ProbeSettings(
            context=client_context(profile),
            timeout=timeout,
            sni=server_name(target, profile, sni, no_sni),
            dialog_options=DialogOptions(host=target.host, ehlo_name=ehlo_name,
                                         xmpp_domain=xmpp_domain),
            profile=profile,
            engine=engine,
        )
        for target in parsed
        for profile in profiles
    }  # fmt: skip
    polite = {
        target.name: dialog_class(target.dialog).polite_concurrency
        for target in parsed
        if target.dialog and dialog_class(target.dialog).polite_concurrency and concurrency is None
    }
    plan = ScanPlan(
        targets=parsed, settings=settings, count=count, duration=seconds, rate=rate,
        concurrency=concurrency or DEFAULT_CONCURRENCY, target_concurrency=polite, ip_mode=ip_mode, resolve_every=resolve_every,
        source_addresses=sources, profiles=profiles, stop_when_sure=stop_when_sure,
        spread=parse_duration(spread), workers=workers,
    )  # fmt: skip
    judge = load_judge(TrustRequest(trust_stores, store_password, offline, cache_dir))
    sys.exit(run_scan_and_print(
        plan, db_path, as_json=as_json, save_pem=save_pem, quiet=quiet,
        confidence=confidence or DEFAULT_CONFIDENCE, judge=judge,
    ))  # fmt: skip


def server_name(target: Target, profile: str, sni: str | None, no_sni: bool) -> str | None:
    """The SNI a probe sends: none for --no-sni or the no-sni profile, else --sni or the host
    name (never an IP address: RFC 6066 section 3 forbids literal addresses in SNI)."""
    if no_sni or not PROFILES[profile].send_sni:
        return None
    return sni or (None if target.is_address else target.host)


def _parse_targets(texts, starttls: str) -> list[Target]:
    parsed: dict[str, Target] = {}
    for text in texts:
        try:
            target = parse_target(text, starttls)
        except TargetError as error:
            raise UsageFailure(str(error)) from None
        parsed.setdefault(target.name, target)
    return list(parsed.values())


def run_scan_and_print(plan: ScanPlan, db_path, *, as_json: bool, save_pem, quiet: bool,
                       command: str = "scan", confidence: float = DEFAULT_CONFIDENCE,
                       judge: Judge | None = None) -> int:
    """Run the scan into the store, print the census of this run; return the exit status."""
    err = make_console(stderr=True)
    store = _open(db_path)
    with store:
        run_id = store.start_run(command, [t.name for t in plan.targets])
        result = _run_with_progress(plan, store, run_id, show=not quiet and err.is_terminal)
        store.finish_run(run_id)
        census = build_census(store, [t.name for t in plan.targets], [run_id], confidence=confidence)
        if judge:
            judge.apply(census)
        for name, message in result.resolution_errors.items():
            err.print(f"certcensus: error: {message}", style="red", markup=False, highlight=False)
        if result.interrupted:
            err.print("certcensus: interrupted; census of the probes made so far:")
        _emit(census, store, as_json=as_json, save_pem=save_pem)
    if len(result.resolution_errors) == len(plan.targets):
        return 2
    return 0 if census.any_ok else 1


def _run_with_progress(plan: ScanPlan, store, run_id: int, *, show: bool) -> ScanResult:
    total = plan.count * len(plan.targets) if plan.count and not plan.stop_when_sure else None
    progress = Progress(
        TextColumn("[bold]probing[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[chains]} chains"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True, disable=not show,
    )  # fmt: skip
    task = progress.add_task("probing", total=total, chains=0)
    seen: set[str] = set()

    def on_observation(observation) -> None:
        chain_id = observation.chain_id
        if chain_id:
            seen.add(chain_id)
        progress.update(task, advance=1, chains=len(seen))

    async def go() -> ScanResult:
        workers = await start_profile_workers(plan)
        scan = Scan(plan, store, run_id, on_observation)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, scan.interrupt)
        loop.add_signal_handler(signal.SIGTERM, scan.interrupt)
        try:
            return await scan.run()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            for worker in workers:
                await worker.close(abort=scan.stop.is_set())

    with progress:
        return asyncio.run(go())


async def start_profile_workers(plan: ScanPlan) -> list[WorkerPool]:
    """Start worker processes: `plan.workers` per profile when asked for, and at least one for
    each profile that needs its own OpenSSL configuration (OpenSSL engine only); route those
    profiles' probes there."""
    pools = []
    engines = {settings.engine for settings in plan.settings.values()}
    for profile in plan.profiles:
        needs_worker = any(PROFILES[profile].needs_worker_with(engine) for engine in engines)
        if not plan.workers and not needs_worker:
            continue
        pool = WorkerPool(profile, plan.workers or 1)
        await pool.start()
        pools.append(pool)
        for key, settings in plan.settings.items():
            if settings.profile == profile:
                plan.settings[key] = dataclasses.replace(settings, runner=pool.probe)
    return pools


def _open(db_path):
    try:
        return open_store(db_path)
    except StoreError as error:
        raise UsageFailure(str(error)) from None


def _kit_links(kit_dir, output) -> list[tuple[str, str]] | None:
    """The kit's files as (label, href relative to the report's folder)."""
    if not kit_dir:
        return None
    base = Path(output).resolve().parent if output else Path.cwd()
    files = sorted(p for p in Path(kit_dir).resolve().iterdir() if p.is_file())
    return [(p.name, os.path.relpath(p, base)) for p in files]


def _emit_pem(census: Census, save_pem) -> None:
    written = save_chains_as_pem(census, Path(save_pem))
    Console(stderr=True).print(f"wrote {len(written)} chain file(s) to {save_pem}")


def _emit(census: Census, store, *, as_json: bool, save_pem) -> None:
    if save_pem:
        _emit_pem(census, save_pem)
    if as_json:
        click.echo(census_to_json(census))
    else:
        print_census(census, make_console())


@click.command()
@db_option
@click.option("--target", "targets", multiple=True, help="Only this target (repeatable).")
@click.option("--run", "run_ids", type=int, multiple=True, help="Only this run id (repeatable).")
@click.option("--all-runs", is_flag=True, help="Count every run in the store, not the latest.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999999), default=DEFAULT_CONFIDENCE,
              show_default=True, help="Confidence of the coverage statement.")
@trust_options()
@click.option("--format", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json", "csv", "observations-csv", "html"]),
              help="text tables; the JSON contract; CSV of chains or of every probe; one "
                   "self-contained HTML file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the report to this file (default: stdout).")
@click.option("--kit-dir", type=click.Path(file_okay=False), default=None,
              help="HTML: link the files of this export kit (relative to the report).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--save-pem", type=click.Path(file_okay=False), default=None,
              help="Write each distinct chain to DIR/<chain id>.pem.")
def report(db_path, targets, run_ids, all_runs, confidence, trust_stores, store_password, offline,
           cache_dir, fmt, output, kit_dir, as_json, save_pem):
    """Print the census again from the store (by default each target's latest run)."""
    store = _open(db_path)
    with store:
        names = list(targets) or None
        if run_ids:
            runs = list(run_ids)
        elif all_runs:
            runs = None
        else:
            runs = store.latest_run_ids(names)
        census = build_census(store, names, runs, confidence=confidence)
        judge = load_judge(TrustRequest(trust_stores, store_password, offline, cache_dir))
        if judge:
            judge.apply(census)
        if not census.targets:
            raise UsageFailure("no probes in the store for that selection (run `certcensus scan` first)")
        fmt = "json" if as_json else fmt
        if fmt == "text" and output is None:
            _emit(census, store, as_json=False, save_pem=save_pem)
        else:
            from certcensus.render.formats import write_report  # HTML and CSV only when asked for

            if save_pem:
                _emit_pem(census, save_pem)
            write_report(census, store, fmt, output, title="certcensus report",
                         kit_links=_kit_links(kit_dir, output))
    sys.exit(0 if census.any_ok else 1)


@click.command()
@click.option("--count", type=click.IntRange(min=1), default=600, show_default=True,
              help="Probes to make against the demo pool.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the census as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def demo(count, db_path, as_json, quiet):
    """Start a two-chain SMTP pool on loopback and census it (no network needed)."""
    from certcensus.cli.demo import run_demo

    sys.exit(run_demo(count=count, db_path=db_path, as_json=as_json, quiet=quiet))
