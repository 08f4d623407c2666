"""Benchmark: `certcensus ingest --baseline` over 100,000 s_client captures vs `grep -rc BEGIN`.

Generates N `openssl s_client -showcerts`-style files (~4 KB each, a few distinct chains built
with lab/pki.py, each file with its own start time and session id) in a temporary folder, then
times, REPEAT times each, the ingest (fresh database each time) and a plain grep pass over the
same files. Prints the medians and their ratio and appends them to bench/RESULTS.md.

    .venv/bin/python bench/bench_ingest.py [--files 100000] [--repeat 3] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certcensus.lab.pki import PKI

HERE = Path(__file__).resolve().parent
TARGET_SECONDS = 20.0
LOAD_BEFORE = 0.0

# The shape of a real capture (OpenSSL 3.0, `s_client -showcerts ... 2>&1`), certificates cut out.
TEMPLATE_HEAD = "depth=2 O = certcensus lab, CN = Bench Root\nverify return:1\nCONNECTED(00000003)\n---\nCertificate chain\n"
TEMPLATE_TAIL = """---
Server certificate
subject=O = certcensus lab, CN = bench.example
issuer=O = certcensus lab, CN = {issuer}
---
No client certificate CA names sent
Peer signing digest: SHA256
Peer signature type: RSA-PSS
Server Temp Key: X25519, 253 bits
---
SSL handshake has read 3163 bytes and written 403 bytes
Verification: OK
---
New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384
Server public key is 2048 bit
Secure Renegotiation IS supported
Compression: NONE
Expansion: NONE
No ALPN negotiated
SSL-Session:
    Protocol  : TLSv1.2
    Cipher    : ECDHE-RSA-AES256-GCM-SHA384
    Session-ID: {session:064X}
    Session-ID-ctx:
    Master-Key: {session:096X}
    PSK identity: None
    PSK identity hint: None
    SRP username: None
    Start Time: {start}
    Timeout   : 7200 (sec)
    Verify return code: 0 (ok)
    Extended master secret: yes
