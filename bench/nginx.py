"""A throwaway nginx TLS server on a loopback port, for the probe-throughput benchmark.

nginx comes from the Debian package (`/usr/sbin/nginx`, nginx-light). It runs in the foreground
(`daemon off`) as a child process, as the current user, with its own prefix, pid file, error log
and temp paths in a temporary folder, so it needs no root and touches nothing under /etc or /var.

Session resumption is off (`ssl_session_cache off; ssl_session_tickets off;`): every connection
of the benchmark must be a full handshake, which is what a census probe is.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NGINX = "/usr/sbin/nginx"
LOOPBACK = "127.0.0.1"
# How long nginx may take to start listening; it is usually ~50 ms, a busy shared machine is slower.
START_TIMEOUT = 15.0

CONFIG = """\
{user_line}
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
master_process on;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    server {{
        listen {host}:{port} ssl backlog=4096;
        server_name _;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {{
            return 204;
        }}
    }}
}}
"""


def free_loopback_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (free now; nginx binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float) -> None:
    """Return once `host:port` accepts TCP connections; raise if nginx exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)  # polling a port, not synchronising on a guess
    raise RuntimeError(f"nginx did not listen on {host}:{port} within {timeout:g}s")


class NginxServer:
    """`with NginxServer(cert_path, key_path) as server: ... server.port ...`"""

    def __init__(self, certificate: Path, key: Path, *, workers: str = "1", listen: str = LOOPBACK):
        self.certificate = Path(certificate)
        self.key = Path(key)
        self.workers = workers
        # "0.0.0.0" answers every 127.x.y.z (the many-targets benchmark, in its own netns).
        self.listen = listen
        self.host = LOOPBACK
        self.port = 0
        self.prefix: Path | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._process: subprocess.Popen | None = None

    def config_text(self) -> str:
        # A root master would switch its workers to `nobody`; keep them as the current user.
        # A non-root master warns about (and ignores) `user`, so leave it out then.
        user_line = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        return CONFIG.format(
            user_line=user_line, workers=self.workers, prefix=self.prefix, host=self.listen,
            port=self.port, certificate=self.certificate, key=self.key,
        )  # fmt: skip

    def start(self) -> NginxServer:
        self._tempdir = tempfile.TemporaryDirectory(prefix="certcensus-bench-nginx-")
        self.prefix = Path(self._tempdir.name)
        self.port = free_loopback_port()
        config = self.prefix / "nginx.conf"
        config.write_text(self.config_text())
        # `-e` sends the start-up error log to our folder too, not /var/log/nginx/error.log.
        command = [
            NGINX,
            "-p",
            str(self.prefix),
            "-c",
            str(config),
            "-e",
            str(self.prefix / "error.log"),
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(self.host, self.port, self._process, START_TIMEOUT)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{self.error_log_tail()}") from None
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the nginx master and its workers (from /proc)."""
        if not self._process:
            return 0.0
        master = self._process.pid
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # a process that ended between listing and reading
            # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
            fields = stat.rsplit(")", 1)[1].split()
            pid, parent = int(entry.name), int(fields[1])
            if pid == master or parent == master:
                total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def error_log_tail(self, lines: int = 20) -> str:
        log = self.prefix / "error.log" if self.prefix else None
        stderr = b""
        if self._process and self._process.poll() is not None and self._process.stderr:
            stderr = self._process.stderr.read()
        text = log.read_text(errors="replace") if log and log.exists() else ""
        return "\n".join((stderr.decode(errors="replace") + text).splitlines()[-lines:])

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            # SIGQUIT is nginx's graceful shutdown; SIGTERM is the fast one. Nothing is in flight.
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process and self._process.stderr:
            self._process.stderr.close()
        if self._tempdir:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
