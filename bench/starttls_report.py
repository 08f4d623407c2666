"""The "STARTTLS throughput per protocol" section of bench/RESULTS.md, shared by two scripts.

`bench_starttls_mail.py` (Postfix, Dovecot, INN, ProFTPD) and `bench_starttls_other.py` (slapd,
Prosody, PostgreSQL, MariaDB, InspIRCd, xrdp) each measure some protocols; both go in one table
between `<!-- starttls:start -->` and `<!-- starttls:end -->`. A script replaces only its own
rows (the last column names the script) and its own "run" line, and keeps the other script's
as they are, so either can be rerun alone. The rest of the section is rewritten from here.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from results import write_between

START = "<!-- starttls:start -->"
END = "<!-- starttls:end -->"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SCRIPTS = ("mail", "other")  # table order: bench_starttls_mail.py's rows first
TABLE_HEADER = [
    "| protocol | server | certcensus probes/s | s_client loop probes/s | ratio | measured |",
    "| --- | --- | ---: | ---: | ---: | --- |",
]
RUN_PREFIX = "- Run of `bench/bench_starttls_"


@dataclass(frozen=True)
class Row:
    protocol: str
    server: str
    certcensus: float  # probes / wall time of the command, median of the runs
    s_client: float | None  # None: s_client cannot speak this protocol
    missing_s_client: str = ""  # what to say instead, e.g. "(no -starttls rdp)"

    def line(self, date: str, script: str) -> str:
        if self.s_client is None:
            theirs, ratio = self.missing_s_client or "-", "-"
        else:
            theirs, ratio = f"{self.s_client:.1f}", f"{self.certcensus / self.s_client:.1f}x"
        return (f"| {self.protocol} | {self.server} | {self.certcensus:.0f} | {theirs} | {ratio} "
                f"| {date}, {script} |")  # fmt: skip


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def openssl_version() -> str:
    return subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()


def run_line(script: str, *, took: float, load_before: str, load_after: str, leaf: str) -> str:
    """The line saying when and how one script last ran."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{RUN_PREFIX}{script}.py`: {now}, {took:.0f} s; load average {load_before} at the "
            f"start, {load_after} at the end; leaf {leaf} + intermediate.")  # fmt: skip


def update_section(script: str, rows: list[Row], run: str, path: Path = RESULTS) -> None:
    """Replace `script`'s rows and run line in the section (creating it if need be)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    table, runs = _existing(text)
    date = dt.date.today().isoformat()
    table[script] = [row.line(date, script) for row in rows]
    runs[script] = run
    write_between(path, START, END, render(table, runs))


def _existing(text: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The table rows (by script, from their last column) and run lines now in the section."""
    table: dict[str, list[str]] = {script: [] for script in SCRIPTS}
    runs: dict[str, str] = {}
    if START not in text or END not in text:
        return table, runs
    section = text.split(START, 1)[1].split(END, 1)[0]
    for line in section.splitlines():
        if line.startswith(RUN_PREFIX):
            runs[line[len(RUN_PREFIX) :].split(".py", 1)[0]] = line
        elif line.startswith("| ") and line not in TABLE_HEADER:
            script = line.rstrip(" |").rsplit(",", 1)[-1].strip()
            table.setdefault(script, []).append(line)
    return table, runs


def render(table: dict[str, list[str]], runs: dict[str, str]) -> str:
    ordered = [*SCRIPTS, *(script for script in table if script not in SCRIPTS)]
    lines = [
        START,
        "## STARTTLS throughput per protocol (real servers)",
        "",
        "Real Debian servers on loopback, started by the launchers of the real-server tests "
        "(tests/realservers/: free ports, each presenting a leaf + intermediate chain built with "
        "certcensus.lab.pki). Machine: **2 shared cores**, the servers on the same 2 cores as the "
        f"client (other work ran at the same time); {openssl_version()}.",
        "",
        "- certcensus: `certcensus scan 127.0.0.1:PORT --starttls X --count 300 --rate 0 --json "
        "-q` (default concurrency 64 unless noted), `ok` probes / wall time of the whole command "
        "(interpreter start, SQLite and the census included), median of 3 runs; every run had "
        "`ok` == `probes`.",
        "- s_client loop: 20 sequential `openssl s_client -starttls X -connect 127.0.0.1:PORT "
        "</dev/null` (xmpp: with `-xmpphost`), successful runs / wall time.",
        "- Rerun (as root: the servers start as root and drop to their own users): "
        "`.venv/bin/python bench/bench_starttls_mail.py` (smtp, lmtp, imap, pop3, sieve, nntp, "
        "ftp) and `.venv/bin/python bench/bench_starttls_other.py` (ldap, xmpp, xmpp-server, "
        "postgres, mysql, irc, rdp). Each replaces its own rows (last column) and run line here.",
        *(runs[script] for script in ordered if script in runs),
        "",
        *TABLE_HEADER,
        *(line for script in ordered for line in table.get(script, [])),
        "",
        "- Why the rates differ so much between servers (not profiled; certcensus does the same "
        "work per probe everywhere, so each server's process model is the likely limit): Postfix "
        "reuses its smtpd processes and Dovecot its lmtp processes; Dovecot's login services "
        "start one process per connection (its default, secure mode; process_limit raised to "
        "500), nnrpd forks one child per connection, and ProFTPD forks one per session and takes "
        "about 0.1 s before its greeting. These are rates of client and server together on one "
        "small machine, not what certcensus could do against remote servers.",
        "- irc: InspIRCd with hostname lookups off. s_client -starttls irc gives up at the first "
        "line whose second word is not a numeric, so it fails when InspIRCd's \"*** Looking up "
        'your hostname" NOTICE comes first (the default); certcensus handles both '
        "(tests/realservers).",
        "- rdp: xrdp listens with a backlog of 2 (`listen(sck, 2)`); at the default concurrency "
        "of 64 about 8% of certcensus probes time out in the dialog phase, so it runs with "
        "--concurrency 2. s_client has no `-starttls rdp`.",
        END,
    ]
    return "\n".join(lines)
