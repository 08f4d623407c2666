"""`certcensus worker`: a Dask worker that probes from where it runs, and says so.

It joins a scheduler (`dask scheduler`), advertises the resource `vantage-NAME` so that a
`scan --vantage NAME` pins its batches here, and makes every probe from `--source-address`
when one is given (a balancer that hashes the source address, or routes by it, shows each
vantage its own pool). The worker is this process, not a child: stopping or killing it is
stopping or killing the worker, and Dask moves its batches elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import signal
import socket
from collections.abc import Callable

from certcensus.fleet import batches
from certcensus.fleet.cluster import (
    BATCH_SLOTS_PER_WORKER,
    COMM_TIMEOUT_SECONDS,
    VANTAGE_PREFIX,
    ClusterError,
    quiet_dask_logs,
    reachable,
)
from certcensus.model.errors import UsageError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def check_vantage_name(name: str) -> str:
    if not _NAME.match(name) or name == "all":
        raise UsageError(
            f"--vantage {name!r}: a vantage name is letters, digits, '.', '_' or '-' "
            "(and not 'all')"
        )
    return name


def check_source_address(address: str) -> str:
    """An address this machine can send from (bound once here, so a typo fails now)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        raise UsageError(f"--source-address {address!r} is not an IP address") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as error:
            raise UsageError(
                f"--source-address {address}: cannot send from it ({error.strerror})"
            ) from None
    return address


async def serve(
    scheduler: str,
    vantage: str | None,
    source_address: str | None,
    name: str | None = None,
    on_ready: Callable[[str, str], None] | None = None,
) -> None:
    """Run the worker until the scheduler goes away or SIGINT/SIGTERM."""
    # A worker runs unattended: Dask's warnings (a lost scheduler, memory) are worth a line.
    quiet_dask_logs(logging.WARNING)
    from distributed import Worker

    batches.WORKER_SOURCE_ADDRESS = source_address
    resources: dict[str, float] = (
        {VANTAGE_PREFIX + vantage: float(BATCH_SLOTS_PER_WORKER)} if vantage else {}
    )
    label = name or f"{vantage or 'worker'}-{socket.gethostname()}-{os.getpid()}"
    try:
        await reachable(scheduler)
        worker = await Worker(
            scheduler, nthreads=BATCH_SLOTS_PER_WORKER, resources=resources, name=label,
            death_timeout=COMM_TIMEOUT_SECONDS, dashboard=False, silence_logs=False,
        )  # fmt: skip
    except (OSError, TimeoutError) as error:
        raise ClusterError(
            f"cannot join the Dask scheduler at {scheduler}: "
            f"{' '.join(str(error).split()) or type(error).__name__}"
        ) from None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(worker.close()))
    if on_ready is not None:
        on_ready(label, worker.address)
    await worker.finished()
