"""Benchmark: what backend attribution costs in probes/s (issue 13: under 10%).

Against the probe benchmark's nginx (bench/nginx.py, HTTPS, resumption off, ECDSA P-256 leaf +
intermediate) and an nginx mail proxy (Debian's libnginx-mod-mail: imaps and smtps, which greet
at once after the handshake), one `certcensus scan` command per run, repetitions interleaved:

  HTTPS    baseline   the code before attribution, `scan 127.0.0.1:PORT --starttls none`
           attributed this code, same command (ServerHello fingerprint, identity columns)
           http-head  this code, `scan https://127.0.0.1:PORT --http-head` (HEAD / after TLS)
  imaps    baseline   the code before attribution, `scan tls://127.0.0.1:PORT` (no greeting read)
           greeting   this code, `scan imaps://127.0.0.1:PORT` (reads the greeting after TLS)
  smtps    the same pair on the smtps port

"The code before attribution" is `git archive` of --baseline (default: the parent of the commit
that added census/backends.py), run with the same interpreter and dependencies. Each run is
`--rate 0 --duration Ns --concurrency 64 --json -q`; the rate is `ok` probes over the command's
wall time, a run whose JSON does not have ok == probes counts as failed. Medians, ratios to the
baseline of the same server, client CPU per probe (RUSAGE_CHILDREN less a near-empty run's),
and nginx's CPU per probe are written to the `attribution` section of RESULTS.md.

    .venv/bin/python bench/bench_attribution.py [--repeat 5] [--seconds 3] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from certcensus.lab.pki import PKI, write_server_files  # noqa: E402
from nginx import NGINX, NginxServer, free_loopback_port  # noqa: E402
from results import write_between  # noqa: E402

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
START, END = "<!-- attribution:start -->", "<!-- attribution:end -->"
MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"
TARGET_RATIO = 0.90  # "attribution must cost under 10% in probes/s"

MAIL_CONFIG = """\
{user_line}
load_module {module};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
mail {{
    auth_http 127.0.0.1:9/never-asked;  # probes leave after the greeting, before any login
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    ssl_session_cache off;
    ssl_session_tickets off;
    server {{ listen {host}:{port} ssl backlog=4096; protocol imap; }}
    server {{ listen {host}:{smtps_port} ssl backlog=4096; protocol smtp;
             server_name mx-bench.test; smtp_auth none; }}
}}
"""


class NginxMail(NginxServer):
    """nginx's mail proxy: imaps on `port`, smtps on `smtps_port`, greeting as soon as TLS is up."""

    smtps_port = 0

    def config_text(self) -> str:
        import getpass

        self.smtps_port = self.smtps_port or free_loopback_port()
        user_line = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        return MAIL_CONFIG.format(
            user_line=user_line, module=MAIL_MODULE, prefix=self.prefix, host=self.host,
            port=self.port, smtps_port=self.smtps_port, certificate=self.certificate, key=self.key,
        )  # fmt: skip


@dataclass
class Run:
    rate: float
    ok: int
    failed: int
    seconds: float
    client_cpu: float
    server_cpu: float
    detail: str = ""
    in_run_rate: float = 0.0  # probes/s between the first and the last probe's start


@dataclass
class Contender:
    label: str
    server: str  # "https", "imaps", "smtps"
    baseline: bool
    target: str  # the scan target, {port} filled in
    extra: tuple[str, ...] = ()
    runs: list[Run] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(run.rate for run in self.runs) if self.runs else 0.0

    def in_run_median(self) -> float:
        return statistics.median(run.in_run_rate for run in self.runs) if self.runs else 0.0

    def cpu_ms(self, fixed: float) -> float:
        per = [1000 * (r.client_cpu - fixed) / max(r.ok, 1) for r in self.runs]
        return statistics.median(per) if per else 0.0

    def system_ms(self, fixed: float) -> float:
        """Client and nginx CPU per probe: on a CPU-bound box, probes/s is cores / this."""
        per = [1000 * (r.client_cpu - fixed + r.server_cpu) / max(r.ok, 1) for r in self.runs]
        return statistics.median(per) if per else 0.0

    def server_ms(self) -> float:
        per = [1000 * r.server_cpu / max(r.ok, 1) for r in self.runs]
        return statistics.median(per) if per else 0.0


def baseline_revision(given: str | None) -> str:
    if given:
        return subprocess.check_output(
            ["git", "rev-parse", given], cwd=REPOSITORY, text=True
        ).strip()
    added = subprocess.check_output(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "src/certcensus/census/backends.py"],
        cwd=REPOSITORY, text=True,
    ).split()  # fmt: skip
    if not added:
        raise SystemExit("bench_attribution: census/backends.py is in no commit; pass --baseline")
    return subprocess.check_output(
        ["git", "rev-parse", added[-1] + "^"], cwd=REPOSITORY, text=True
    ).strip()


