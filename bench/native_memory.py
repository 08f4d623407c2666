"""Memory of a long native-engine scan: one `certcensus scan --engine native --count N` against
nginx (ECDSA P-256 leaf), its resident set size read from /proc every half second, from start
to exit. The probing phase and the census at the end are told apart by the probe times the
JSON census reports, so a store or census that grows is seen as such."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from certcensus.lab.pki import PKI, write_server_files
from nginx import NginxServer
from probe_runners import certcensus_executable

SAMPLE_SECONDS = 0.5


@dataclass
class MemoryRun:
    probes: int
    ok: int
    seconds: float
    probing_seconds: float
    samples: list[tuple[float, int]]  # (seconds since start, RSS KiB)
    peak_kib: int  # VmHWM at the last reading
    database_bytes: int
    first_probe_at: float  # seconds since start
    last_probe_at: float

    def rss_at(self, fraction: float) -> int:
        """RSS when `fraction` of the probing phase had passed."""
        moment = self.first_probe_at + fraction * (self.last_probe_at - self.first_probe_at)
        return min(self.samples, key=lambda sample: abs(sample[0] - moment))[1]

    @property
    def probing_peak_kib(self) -> int:
        return max(rss for at, rss in self.samples if at <= self.last_probe_at + SAMPLE_SECONDS)

    def one_line(self) -> str:
        return (f"memory: {self.ok:,} of {self.probes:,} probes ok in {self.seconds:.0f} s; RSS at "
                f"10/50/90% of probing {self.rss_at(0.1) / 1024:.0f}/{self.rss_at(0.5) / 1024:.0f}/"
                f"{self.rss_at(0.9) / 1024:.0f} MiB, peak while probing "
                f"{self.probing_peak_kib / 1024:.0f} MiB, peak overall (census included) "
                f"{self.peak_kib / 1024:.0f} MiB; store {self.database_bytes / 2**20:.0f} MiB")  # fmt: skip


def _status(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                values[name] = int(value.split()[0])
    except OSError:
        pass
    return values


def measure_memory(probes: int, scratch_root: Path) -> MemoryRun:
    with tempfile.TemporaryDirectory(prefix="certcensus-memory-", dir=scratch_root) as temporary:
        directory = Path(temporary)
        pki = PKI()
        root = pki.root("Memory Root", key_type="ec256")
        intermediate = pki.intermediate("Memory Intermediate", root, key_type="ec256")
        leaf = pki.leaf(["bench.example", "127.0.0.1"], intermediate, key_type="ec256")
        certificate, key = write_server_files(directory, leaf, [intermediate], "memory")
        database = directory / "memory.sqlite"
        with NginxServer(certificate, key, workers="1") as server:
            command = [certcensus_executable(), "scan", f"127.0.0.1:{server.port}", "--starttls", "none",
                       "--rate", "0", "--count", str(probes), "--engine", "native", "--db", str(database),
                       "--json", "-q"]  # fmt: skip
            started = time.time()
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            samples, peak = [], 0
            while process.poll() is None:
                status = _status(process.pid)
                if "VmRSS" in status:
                    samples.append((time.time() - started, status["VmRSS"]))
                    peak = max(peak, status.get("VmHWM", 0))
                time.sleep(SAMPLE_SECONDS)
            stdout, stderr = process.communicate()
            seconds = time.time() - started
        target = json.loads(stdout)["targets"][0]
        first = _iso(target["first_probe"]) - started
        last = _iso(target["last_probe"]) - started
        size = sum(p.stat().st_size for p in directory.glob("memory.sqlite*"))
        return MemoryRun(
            target["probes"], target["ok"], seconds, last - first, samples, peak, size, first, last
        )


def _iso(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
