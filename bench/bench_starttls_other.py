"""Throughput of STARTTLS probes against real Debian servers: certcensus vs openssl s_client.

For each server: `certcensus scan --count 300 --rate 0` (probes / wall time of the whole command,
interpreter start included, median of 3) and a sequential loop of 20 `openssl s_client -starttls`
(probes / wall time), where s_client knows the protocol. Writes its rows of the "STARTTLS
throughput per protocol" section of bench/RESULTS.md (see starttls_report.py;
bench_starttls_mail.py writes the other rows).

Run as root (CI) or as a user that may start the servers: `.venv/bin/python bench/bench_starttls_other.py`.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.realservers import other_fixtures as servers  # noqa: E402

from certcensus.lab.pki import PKI  # noqa: E402
from starttls_report import Row, load_average, run_line, update_section  # noqa: E402

CERTCENSUS = ROOT / ".venv" / "bin" / "certcensus"
PROBES = 300
S_CLIENT_PROBES = 20
RUNS = 3


def certcensus_rate(port: int, starttls: str, extra: list[str], scratch: Path) -> float:
    rates = []
    for run in range(RUNS):
        db = scratch / f"bench-{port}-{run}.sqlite"
        command = [
            str(CERTCENSUS),
            "scan",
            f"127.0.0.1:{port}",
            "--starttls",
            starttls,
            "--count",
            str(PROBES),
            "--rate",
            "0",
            "--db",
            str(db),
            "--json",
            "-q",
            *extra,
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or f'"ok": {PROBES}' not in done.stdout:
            raise RuntimeError(
                f"certcensus scan failed on {starttls}: {done.stderr}{done.stdout[:2000]}"
            )
        rates.append(PROBES / elapsed)
    return statistics.median(rates)


def s_client_rate(port: int, starttls: str, extra: list[str]) -> float:
    command = [
        "openssl",
        "s_client",
        "-starttls",
        starttls,
        "-connect",
        f"127.0.0.1:{port}",
        *extra,
    ]
    started = time.perf_counter()
    for _ in range(S_CLIENT_PROBES):
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if "BEGIN CERTIFICATE" not in done.stdout:
            raise RuntimeError(
                f"s_client -starttls {starttls} got no certificate: {done.stdout[-800:]}"
            )
    return S_CLIENT_PROBES / (time.perf_counter() - started)


def main() -> None:
    pki = PKI()
    chain = servers.served_chain_for(pki, "ec256")
    rsa_chain = servers.served_chain_for(pki, "rsa2048")
    xmpp = ["--xmpp-domain", servers.XMPP_DOMAIN]
    s_client_xmpp = ["-xmpphost", servers.XMPP_DOMAIN]
    rows = []
    began, load_before = time.monotonic(), load_average()
    with tempfile.TemporaryDirectory() as scratch_name, contextlib.ExitStack() as stack:
        scratch = Path(scratch_name)
        slapd = stack.enter_context(servers.slapd(scratch / "slapd", chain))
        prosody = stack.enter_context(servers.prosody(scratch / "prosody", chain))
        pg = stack.enter_context(
            servers.postgres(stack.enter_context(servers.postgres_clusters(chain)), ssl=True)
        )
        maria = stack.enter_context(
            servers.mariadb(stack.enter_context(servers.mariadb_datadirs(chain)), ssl=True)
        )
        # s_client -starttls irc reads one buffer and looks for 670 in its first line only, so it
        # fails when a hostname-lookup NOTICE comes first: lookups off for both clients here.
        irc = stack.enter_context(servers.inspircd(scratch / "irc", chain, resolve_hostnames=False))
        rdp = stack.enter_context(servers.xrdp(scratch / "xrdp", rsa_chain))
        plan = [
            ("ldap", "OpenLDAP slapd 2.5", slapd.port, [], []),
            ("xmpp", "Prosody 0.12 (c2s)", prosody.port, xmpp, s_client_xmpp),
            ("xmpp-server", "Prosody 0.12 (s2s)", prosody.s2s_port, xmpp, s_client_xmpp),
            ("postgres", "PostgreSQL 15", pg.port, [], []),
            ("mysql", "MariaDB 10.11", maria.port, [], []),
            ("irc", "InspIRCd 3.15", irc.port, [], []),
            # xrdp listens with a backlog of 2: more than 2 probes at a time get dropped SYNs.
            ("rdp", "xrdp 0.9.21 (--concurrency 2)", rdp.port, ["--concurrency", "2"], None),
        ]
        for protocol, server, port, extra, s_client_extra in plan:
            ours = certcensus_rate(port, protocol, extra, scratch)
            theirs = (
                s_client_rate(port, protocol, s_client_extra)
                if s_client_extra is not None
                else None
            )
            rows.append(Row(protocol, server, ours, theirs, "(no -starttls rdp)"))
            print(protocol, server, f"{ours:.0f}", theirs and f"{theirs:.1f}", flush=True)
    run = run_line("other", took=time.monotonic() - began, load_before=load_before,
                   load_after=load_average(), leaf="ECDSA P-256 (xrdp: RSA-2048)")  # fmt: skip
    update_section("other", rows, run)
    print("wrote the other rows of the STARTTLS section of bench/RESULTS.md")


if __name__ == "__main__":
    main()
