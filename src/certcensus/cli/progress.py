"""The progress line of a scan: probes made, chains seen, and, when stopping when sure, how many
probes are still needed and how long that takes at the current rate.

The goal of each lane is known (model/coverage_bound.py `probes_needed`, per stratum), so
"stop when sure" is not an open-ended `24/?`: the scheduler says how many successful probes
its lanes still want, and the rate of the last few seconds turns that into time.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

# The rate is measured over this many seconds: long enough to smooth the bursts of a paced
# scan, short enough to follow a server that slows down.
RATE_WINDOW_SECONDS = 10.0
# Recompute the estimate at most this often: asking every lane on every probe would cost more
# than the probe on a scan of thousands of targets.
ESTIMATE_EVERY_SECONDS = 0.25


class RateMeter:
    """Successful probes per second over the last RATE_WINDOW_SECONDS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._marks: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, ok_so_far: int) -> None:
        now = self._clock()
        self._marks.append((now, ok_so_far))
        while len(self._marks) > 2 and now - self._marks[0][0] > RATE_WINDOW_SECONDS:
            self._marks.popleft()

    def per_second(self) -> float | None:
        if len(self._marks) < 2:
            return None
        (start, first), (end, last) = self._marks[0], self._marks[-1]
        if end <= start or last <= first:
            return None
        return (last - first) / (end - start)


def estimate_words(still_needed: int | None, rate: float | None) -> str:
    """ "~1,594 probes to go, ~0:42 left" (or less, when the rate is not known yet)."""
    if still_needed is None:
        return ""
    if still_needed == 0:
        return "sure: finishing"
    words = f"~{still_needed:,} probes to go"
    if rate:
        words += f", ~{_clock_time(still_needed / rate)} left"
    return words


def _clock_time(seconds: float) -> str:
    seconds = max(1, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class StopWhenSureEstimate:
    """Feeds the progress display: call `update(ok_so_far)` per probe; `words` is the text."""

    def __init__(self, still_needed: Callable[[], int | None],
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self._still_needed = still_needed
        self._clock = clock
        self._meter = RateMeter(clock)
        self._last = -ESTIMATE_EVERY_SECONDS
        self.words = ""
        self.remaining: int | None = None

    def update(self, ok_so_far: int) -> None:
        self._meter.add(ok_so_far)
        now = self._clock()
        if now - self._last < ESTIMATE_EVERY_SECONDS:
            return
        self._last = now
        self.remaining = self._still_needed()
        self.words = estimate_words(self.remaining, self._meter.per_second())
