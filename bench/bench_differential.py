"""The lenient verdict against `openssl verify` on 10,000 random chains (`make bench-differential`).

Each case comes from certcensus/lab/differential.py (random PKI, served chain, store, time, host);
`openssl verify -partial_chain -purpose sslserver -attime T [-verify_hostname H | -verify_ip A]`
and the lenient verdict judge it. Counted: agreement on trusted / untrusted, agreement on the
fault (OpenSSL's first error among the verdict's problems), exceptions, and every disagreement
by class (OpenSSL's error, the verdict's reason) with the features of its first case. The cases
run in --jobs processes (the RSA and ECDSA keys are generated once per process); results go to
bench/RESULTS.md between `<!-- differential:start -->` and `<!-- differential:end -->`.

    .venv/bin/python bench/bench_differential.py                 # 10,000 cases, 2 processes
    .venv/bin/python bench/bench_differential.py --cases 500 --no-record
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import multiprocessing
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from certcensus.lab.differential import random_case  # noqa: E402
from certcensus.lab.reference import reasons_agree, run_lenient, run_openssl  # noqa: E402
from results import write_between  # noqa: E402

NOW = dt.datetime(2031, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
TARGET = 0.995
START, END = "<!-- differential:start -->", "<!-- differential:end -->"


def judge(arguments: tuple[int, int]) -> dict:
    seed, index = arguments
    case = random_case(random.Random(seed * 1_000_003 + index), NOW)
    reference = run_openssl(case)
    try:
        lenient = run_lenient(case)
    except Exception:  # noqa: BLE001 - counted and shown: the benchmark's own finding
        return {"index": index, "exception": traceback.format_exc(), "features": case.features}
    return {
        "index": index,
        "features": case.features,
        "openssl": "OK" if reference.trusted else reference.error,
        "agree": reference.trusted == lenient.trusted,
        "reasons_agree": reasons_agree(reference, lenient),
        "lenient": "trusted" if lenient.trusted else str(lenient.reason),
        "detail": lenient.detail,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    options = parser.parse_args()
    if not shutil.which("openssl"):
        sys.exit("openssl is not installed")
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    started, cpu_started = time.monotonic(), os.times()
    with multiprocessing.Pool(options.jobs) as pool:
        results = pool.map(judge, [(options.seed, i) for i in range(options.cases)], chunksize=25)
    wall = time.monotonic() - started
    ended = os.times()
    cpu = (ended.children_user + ended.children_system) - (
        cpu_started.children_user + cpu_started.children_system
    )
    exceptions = [r for r in results if "exception" in r]
    judged = [r for r in results if "exception" not in r]
    agree = sum(r["agree"] for r in judged)
    reasons = sum(r["reasons_agree"] for r in judged)
    outcomes = collections.Counter(r["openssl"].split(" ", 1)[0] for r in judged)
    classes: collections.Counter = collections.Counter()
    examples: dict = {}
    for r in judged:
        if not r["reasons_agree"]:
            key = (r["openssl"], r["lenient"], "verdict" if not r["agree"] else "reason")
            classes[key] += 1
            examples.setdefault(key, r)
    features = collections.Counter(f for r in judged for f in r["features"])
    share = agree / options.cases
    print(f"{options.cases} cases, {wall:.0f} s wall, {cpu:.0f} s CPU; agreement {share:.2%} "
          f"({agree}), fault agreement {reasons / options.cases:.2%}, exceptions {len(exceptions)}")  # fmt: skip
    for (openssl, lenient, kind), count in classes.most_common():
        example = examples[(openssl, lenient, kind)]
        print(f"  {count} x {kind}: openssl {openssl!r} / lenient {lenient!r}, e.g. case "
              f"{example['index']} {example['features']}: {example['detail']}")  # fmt: skip
    for r in exceptions[:3]:
        print(r["exception"])
    if not options.no_record:
        record(options, version, wall, cpu, agree, reasons, exceptions, outcomes, classes,
               examples, features)  # fmt: skip


def record(options, version, wall, cpu, agree, reasons, exceptions, outcomes, classes, examples,
           features) -> None:  # fmt: skip
    n = options.cases
    lines = [
        START,
        f"## Lenient verdict vs `openssl verify` ({dt.date.today().isoformat()})",
        "",
        f"{n:,} random cases (`bench/bench_differential.py --seed {options.seed}`; generator "
        "`certcensus/lab/differential.py`), each judged by `openssl verify -partial_chain "
        "-purpose sslserver -attime T` (plus `-verify_hostname`/`-verify_ip` when the case has "
        f"a host) and by the lenient verdict. {version}; Python {platform.python_version()}; "
        f"{options.jobs} processes, {wall:.0f} s wall, {cpu:.0f} s CPU, on a shared 2-core "
        "machine (other helpers' tests ran at the same time).",
        "",
        "| measure | result |",
        "| --- | --- |",
        f"| agreement on trusted / untrusted | **{agree / n:.2%}** ({agree:,} of {n:,}; target "
        f"{TARGET:.1%}) |",
        f"| agreement on the fault (OpenSSL's first error among the verdict's problems) | "
        f"{reasons / n:.2%} ({reasons:,}) |",
        f"| exceptions | {len(exceptions)} |",
        "",
        "OpenSSL's outcomes over the cases (error number, `OK` = trusted): "
        + ", ".join(f"{k} {v:,}" for k, v in outcomes.most_common())
        + ".",
        "",
        "Features drawn (cases with each): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(features.items()))
        + ". Not drawn: the deliberate differences the README lists (paths over 10 "
        "certificates, auxiliary trust settings, same-subject store order, otherName-style "
        "constraints, explicit EC parameters, security levels).",
        "",
    ]
    if classes:
        lines += ["Disagreements, by class:", "", "| count | kind | openssl | lenient | first case |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for (openssl, lenient, kind), count in classes.most_common():
            example = examples[(openssl, lenient, kind)]
            lines.append(
                f"| {count} | {kind} | {openssl} | {lenient} | #{example['index']}: "
                f"{', '.join(example['features'])} |"
            )
    else:
        lines.append("Disagreements: none.")
    lines.append(END)
    write_between(HERE / "RESULTS.md", START, END, "\n".join(lines))


if __name__ == "__main__":
    main()
