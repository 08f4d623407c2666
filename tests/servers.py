"""Real servers from Debian packages, started on loopback for a test and stopped after it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

# The global and defaults sections of every test HAProxy: TCP mode, generous timeouts.
HAPROXY_TCP_DEFAULTS = """global
  maxconn 2000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, process: subprocess.Popen, host: str = "127.0.0.1", limit: float = 30.0
) -> None:
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


def missing(reason: str) -> NoReturn:
    """A real server or reference tool is not installed: skip the test, but fail it under CI
    (CI=true), so that a CI run cannot pass with every real-server test skipped."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing binary fails the test)", pytrace=False)
    pytest.skip(reason)


def require(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin:/sbin")
    if not path:
        missing(f"{binary} is not installed (run ./scripts/install-debian-packages.sh)")
    return path


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the server has not exited after `grace` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(command: list[str], port: int, cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        stop(process)


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
        f"""{HAPROXY_TCP_DEFAULTS}frontend front
  bind 127.0.0.1:{port}
  default_backend pool
backend pool
  balance {balance}
{servers}
"""
    )
    with running([binary, "-db", "-f", str(config)], port):
        yield port


NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl{default};
        server_name {name};
{certificates}
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {{ return 204; }}
    }}
"""


@contextlib.contextmanager
def nginx(tmp_path: Path, servers: list[tuple[str, list[tuple[Path, Path]]]]) -> Iterator[int]:
    """nginx on a free port: `servers` is [(server_name, [(cert file, key file), ...])]; the
    first is the default server (what a client without SNI gets). Several certificate pairs in
    one server let nginx pick RSA or ECDSA by what the client offers."""
    binary = require("nginx")
    port = free_port()
    blocks = []
    for index, (name, pairs) in enumerate(servers):
        certificates = "\n".join(
            f"        ssl_certificate {cert};\n        ssl_certificate_key {key};"
            for cert, key in pairs
        )
        blocks.append(
            NGINX_SERVER.format(
                port=port,
                default=" default_server" if index == 0 else "",
                name=name,
                certificates=certificates,
            )
        )
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{"".join(blocks)}
}}
"""
    )
    with running([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], port):
        yield port
