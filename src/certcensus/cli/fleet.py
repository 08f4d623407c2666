"""Running a scan plan on a Dask cluster from the command line (`scan --dask`, `watch --dask`):
the cluster opened, the vantages checked, signals wired, progress across the cluster shown."""

from __future__ import annotations

import asyncio
import signal

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from certcensus.cli.interruption import FLEET_GRACE, Interruption
from certcensus.model.errors import UsageError
from certcensus.probe.plan import ScanPlan
from certcensus.probe.scheduler import ScanResult


def dask_options(function):
    """--dask and --vantage (scan and watch)."""
    function = click.option(
        "--vantage", "vantage_list", default=None, metavar="A,B,...|all",
        help="With --dask tcp://...: probe every target from each of these vantages (workers "
             "started with `certcensus worker --vantage NAME`); --count is per vantage.",
    )(function)  # fmt: skip
    return click.option(
        "--dask", "dask_spec", default=None, metavar="local:N|tcp://HOST:PORT",
        help="Spread probes over Dask workers: N local worker processes, or the workers of a "
             "scheduler started with `dask scheduler`.",
    )(function)  # fmt: skip


def parse_vantages(text: str | None, dask_spec: str | None) -> list[str] | None:
    if text is None:
        return None
    if dask_spec is None:
        raise UsageError("--vantage needs --dask tcp://HOST:PORT (the vantages' scheduler)")
    from certcensus.fleet.worker import check_vantage_name

    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return names
    if not names:
        raise UsageError("--vantage needs at least one name, or 'all'")
    return [check_vantage_name(name) for name in dict.fromkeys(names)]


def run_on_cluster(
    plan: ScanPlan, store, run_id: int, dask_spec: str, vantages: list[str] | None, *, show: bool
) -> tuple[ScanResult, int | None]:
    """The plan run on the cluster into `store`, with a progress line on a terminal; the
    result and the signal that stopped it (None when it ran to its end)."""
    from certcensus.fleet.cluster import Cluster, parse_dask
    from certcensus.fleet.scan import FleetProgress, FleetScan

    spec = parse_dask(dask_spec)
    bar = Progress(
        TextColumn("[bold]probing[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[chains]} chains, {task.fields[workers]} workers"
                   "{task.fields[vantages]}"),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True, disable=not show,
    )  # fmt: skip
    task = bar.add_task("probing", total=None, chains=0, workers=0, vantages="")

    def on_batch(progress: FleetProgress) -> None:
        spread = ", ".join(f"{v} {n}" for v, n in sorted(progress.by_vantage.items()))
        bar.update(
            task, completed=progress.probes, total=progress.total, chains=len(progress.chains),
            workers=len(progress.workers), vantages=f" ({spread})" if spread else "",
        )  # fmt: skip

    async def go() -> tuple[ScanResult, int | None]:
        async with Cluster(spec) as cluster:
            names = await cluster.check_vantages(vantages) if vantages else None
            scan = FleetScan(plan, store, run_id, cluster, names, on_batch,
                             shared_url=getattr(store, "shared_url", None))  # fmt: skip
            bar.update(task, total=scan.progress.total)
            interruption = Interruption(scan, bar.console, FLEET_GRACE)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, interruption, signum)
            try:
                return await scan.run(), interruption.signal
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)

    with bar:
        return asyncio.run(go())
