"""Benchmark: STARTTLS probes per second against real mail, news and FTP servers from Debian.

Starts Postfix (smtp), Dovecot (imap, pop3, sieve, lmtp), INN's nnrpd (nntp) and ProFTPD (ftp)
with the launchers the tests use (tests/realservers/mail_configs.py: loopback, free ports, a leaf
+ intermediate chain), and for each protocol measures:

  (a) `certcensus scan 127.0.0.1:PORT --starttls X --count 300 --rate 0 --json -q` in its own
      process: `ok` probes / wall time of the whole process (start-up, SQLite, census included),
      median of 3 runs, every run's JSON must have ok == probes;
  (b) a sequential shell loop of 20 `openssl s_client -starttls X -connect 127.0.0.1:PORT
      </dev/null`: runs that exited 0 / wall time.

Writes its rows of the "STARTTLS throughput per protocol" section of bench/RESULTS.md (see
starttls_report.py; bench_starttls_other.py writes the other rows). Run as root (the servers start as root and drop to their
own users):

    .venv/bin/python bench/bench_starttls_mail.py
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.realservers import mail_configs  # noqa: E402

from starttls_report import Row, load_average, run_line, update_section  # noqa: E402

CERTCENSUS = str(Path(sys.executable).with_name("certcensus"))
PROBES = 300
CERTCENSUS_RUNS = 3
S_CLIENT_RUNS = 20


def certcensus_rate(port: int, protocol: str, db: Path) -> float:
    rates = []
    for _ in range(CERTCENSUS_RUNS):
        start = time.monotonic()
        out = subprocess.run(
            [
                CERTCENSUS,
                "scan",
                f"127.0.0.1:{port}",
                "--starttls",
                protocol,
                "--count",
                str(PROBES),
                "--rate",
                "0",
                "--db",
                str(db),
                "--json",
                "-q",
            ],
            capture_output=True,
            text=True,
        ).stdout
        elapsed = time.monotonic() - start
        (target,) = json.loads(out)["targets"]
        if target["ok"] != target["probes"] or target["probes"] != PROBES:
            raise SystemExit(f"{protocol}: {target['errors']} {target['error_examples']}")
        rates.append(target["ok"] / elapsed)
    return statistics.median(rates)


def s_client_rate(port: int, protocol: str) -> float:
    loop = (
        f"ok=0; for i in $(seq {S_CLIENT_RUNS}); do openssl s_client -starttls {protocol} "
        f"-connect 127.0.0.1:{port} </dev/null >/dev/null 2>&1 && ok=$((ok+1)); done; echo $ok"
    )
    start = time.monotonic()
    ok = int(subprocess.run(["bash", "-c", loop], capture_output=True, text=True).stdout)
    elapsed = time.monotonic() - start
    if ok != S_CLIENT_RUNS:
        raise SystemExit(f"s_client -starttls {protocol}: only {ok}/{S_CLIENT_RUNS} succeeded")
    return ok / elapsed


def main() -> None:
    chain = mail_configs.make_server_chain()
    rows = []
    began = time.monotonic()
    load_before = load_average()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        postfix = stack.enter_context(mail_configs.running_postfix(chain))
        dovecot = stack.enter_context(mail_configs.running_dovecot(scratch / "dovecot", chain))
        nnrpd = stack.enter_context(mail_configs.running_nnrpd(chain))
        proftpd = stack.enter_context(mail_configs.running_proftpd(scratch / "proftpd", chain))
        targets = [
            ("smtp", "Postfix 3.7", postfix.ports["smtp"]),
            ("lmtp", "Dovecot 2.3 lmtp", dovecot.ports["lmtp"]),
            ("imap", "Dovecot 2.3", dovecot.ports["imap"]),
            ("pop3", "Dovecot 2.3", dovecot.ports["pop3"]),
            ("sieve", "Dovecot 2.3 Pigeonhole", dovecot.ports["sieve"]),
            ("nntp", "INN 2.7 nnrpd", nnrpd.ports["nntp"]),
            ("ftp", "ProFTPD 1.3.8 mod_tls", proftpd.ports["ftp"]),
        ]
        for protocol, server, port in targets:
            ours = certcensus_rate(port, protocol, scratch / f"{protocol}.sqlite")
            theirs = s_client_rate(port, protocol)
            rows.append(Row(protocol, server, ours, theirs))
            print(
                f"{protocol:6} {server:24} certcensus {ours:7.1f}/s  s_client {theirs:5.1f}/s",
                flush=True,
            )
    run = run_line("mail", took=time.monotonic() - began, load_before=load_before,
                   load_after=load_average(), leaf="RSA-2048")  # fmt: skip
    update_section("mail", rows, run)
    print("wrote the mail rows of the STARTTLS section of bench/RESULTS.md")


if __name__ == "__main__":
    main()
