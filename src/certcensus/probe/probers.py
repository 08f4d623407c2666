"""Who makes a probe: the interface the scheduler talks to, like httpx's transports.

- `LocalProber`: `probe_once` in this process (the default);
- `workers.WorkerPool`: worker processes, for more cores or a profile's own OpenSSL settings;
- `fake.FakeProber`: answers from memory, for scheduler and watch tests.

The scheduler holds one prober per ClientHello profile and never asks which kind it is.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from certcensus.model.observation import Observation
from certcensus.probe.prober import ProbeSettings, probe_once
from certcensus.probe.targets import Target


class Prober(abc.ABC):
    async def start(self) -> None:
        """Get ready (start processes, ...) before the first probe."""

    @abc.abstractmethod
    async def probe(
        self,
        target: Target,
        address: str,
        settings: ProbeSettings,
        source_address: str | None = None,
    ) -> Observation:
        """One probe of `address`; never raises for anything the peer does."""

    async def close(self, abort: bool = False) -> None:
        """Release what `start` took; `abort` (an interrupted run) stops work in progress now."""


class LocalProber(Prober):
    async def probe(
        self,
        target: Target,
        address: str,
        settings: ProbeSettings,
        source_address: str | None = None,
    ) -> Observation:
        return await probe_once(target, address, settings, source_address)


async def start_probers(
    profiles_in_workers: Mapping[str, int], profiles: list[str]
) -> dict[str, Prober]:
    """One started prober per profile: a worker pool for those in `profiles_in_workers`
    (profile -> processes), this process for the rest."""
    from certcensus.probe.workers import WorkerPool  # only runs that use workers pay for it

    local = LocalProber()
    probers: dict[str, Prober] = {}
    try:
        for profile in profiles:
            size = profiles_in_workers.get(profile)
            if size:
                pool = WorkerPool(profile, size)
                probers[profile] = pool
                await pool.start()
            else:
                probers[profile] = local
    except BaseException:
        await close_probers(probers, abort=True)
        raise
    return probers


async def close_probers(probers: Mapping[str, Prober], abort: bool = False) -> None:
    for prober in {id(p): p for p in probers.values()}.values():
        await prober.close(abort=abort)