---
DONE
"""


def build_chains() -> list[list]:
    pki = PKI()
    root = pki.root("Bench Root", key_type="ec256")
    other_root = pki.root("Bench Root 2", key_type="ec256")
    ca = pki.intermediate("Bench CA-1", root, key_type="ec256")
    ca2 = pki.intermediate("Bench CA-2", other_root, key_type="ec256")
    cross = pki.cross_sign(ca, other_root)
    leaf = pki.leaf("bench.example", ca)
    leaf2 = pki.leaf("bench.example", ca2)
    return [[leaf, ca, root], [leaf, cross, other_root], [leaf2, ca2, other_root]]


def capture_text(chain, number: int) -> str:
    parts = [TEMPLATE_HEAD]
    for depth, issued in enumerate(chain):
        certificate = issued.certificate
        parts.append(f" {depth} s:{certificate.subject.rfc4514_string()}\n"
                     f"   i:{certificate.issuer.rfc4514_string()}\n"
                     "   a:PKEY: rsaEncryption, 2048 (bit); sigalg: RSA-SHA256\n")  # fmt: skip
        parts.append(issued.pem.decode())
    issuer = chain[1].certificate.subject.rfc4514_string()
    parts.append(
        TEMPLATE_TAIL.format(issuer=issuer, session=number + 1, start=1_700_000_000 + number)
    )
    return "".join(parts)


def generate(directory: Path, files: int, chains) -> int:
    """Mostly chain 0, some of chain 1 and 2 (as a pool with two odd backends); returns bytes."""
    total = 0
    per_folder = 10_000
    for number in range(files):
        folder = directory / f"batch-{number // per_folder:02d}"
        if number % per_folder == 0:
            folder.mkdir()
        chain = chains[1] if number % 37 == 0 else chains[2] if number % 101 == 0 else chains[0]
        data = capture_text(chain, number).encode()
        (folder / f"capture-{number:06d}.txt").write_bytes(data)
        total += len(data)
    return total


def ingest_command() -> list[str]:
    probe = subprocess.run(
        [sys.executable, "-m", "certcensus", "ingest", "--help"], capture_output=True
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "certcensus", "ingest"]
    # Until `ingest` is registered on the main group, call the click command directly.
    return [sys.executable, "-c", "from certcensus.cli.ingest import ingest; ingest()"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0,):
        raise SystemExit(
            f"{command[:4]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-record", action="store_true", help="do not append to bench/RESULTS.md"
    )
    options = parser.parse_args()
    global LOAD_BEFORE
    LOAD_BEFORE = os.getloadavg()[0]
    chains = build_chains()
    with tempfile.TemporaryDirectory(prefix="certcensus-bench-ingest-") as temporary:
        root = Path(temporary)
        captures = root / "captures"
        captures.mkdir()
        started = time.perf_counter()
        size = generate(captures, options.files, chains)
        print(f"generated {options.files} files, {size / options.files / 1024:.1f} KB each, "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        baseline = root / "baseline.pem"
        baseline.write_bytes(b"".join(c.pem for c in chains[0]))
        command = ingest_command()
        grep_times, ingest_times = [], []
        for attempt in range(options.repeat):
            grep_times.append(timed(["grep", "-rc", "BEGIN", str(captures)]))
            database = root / f"bench-{attempt}.sqlite"
            ingest_times.append(timed([*command, str(captures), "--db", str(database), "--target",
                                       "bench.example:443", "--baseline", str(baseline)]))  # fmt: skip
            for leftover in root.glob(f"bench-{attempt}.sqlite*"):
                leftover.unlink()
            print(
                f"  run {attempt + 1}: grep {grep_times[-1]:.2f} s, ingest {ingest_times[-1]:.2f} s"
            )
    grep_median = statistics.median(grep_times)
    ingest_median = statistics.median(ingest_times)
    ratio = ingest_median / grep_median
    verdict = "meets" if ingest_median <= TARGET_SECONDS else "MISSES"
    print(f"median: ingest --baseline {ingest_median:.2f} s, grep -rc BEGIN {grep_median:.2f} s, "
          f"ratio {ratio:.1f}x; {verdict} the {TARGET_SECONDS:.0f} s target")  # fmt: skip
    if not options.no_record:
        record(options, size, grep_median, ingest_median, ratio, verdict)


INGEST_START, INGEST_END = "<!-- ingest:start -->", "<!-- ingest:end -->"


def record(options, size, grep_median, ingest_median, ratio, verdict) -> None:
    results = HERE / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    # Replace this benchmark's own section (the latest run counts), between its markers, and
    # leave the other benchmarks' sections (each between their own markers) alone.
    if INGEST_START in text and INGEST_END in text:
        before, rest = text.split(INGEST_START, 1)
        text, after = before.rstrip("\n") + "\n", rest.split(INGEST_END, 1)[1]
    else:  # a file from before the markers: drop the old section, up to the next one
        text = re.sub(r"\n## ingest: .*?(?=\n## |\n<!-- |\Z)", "", text, flags=re.DOTALL)
        after = ""
    text += (
        f"\n{INGEST_START}\n## ingest: {options.files:,} s_client -showcerts captures "
        f"({dt.date.today().isoformat()})\n\n"
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{size / options.files / 1024:.1f} KB per file, 3 distinct chains, median of {options.repeat}; "
        f"load average before the runs {LOAD_BEFORE:.1f} (the machine is shared).\n\n"
        "| command | median seconds |\n| --- | --- |\n"
        f"| `certcensus ingest DIR --baseline chain.pem` (fresh SQLite db) | {ingest_median:.2f} |\n"
        f"| `grep -rc BEGIN DIR > /dev/null` | {grep_median:.2f} |\n\n"
        f"Ratio ingest / grep: {ratio:.1f}x; {verdict} the {TARGET_SECONDS:.0f} s target. "
        "Run: `.venv/bin/python bench/bench_ingest.py`.\n"
        f"{INGEST_END}"
    )
    results.write_text(text + (after or "\n"))


if __name__ == "__main__":
    main()
