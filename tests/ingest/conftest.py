"""A small PKI with two chains that share a leaf, and real `openssl s_client` captures of both.

Chain A: leaf, Lab CA-1 (issued by Lab Root A), Lab Root A.
Chain B: the same leaf, Lab CA-1 cross-signed by Lab Root B, Lab Root B: "same leaf; same
intermediate key (Lab CA-1), cross-signed by Lab Root B instead of Lab Root A; root replaced",
the load-balancer case the baseline comparison is for.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from certcensus.lab.pki import PKI, Issued

from ..servers import missing

OPENSSL = shutil.which("openssl")


@dataclass
class TwoChains:
    leaf: Issued
    ca: Issued
    ca_cross: Issued
    root_a: Issued
    root_b: Issued

    @property
    def chain_a(self) -> list[Issued]:
        return [self.leaf, self.ca, self.root_a]

    @property
    def chain_b(self) -> list[Issued]:
        return [self.leaf, self.ca_cross, self.root_b]


@pytest.fixture(scope="session")
def two_chains() -> TwoChains:
    pki = PKI()
    root_a = pki.root("Lab Root A", key_type="ec256")
    root_b = pki.root("Lab Root B", key_type="ec256")
    ca = pki.intermediate("Lab CA-1", root_a, key_type="ec256")
    ca_cross = pki.cross_sign(ca, root_b)
    leaf = pki.leaf(["localhost", "127.0.0.1"], ca, key_type="ec256")
    return TwoChains(leaf, ca, ca_cross, root_a, root_b)


def start_s_server(
    directory, leaf: Issued, rest: list[Issued], stem: str
) -> tuple[subprocess.Popen, int]:
    """`openssl s_server` on a free loopback port; returns once it printed its ACCEPT line."""
    (directory / f"{stem}.crt").write_bytes(leaf.pem)
    (directory / f"{stem}.key").write_bytes(leaf.key_pem)
    (directory / f"{stem}-chain.pem").write_bytes(b"".join(c.pem for c in rest))
    server = subprocess.Popen(
        [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-www", "-cert", str(directory / f"{stem}.crt"),
         "-key", str(directory / f"{stem}.key"), "-cert_chain", str(directory / f"{stem}-chain.pem")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    for line in server.stdout:  # wait for the line that says it listens, not for a while
        if match := re.match(rb"ACCEPT 127\.0\.0\.1:(\d+)", line):
            return server, int(match.group(1))
    server.kill()
    raise RuntimeError("s_server exited before listening")


def run_s_client(port: int, *extra: str, with_stderr: bool = True) -> bytes:
    """What `openssl s_client -connect ... [> file 2>&1]` leaves in a file."""
    done = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *extra],
        input=b"", stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if with_stderr else subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    return done.stdout


@dataclass
class RealCaptures:
    showcerts_a: bytes
    showcerts_b: bytes
    leaf_only_a: bytes
    stdout_only_a: bytes


@pytest.fixture(scope="session")
def real_captures(tmp_path_factory, two_chains) -> RealCaptures:
    if OPENSSL is None:
        missing("openssl is not installed (scripts/install-debian-packages.sh installs it)")
    directory = tmp_path_factory.mktemp("s_server")
    chains = two_chains
    server_a, port_a = start_s_server(directory, chains.leaf, chains.chain_a[1:], "a")
    server_b, port_b = start_s_server(directory, chains.leaf, chains.chain_b[1:], "b")
    try:
        # Under TLS 1.3 the session block (Start Time, Protocol) is printed only if the ticket
        # arrives before s_client sees end of input, a race; TLS 1.2 prints it every time.
        return RealCaptures(
            showcerts_a=run_s_client(port_a, "-showcerts", "-tls1_2"),
            showcerts_b=run_s_client(port_b, "-showcerts", "-servername", "localhost"),
            leaf_only_a=run_s_client(port_a, "-tls1_2"),
            stdout_only_a=run_s_client(port_a, "-showcerts", "-tls1_2", with_stderr=False),
        )
    finally:
        for server in (server_a, server_b):
            server.kill()
            server.wait()
            server.stdout.close()


def vary_capture(template: bytes, number: int) -> bytes:
    """Another capture like `template`: its own start time and session id, as a real rerun."""
    text = re.sub(rb"Start Time: \d+", b"Start Time: %d" % (1_700_000_000 + number), template)
    return re.sub(rb"Session-ID: [0-9A-F]*", b"Session-ID: %064X" % number, text)
