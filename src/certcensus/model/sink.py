"""Where observations go: the interface probing and ingest write to, and the store implements.

Declared here, at the bottom of the stages, so that the prober and ingest need not import the
store (the next stage); the CLI hands them a store, and tests a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from certcensus.model.observation import Observation


@dataclass(frozen=True, slots=True)
class RejectedObservation:
    """An observation the sink could not keep (its batch was kept without it), and why."""

    observation: Observation
    reason: str


class ObservationSink(Protocol):
    # Observations a flush could not write, each with its reason; the rest of their batch was
    # written. Commands report them (a scan on stderr, ingest among its skipped files).
    rejected: list[RejectedObservation]

    def start_run(self, command: str, targets: Iterable[str]) -> int:
        """Open a run (one scan, one ingest, one watch round) and return its id."""
        ...

    def set_run_targets(self, run_id: int, targets: Iterable[str]) -> None: ...

    def finish_run(self, run_id: int) -> None: ...

    def add(self, run_id: int, observation: Observation) -> None:
        """Queue one observation; durable after the next `flush` (at most ~1 s later)."""
        ...

    def flush(self) -> None: ...


class BatchSink(ObservationSink, Protocol):
    """A sink that also takes whole batches under an id, each at most once (the store)."""

    def add_batch(self, run_id: int, batch_id: str, observations: Sequence[Observation]) -> bool:
        """Store `observations` durably unless `batch_id` was stored for the run already."""
        ...