def extract(revision: str, directory: Path) -> Path:
    archive = directory / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", revision, "src"], cwd=REPOSITORY, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(directory / "baseline", filter="data")
    return directory / "baseline" / "src"


def run_scan(contender: Contender, port: int, seconds: float, database: Path,
             baseline_src: Path, server: NginxServer) -> Run:  # fmt: skip
    environment = dict(os.environ)
    if contender.baseline:
        environment["PYTHONPATH"] = str(baseline_src)  # ahead of the editable install
    command = [
        sys.executable, "-m", "certcensus", "scan", contender.target.format(port=port),
        *contender.extra, "--rate", "0", "--duration", f"{seconds}s", "--concurrency", "64",
        "--db", str(database), "--json", "-q",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server.cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - server_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    try:
        target = json.loads(done.stdout)["targets"][0]
    except (ValueError, KeyError, IndexError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Run(0.0, 0, 1, wall, client_cpu, server_cpu, f"exit {done.returncode}: {tail}")
    ok, probes = target["ok"], target["probes"]
    detail = "" if ok == probes else f"errors {target['errors']}"
    first, last = (
        dt.datetime.fromisoformat(target[key].replace("Z", "+00:00")).timestamp()
        for key in ("first_probe", "last_probe")
    )
    in_run = (probes - 1) / (last - first) if last > first and ok == probes else 0.0
    return Run(ok / wall if ok == probes else 0.0, ok, probes - ok, wall, client_cpu, server_cpu,
               detail, in_run)  # fmt: skip


def contenders() -> list[Contender]:
    return [
        Contender("baseline", "https", True, "127.0.0.1:{port}", ("--starttls", "none")),
        Contender("attributed", "https", False, "127.0.0.1:{port}", ("--starttls", "none")),
        Contender("--http-head", "https", False, "https://127.0.0.1:{port}", ("--http-head",)),
        Contender("baseline (tls://)", "imaps", True, "tls://127.0.0.1:{port}"),
        Contender("greeting read", "imaps", False, "imaps://127.0.0.1:{port}"),
        Contender("baseline (tls://)", "smtps", True, "tls://127.0.0.1:{port}"),
        Contender("greeting read", "smtps", False, "smtps://127.0.0.1:{port}"),
    ]


def _memory_handshake(client_context, server_context, hello_sink=None) -> None:
    """One TLS handshake between two SSLObjects in this process (no sockets)."""
    to_client, to_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(client_in, client_out, server_hostname="bench.example")
    server = server_context.wrap_bio(to_server, to_client, server_side=True)
    for _ in range(8):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        to_server.write(client_out.read())
        flight = to_client.read()
        if hello_sink is not None and flight:
            hello_sink.append(flight)
        client_in.write(flight)


def parser_costs(certificate: Path, key: Path, rounds: int = 5) -> list[str]:
    """CPU per call of each attribution step, in this process, beside a whole handshake (client
    and server sides together) made the same way: figures other work on the machine cannot skew
    much, since each is CPU time of one process, rounds interleaved."""
    from certcensus.probe.identity.after_tls import GreetingAfterTLS
    from certcensus.probe.identity.http_head import HeadRequest
    from certcensus.probe.identity.server_hello import ServerHelloReader
    from certcensus.probe.profiles import client_context

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    client = client_context("default")
    flights: list[bytes] = []
    _memory_handshake(client, server_context, flights)
    server_hello = flights[0]
    check = ServerHelloReader()
    check.receive_data(server_hello)
    assert check.fingerprint, check.problem  # the real ServerHello parses
    answer = (b"HTTP/1.1 204 No Content\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 "
              b"10:00:00 GMT\r\nConnection: close\r\nX-Served-By: web-a\r\n\r\n")  # fmt: skip
    greeting = (
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE] backend-a ready.\r\n"
    )

    def hello() -> None:
        ServerHelloReader().receive_data(server_hello)

    def head() -> None:
        request = HeadRequest("bench.example", 443)
        request.initiate()
        request.receive_data(answer)

    def greet() -> None:
        GreetingAfterTLS("imaps").receive_data(greeting)

    steps = {
        "TLS handshake, client and server (for scale)": (lambda: _memory_handshake(client, server_context), 200),
        "ServerHello fingerprint (every probe)": (hello, 5000),
        "implicit-TLS greeting (imaps)": (greet, 5000),
        "--http-head request and response head": (head, 5000),
    }  # fmt: skip
    costs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, (step, count) in steps.items():
            began = time.process_time()
            for _ in range(count):
                step()
            costs[name].append(1e6 * (time.process_time() - began) / count)
    lines = ["| step | CPU us per probe (median of rounds) |", "| --- | --- |"]
    lines += [f"| {name} | {statistics.median(values):.1f} |" for name, values in costs.items()]
    return lines


# In-process pairs: (label, server, target, --http-head), each against the first of its server.
PAIRS = [
    ("https://", "https", "https://127.0.0.1:{port}", False),
    ("https:// --http-head", "https", "https://127.0.0.1:{port}", True),
    ("tls:// (no greeting read)", "imaps", "tls://127.0.0.1:{port}", False),
    ("imaps:// (greeting read)", "imaps", "imaps://127.0.0.1:{port}", False),
    ("tls:// (no greeting read)", "smtps", "tls://127.0.0.1:{port}", False),
    ("smtps:// (greeting read)", "smtps", "smtps://127.0.0.1:{port}", False),
]


def in_process_pairs(ports, servers, rounds: int, batch: int = 300) -> list[str]:
    """This code only, one process, batches of `batch` probes (64 in flight) alternating between
    the two members of each pair: client CPU (process_time) and nginx CPU per probe. No start-up,
    no census, no store, and each pair's batches a second apart: the tightest pairing a shared
    machine allows."""
    import asyncio

    from certcensus.probe.plan import ProbeOptions, build_plan
    from certcensus.probe.prober import probe_once
    from certcensus.probe.targets import parse_target

    def plan_for(target_text: str, http_head: bool):
        target = parse_target(target_text)
        plan = build_plan([target], ProbeOptions(http_head=http_head))
        return target, plan.settings_for(target, "default")

    async def batch_of(target, settings) -> int:
        gate = asyncio.Semaphore(64)

        async def one():
            async with gate:
                return await probe_once(target, "127.0.0.1", settings)

        observations = await asyncio.gather(*(one() for _ in range(batch)))
        return sum(1 for o in observations if str(o.outcome) == "ok")

    measured: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(PAIRS))}
    plans = {
        i: plan_for(text.format(port=ports[server]), head)
        for i, (_, server, text, head) in enumerate(PAIRS)
    }
    for _ in range(rounds):
        for i, (_, server, _, _) in enumerate(PAIRS):
            client_before, server_before = time.process_time(), servers[server].cpu_seconds()
            ok = asyncio.run(batch_of(*plans[i]))
            client = time.process_time() - client_before
            nginx = servers[server].cpu_seconds() - server_before
            if ok == batch:
                measured[i].append((1000 * client / ok, 1000 * nginx / ok))
    lines = [
        "| server | this code, in one process | client CPU ms/probe | nginx CPU ms/probe | "
        "CPU-bound rate vs the first of its server |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, (label, server, _, _) in enumerate(PAIRS):
        first = i - i % 2
        client = statistics.median(c for c, _ in measured[i]) if measured[i] else 0.0
        nginx = statistics.median(n for _, n in measured[i]) if measured[i] else 0.0
        base = (
            sum(statistics.median(x[k] for x in measured[first]) for k in (0, 1))
            if measured[first]
            else 0.0
        )
        ratio = "" if i == first or not client else f"{base / (client + nginx):.3f}"
        lines.append(f"| {server} | {label} | {client:.3f} | {nginx:.3f} | {ratio} |")
    return lines


def render(all_contenders, fixed, revision, settings, machine, elapsed, checks, costs,
           pairs) -> str:  # fmt: skip
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        START,
        "## Backend attribution cost (`bench/bench_attribution.py`)",
        "",
        f"Run {now}; {elapsed:.0f} s in all. Medians of {settings.repeat} interleaved repetitions "
        f"of {settings.seconds:g} s runs, `--concurrency 64 --rate 0`, one `certcensus scan` "
        "command per run (start-up and census included in the rate).",
        "",
        f"- Machine: {machine}. **A shared machine**: other helpers' tests ran at the same time; "
        "compare the rows of one server with each other (same run, interleaved), not with other "
        "sections.",
        f"- Baseline: the code before attribution (`git archive {revision[:12]}`), same "
        "interpreter and dependencies. Servers: nginx (HTTPS, `return 204`) and nginx's mail proxy "
        "(imaps, smtps: greets at once after the handshake), ECDSA P-256 leaf + intermediate, "
        "resumption off, one worker each, on the same 2 cores as the client.",
        "",
        '"in-run" is probes/s between the first and the last probe\'s start (no interpreter '
        'start-up, no census): the cost per probe, and what the verdicts below use; "wall" is '
        '`ok` over the whole command. "CPU-bound rate" is the baseline\'s (client + nginx) CPU '
        "per probe over the contender's: the probes/s ratio on a box whose cores are the limit, "
        "the least load-sensitive of the three.",
        "",
        "| server | contender | in-run probes/s | vs baseline | wall probes/s (min-max) | vs baseline | client CPU ms/probe | nginx CPU ms/probe | CPU-bound rate vs baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for server in ("https", "imaps", "smtps"):
        group = [c for c in all_contenders if c.server == server]
        base = next(c for c in group if c.baseline)
        for c in group:
            rates = [r.rate for r in c.runs]
            wall = "" if c.baseline or not base.median() else f"{c.median() / base.median():.3f}"
            in_run = (
                "" if c.baseline or not base.in_run_median()
                else f"{c.in_run_median() / base.in_run_median():.3f}"
            )  # fmt: skip
            system = c.system_ms(fixed[c.baseline])
            cpu_bound = "" if c.baseline or not system else (
                f"{base.system_ms(fixed[True]) / system:.3f}"
            )  # fmt: skip
            lines.append(
                f"| {server} | {c.label} | {c.in_run_median():.0f} | {in_run} | {c.median():.0f} "
                f"({min(rates):.0f}-{max(rates):.0f}) | {wall} | {c.cpu_ms(fixed[c.baseline]):.2f} "
                f"| {c.server_ms():.2f} | {cpu_bound} |"
            )
    lines += [
        "", *checks, "",
        "The parsers alone, in one process (`time.process_time`, 5 interleaved rounds; the "
        "handshake is client and server in one process over memory BIOs, the same ECDSA "
        "certificates), which other work on the machine skews least:",
        "", *costs, "",
        f"This code in one process (no interpreter start-up, store or census), batches of 300 "
        f"probes alternating within each pair, {settings.repeat} rounds, medians:",
        "", *pairs, "", END,
    ]  # fmt: skip
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    write_between(path, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--baseline", default=None, help="git revision without attribution")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    settings = parser.parse_args()
    for path in (NGINX, MAIL_MODULE):
        if not Path(path).exists():
            raise SystemExit(f"bench_attribution: {path} missing (nginx-light, libnginx-mod-mail)")
    revision = baseline_revision(settings.baseline)
    began = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="certcensus-bench-attribution-") as scratch_name:
        scratch = Path(scratch_name)
        baseline_src = extract(revision, scratch)
        pki = PKI()
        root = pki.root("Bench Root", key_type="ec256")
        intermediate = pki.intermediate("Bench Intermediate", root, key_type="ec256")
        leaf = pki.leaf(["bench.example", "127.0.0.1"], intermediate, key_type="ec256")
        certificate, key = write_server_files(scratch, leaf, [intermediate], "ec256")
        group = contenders()
        with NginxServer(certificate, key) as https, NginxMail(certificate, key) as mail:
            ports = {"https": https.port, "imaps": mail.port, "smtps": mail.smtps_port}
            servers = {"https": https, "imaps": mail, "smtps": mail}
            # Start-up and census CPU of a near-empty run, per code version, is subtracted.
            fixed = {}
            for baseline in (True, False):
                probe = Contender(
                    "start-up", "https", baseline, "127.0.0.1:{port}", ("--starttls", "none")
                )
                warm = run_scan(
                    probe, ports["https"], 0.01, scratch / "w.sqlite", baseline_src, https
                )
                fixed[baseline] = warm.client_cpu
            for attempt in range(1, settings.repeat + 1):
                for c in group:
                    run = run_scan(c, ports[c.server], settings.seconds, scratch / "r.sqlite",
                                   baseline_src, servers[c.server])  # fmt: skip
                    c.runs.append(run)
                    print(f"#{attempt} {c.server:5} {c.label:18} {run.rate:7.0f}/s wall, "
                          f"{run.in_run_rate:7.0f}/s in-run, ok {run.ok} {run.detail}")  # fmt: skip
            pairs = in_process_pairs(ports, servers, settings.repeat)
        costs = parser_costs(certificate, key)  # while the certificate files still exist
    load_after = os.getloadavg()
    checks = []
    for server in ("https", "imaps", "smtps"):
        members = [c for c in group if c.server == server]
        base = next(c for c in members if c.baseline)
        for c in members:
            if not c.baseline and base.in_run_median() and base.median():
                ratio = c.in_run_median() / base.in_run_median()
                verdict = "**met**" if ratio >= TARGET_RATIO else "**NOT met**"
                checks.append(f"- {server}, {c.label}: {ratio:.1%} of the baseline's in-run "
                              f"probes/s ({c.median() / base.median():.1%} wall): under 10% cost "
                              f"{verdict}.")  # fmt: skip
    failures = [f"{c.server} {c.label}: {r.detail}" for c in group for r in c.runs if r.failed]
    checks.append(
        "- Failed runs: "
        + ("; ".join(failures) if failures else "none (every run had ok == probes).")
    )
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()} ({ssl.OPENSSL_VERSION}); "
        f"load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end"
    )
    section = render(group, fixed, revision, settings, machine, time.monotonic() - began, checks,
                     costs, pairs)  # fmt: skip
    print(section)
    if not settings.no_record:
        write_section(HERE / "RESULTS.md", section)


if __name__ == "__main__":
    main()
