"""An in-memory prober for tests of the scheduler, the watch loop and the census: no sockets.

`FakeProber(answer)` calls `answer(call)` for each probe and records what it returns: a chain
(a tuple of DER certificates) for a successful probe, or an (Outcome, detail) pair for a
failure. `weighted_chains(...)` builds the common answer "this chain with this probability".
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.probers import Prober
from certcensus.probe.targets import Target

Answer = tuple[bytes, ...] | tuple[Outcome, str]


@dataclass(frozen=True, slots=True)
class FakeCall:
    number: int  # 0 for the first probe this prober makes
    target: Target
    address: str
    settings: ProbeSettings
    source_address: str | None


class FakeProber(Prober):
    def __init__(self, answer: Callable[[FakeCall], Answer], *, delay: float = 0.0):
        self.answer = answer
        self.delay = delay  # seconds each probe takes (asyncio time; 0 yields once)
        self.calls: list[FakeCall] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.closed = False

    async def probe(
        self,
        target: Target,
        address: str,
        settings: ProbeSettings,
        source_address: str | None = None,
    ) -> Observation:
        call = FakeCall(len(self.calls), target, address, settings, source_address)
        self.calls.append(call)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        started = time.time()
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        result = self.answer(call)
        record: dict[str, Any] = dict(
            target=target.name, host=target.host, port=target.port, protocol=target.protocol,
            address=address, started_at=started, sni=settings.sni, profile=settings.profile,
            source_address=source_address, source_port=40000 + call.number % 20000,
        )  # fmt: skip
        if result and isinstance(result[0], Outcome):
            return Observation(**record, outcome=result[0], detail=str(result[1]))
        return Observation(**record, outcome=Outcome.OK, chain=tuple(result), tls_version="TLSv1.3")

    async def close(self, abort: bool = False) -> None:
        self.closed = True


def weighted_chains(
    chains: Sequence[tuple[bytes, ...]], weights: Sequence[float], seed: int = 0
) -> Callable[[FakeCall], Answer]:
    """An answer that picks one of `chains` at random with `weights` (a random balancer)."""
    chooser = random.Random(seed)

    def answer(call: FakeCall) -> Answer:
        return chooser.choices(list(chains), weights=list(weights))[0]

    return answer
