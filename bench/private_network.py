"""Run a benchmark in a network namespace of its own, where every 127.x.y.z is ours.

The many-targets and latency benchmarks listen on 0.0.0.0 so that 1,000 or 10,000 distinct
loopback addresses reach one server. In a fresh namespace (`unshare --net`, loopback brought up)
that wildcard is loopback only and nothing else on the machine can see or reach it. Needs root
(or unprivileged user namespaces) and util-linux's `unshare`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

MARK = "CERTCENSUS_BENCH_PRIVATE_NET"


def enter_private_network() -> None:
    """Re-run this script inside a new network namespace (once); return when inside it."""
    if os.environ.get(MARK) == "1":
        return
    if not shutil.which("unshare") or not shutil.which("ip"):
        raise SystemExit("needs unshare (util-linux) and ip (iproute2)")
    command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, *sys.argv]  # fmt: skip
    raise SystemExit(subprocess.call(command, env={**os.environ, MARK: "1"}))


def loopback_addresses(count: int) -> list[str]:
    """`count` distinct addresses 127.0.0.1, 127.0.0.2, ... (skipping .0 and .255)."""
    addresses = []
    number = 0
    while len(addresses) < count:
        number += 1
        b, c, d = (number >> 16) & 255, (number >> 8) & 255, number & 255
        if d in (0, 255):
            continue
        addresses.append(f"127.{b}.{c}.{d}")
    return addresses
