"""`--dask local:N` (a LocalCluster of N worker processes on this machine) or
`--dask tcp://HOST:PORT` (a scheduler started with `dask scheduler`), as a connected client."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from certcensus.model.errors import CertcensusError, UsageError

# Batches a worker process runs at once. They are coroutines on the worker's event loop, mostly
# waiting on the network or their pacing, so a worker holds many; the probes in flight per
# worker are capped separately (ScanPlan.concurrency).
BATCH_SLOTS_PER_WORKER = 256
# The resource a vantage worker advertises: `vantage-NAME`, one unit per batch slot.
VANTAGE_PREFIX = "vantage-"
# How long to wait for a remote scheduler to accept a connection before saying it is away.
CONNECT_TIMEOUT_SECONDS = 5
# Dask's own timeout for each of its connections once joined (its default): a loaded scheduler
# or worker may take seconds to accept one, and a batch must not be lost for that.
COMM_TIMEOUT_SECONDS = 30

_LOCAL = re.compile(r"^local:(\d+)$")


class ClusterError(CertcensusError):
    """The Dask scheduler cannot be reached, or has no worker for what was asked."""


@dataclass(frozen=True)
class DaskSpec:
    local_workers: int | None = None  # local:N
    address: str | None = None  # tcp://HOST:PORT

    def describe(self) -> str:
        if self.local_workers is not None:
            return f"local:{self.local_workers}"
        return str(self.address)


def parse_dask(text: str, option: str = "--dask", *, local: bool = True) -> DaskSpec:
    """`--dask local:N` or a scheduler's address; `option` names the flag in the error, and
    `local=False` (worker --scheduler) takes an address only."""
    text = text.strip()
    match = _LOCAL.match(text) if local else None
    if match:
        workers = int(match[1])
        if workers < 1:
            raise UsageError("--dask local:N needs at least one worker")
        return DaskSpec(local_workers=workers)
    if re.match(r"^(tcp|tls|ws|wss)://[^/]+:\d+/?$", text):
        return DaskSpec(address=text.rstrip("/"))
    wanted = "local:N or tcp://HOST:PORT" if local else "tcp://HOST:PORT"
    raise UsageError(f"{option} {text!r} is not {wanted}")


def quiet_dask_logs(level: int = logging.ERROR) -> None:
    """Dask logs every worker's coming and going at INFO; a user wants our lines only.
    (After importing distributed, which sets its loggers' levels from its config.)"""
    import distributed  # noqa: F401

    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(level)


async def reachable(address: str) -> None:
    """Raise OSError unless something accepts TCP at `address` within CONNECT_TIMEOUT_SECONDS
    (Dask's client would retry a refused connection for its whole timeout)."""
    import asyncio

    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host.strip("[]"), int(port)), CONNECT_TIMEOUT_SECONDS
    )
    writer.close()


class Cluster:
    """`async with Cluster(spec) as cluster:` -> `cluster.client`, an asynchronous Client."""

    def __init__(self, spec: DaskSpec):
        self.spec = spec
        self.client: Any = None
        self._local: Any = None

    async def __aenter__(self) -> Cluster:
        quiet_dask_logs()
        from distributed import Client, LocalCluster

        if self.spec.local_workers is not None:
            self._local = await LocalCluster(
                n_workers=self.spec.local_workers,
                threads_per_worker=BATCH_SLOTS_PER_WORKER,
                processes=True,
                # Everything on loopback: a local cluster serves no one but this scan (its
                # HTTP endpoint on a free port, not on every interface's 8787).
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
                asynchronous=True,
            )
            self.client = await Client(self._local, asynchronous=True)
            return self
        try:
            await reachable(str(self.spec.address))
            self.client = await Client(
                self.spec.address, asynchronous=True, timeout=COMM_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as error:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {self.spec.address}: "
                f"{' '.join(str(error).split()) or type(error).__name__}"
            ) from None
        return self

    async def __aexit__(self, *exc) -> None:
        if self.client is not None:
            await self.client.close()
        if self._local is not None:
            await self._local.close()

    async def workers(self) -> dict[str, dict]:
        """Worker address -> {"name", "resources"}, as the scheduler knows them now."""
        return await self.client.run_on_scheduler(_workers_on_scheduler)

    async def vantages(self) -> dict[str, int]:
        """Vantage name -> workers advertising it."""
        found: dict[str, int] = {}
        for worker in (await self.workers()).values():
            for resource in worker["resources"]:
                if resource.startswith(VANTAGE_PREFIX):
                    name = resource.removeprefix(VANTAGE_PREFIX)
                    found[name] = found.get(name, 0) + 1
        return found

    async def check_vantages(self, wanted: list[str]) -> list[str]:
        """The vantages to probe from (`all`: every one advertised); ClusterError for a name no
        worker advertises, since its work would wait forever."""
        advertised = await self.vantages()
        if wanted == ["all"]:
            if not advertised:
                raise ClusterError(
                    f"no worker of {self.spec.describe()} advertises a vantage (start them with "
                    "`certcensus worker --scheduler ... --vantage NAME`)"
                )
            return sorted(advertised)
        absent = [name for name in wanted if name not in advertised]
        if absent:
            raise ClusterError(
                f"no worker of {self.spec.describe()} advertises vantage {', '.join(absent)} "
                f"(advertised: {', '.join(sorted(advertised)) or 'none'}; start one with "
                f"`certcensus worker --scheduler {self.spec.describe()} --vantage "
                f"{absent[0]}`)"
            )
        return wanted


def _workers_on_scheduler(dask_scheduler: Any) -> dict[str, dict]:
    """Run on the scheduler (Client.run_on_scheduler): its workers and their resources."""
    return {
        address: {"name": str(state.name), "resources": dict(state.resources)}
        for address, state in dask_scheduler.workers.items()
    }
