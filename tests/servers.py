"""Real servers from Debian packages, started on loopback for a test and stopped after it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, host: str = "127.0.0.1", limit: float = 30.0) -> None:
    """Wait until something accepts on host:port, failing early if the server process died."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}: {output}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {limit}s")


def require(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin:/sbin")
    if not path:
        pytest.skip(f"{binary} is not installed (run ./scripts/install-debian-packages.sh)")
    return path


@contextlib.contextmanager
def running(command: list[str], port: int, cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def haproxy(tmp_path: Path, backends: list[tuple[int, int]], balance: str) -> Iterator[int]:
    """HAProxy in TCP mode on a free port in front of (port, weight) backends on 127.0.0.1."""
    binary = require("haproxy")
    port = free_port()
    servers = "\n".join(
        f"  server s{i} 127.0.0.1:{backend_port} weight {weight}"
        for i, (backend_port, weight) in enumerate(backends)
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""global
  maxconn 2000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend front
  bind 127.0.0.1:{port}
  default_backend pool
backend pool
  balance {balance}
{servers}
"""
    )
    with running([binary, "-db", "-f", str(config)], port):
        yield port
