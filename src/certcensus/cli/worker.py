"""`certcensus worker`: join a Dask scheduler as a probing worker, optionally a vantage point."""

from __future__ import annotations

import asyncio
import sys

import click

from certcensus.cli.command import Command
from certcensus.model.errors import EXIT_OK


@click.command(cls=Command)
@click.option(
    "--scheduler",
    required=True,
    metavar="tcp://HOST:PORT",
    help="The Dask scheduler to join (started with `dask scheduler`).",
)
@click.option(
    "--vantage",
    default=None,
    metavar="NAME",
    help="Advertise the vantage NAME: `scan --vantage NAME` probes from this worker.",
)
@click.option(
    "--source-address",
    default=None,
    metavar="ADDR",
    help="Make every probe from this local address.",
)
@click.option("--name", default=None, help="The worker's name on the scheduler.")
def worker(scheduler, vantage, source_address, name):
    """Probe for scans that run on a Dask cluster (`scan --dask tcp://HOST:PORT`).

    \b
    Example: two vantage points, and a scan from both:
      dask scheduler --port 8786
      certcensus worker --scheduler tcp://10.0.0.1:8786 --vantage eu
      certcensus worker --scheduler tcp://10.0.0.1:8786 --vantage us
      certcensus scan --dask tcp://10.0.0.1:8786 --vantage all example.com --count 100
    """
    from certcensus.fleet.cluster import parse_dask
    from certcensus.fleet.worker import check_source_address, check_vantage_name, serve

    spec = parse_dask(scheduler, "--scheduler", local=False)
    if spec.address is None:
        raise click.UsageError("--scheduler takes tcp://HOST:PORT")
    if vantage is not None:
        check_vantage_name(vantage)
    if source_address is not None:
        check_source_address(source_address)

    def ready(label: str, address: str) -> None:
        where = f" vantage {vantage}" if vantage else ""
        source = f", probing from {source_address}" if source_address else ""
        print(
            f"certcensus: worker {label}{where} ready at {address} (scheduler {spec.address}{source})",
            file=sys.stderr,
            flush=True,
        )

    asyncio.run(serve(spec.address, vantage, source_address, name, ready))
    sys.exit(EXIT_OK)
