"""A real Dask cluster for the fleet tests: `dask scheduler` and `certcensus worker` processes
on loopback, each started and waited for by the line it prints, and stopped after the test."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..servers import free_port, missing, stop, wait_for_port


@dataclass
class Worker:
    process: subprocess.Popen
    vantage: str | None
    lines: list[str]


class DaskCluster:
    def __init__(self, address: str):
        self.address = address
        self.workers: list[Worker] = []

    def start_worker(self, vantage: str | None = None, source: str | None = None) -> Worker:
        command = [sys.executable, "-m", "certcensus", "worker", "--scheduler", self.address]
        if vantage:
            command += ["--vantage", vantage]
        if source:
            command += ["--source-address", source]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        assert process.stderr is not None
        for line in process.stderr:  # wait for the line that says it joined
            lines.append(line)
            if " ready at " in line:
                break
        else:
            raise RuntimeError(f"worker did not start: {''.join(lines)}")
        # Keep reading, so that a chatty worker never blocks on a full pipe.
        threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
        worker = Worker(process, vantage, lines)
        self.workers.append(worker)
        return worker


@contextlib.contextmanager
def dask_cluster() -> Iterator[DaskCluster]:
    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    if dask is None:
        missing("the dask command is not installed (pip install distributed)")
    port = free_port()
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cluster = DaskCluster(f"tcp://127.0.0.1:{port}")
    try:
        wait_for_port(port, scheduler)
        yield cluster
    finally:
        for worker in cluster.workers:
            if worker.process.poll() is None:
                stop(worker.process)
        stop(scheduler)


@pytest.fixture
def cluster() -> Iterator[DaskCluster]:
    with dask_cluster() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """Where the census goes: a file (batches come back to the scan, which stores them), or
    PostgreSQL (the workers write their batches straight into it)."""
    if request.param == "sqlite":
        return str(tmp_path / "census.sqlite")
    return request.getfixturevalue("postgres_url")
