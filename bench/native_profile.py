"""Where a native-engine scan's time goes: one `certcensus scan --engine native` under cProfile,
its functions' own time grouped by what they are (the kernel's socket calls, the TLS 1.3
primitives, the engine's Python, asyncio, the prober and scheduler, the store, the rest).

cProfile slows Python calls more than C calls, so the shares are what to read; the milliseconds
are under the profiler and larger than in a plain run.
"""

from __future__ import annotations

import json
import pstats
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CATEGORIES = (
    (
        "kernel: socket(), connect, send, recv, close",
        ("_socket.socket", "socket.close", "socket.py"),
    ),
    # cProfile does not see into cryptography's Rust methods (X25519/ECDH, HKDF, AEAD): their
    # time lands in the engine's functions that call them, so both are one part.
    (
        "native engine (probe/native/ and the cryptography primitives it calls)",
        ("probe/native/", "cryptography", "x25519", "_rust"),
    ),
    ("asyncio event loop and selectors", ("asyncio/", "selectors.py")),
    ("prober and scheduler", ("probe/prober.py", "probe/scheduler.py")),
    ("store (SQLite) and observations", ("store/", "sqlite3", "model/")),
)
REST = "start-up, census and the rest"


@dataclass
class ProfileSummary:
    probes: int
    total_seconds: float
    by_category: dict[str, float]  # seconds of own time

    def ms_per_probe(self, category: str) -> float:
        return 1000 * self.by_category[category] / max(self.probes, 1)

    def share(self, category: str) -> float:
        return self.by_category[category] / self.total_seconds if self.total_seconds else 0.0

    def one_line(self) -> str:
        return "; ".join(f"{name} {self.share(name):.0%}" for name in self.by_category)


def categorize(stats: pstats.Stats) -> dict[str, float]:
    totals = {name: 0.0 for name, _ in CATEGORIES} | {REST: 0.0}
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        where = f"{filename} {function}"
        for name, needles in CATEGORIES:
            if any(needle in where for needle in needles):
                totals[name] += own
                break
        else:
            totals[REST] += own
    return totals


PROFILED_PROBES = 5000  # enough that start-up and the census are a small part


def profile_native_scan(port: int, scratch: Path, probes: int = PROFILED_PROBES) -> ProfileSummary:
    output = scratch / "native-scan.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(output), "-m", "certcensus", "scan",
               f"127.0.0.1:{port}", "--starttls", "none", "--rate", "0", "--count", str(probes),
               "--engine", "native", "--db", str(scratch / "profile.sqlite"), "--json", "-q"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    probes = json.loads(done.stdout)["targets"][0]["ok"]
    stats = pstats.Stats(str(output))
    by_category = categorize(stats)
    return ProfileSummary(probes, sum(by_category.values()), by_category)
