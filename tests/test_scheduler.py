"""Scheduling: rate per address, every address of a name, Ctrl-C keeps what was made."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from certcensus.lab.pool import running_pool


def test_rate_spaces_probes_per_address(cli, db, two_chains):
    with running_pool(two_chains.backends) as pool:
        result = cli(
            "scan", f"127.0.0.1:{pool.port}", "--rate", "20", "--count", 12, "--db", db, "--json"
        )
    assert result.json["targets"][0]["ok"] == 12
    starts = [
        row[0]
        for row in sqlite3.connect(db).execute("SELECT started_at FROM probes ORDER BY started_at")
    ]
    # Paced at 20/s: 12 probes span at least 11 intervals (less a little timer slack), and no
    # two start closer than half an interval (a probe that starts late does not make the next
    # one start early by more than its own delay).
    assert starts[-1] - starts[0] >= 11 / 20 * 0.9
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.5 / 20


def test_duration_bounds_the_run(cli, db, two_chains):
    with running_pool(two_chains.backends) as pool:
        result = cli(
            "scan",
            f"127.0.0.1:{pool.port}",
            "--rate",
            "50",
            "--duration",
            "1s",
            "--db",
            db,
            "--json",
        )
    target = result.json["targets"][0]
    assert target["ok"] >= 10
    starts = [row[0] for row in sqlite3.connect(db).execute("SELECT started_at FROM probes")]
    assert max(starts) - min(starts) < 1.0


def test_source_ports_are_recorded_and_no_time_wait_is_left(cli, db, two_chains):
    with running_pool(two_chains.backends) as pool:
        cli("scan", f"127.0.0.1:{pool.port}", "--rate", "0", "--count", 50, "--db", db)
        server = f"127.0.0.1:{pool.port}"
    ports = {row[0] for row in sqlite3.connect(db).execute("SELECT source_port FROM probes")}
    assert len(ports) == 50 and None not in ports
    if shutil.which("ss"):
        listing = subprocess.run(
            ["ss", "-tan", "state", "time-wait"], capture_output=True, text=True
        ).stdout
        pairs = {
            tuple(line.split()[2:4]) for line in listing.splitlines()[1:] if len(line.split()) >= 4
        }
        lingering = [p for p in ports if (f"127.0.0.1:{p}", server) in pairs]
        assert not lingering  # our side closed with RST (SO_LINGER 0)


def _in_private_hosts(hosts_lines: str, command: list[str], tmp_path) -> list[str]:
    """Run `command` where /etc/hosts says `hosts_lines`: a bind mount in a mount namespace of
    its own, so the resolver under test is the system's own, reading its usual file."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to give the probe a private /etc/hosts")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + hosts_lines)
    script = f'mount --bind "{hosts}" /etc/hosts && exec "$@"'
    return [*_unshare_mounts(), "sh", "-c", script, "sh", *command]


def _unshare_mounts() -> list[str]:
    """`unshare` with a mount namespace whose bind mounts cannot reach this one.

    `unshare -m` makes every mount of the new namespace private, which needs / to be a mount
    point; in a chroot (and some containers) it is not, and unshare fails with "cannot change
    root filesystem propagation". There the namespace keeps the propagation it has
    (`--propagation unchanged`), which confines our bind mount only if no mount is shared.
    """
    mounts = [line.split() for line in open("/proc/self/mountinfo", encoding="utf-8")]
    if any(fields[4] == "/" for fields in mounts):
        return ["unshare", "-m"]
    # Optional fields (shared:N, master:N, ...) sit between the mount options and "-".
    shared = [f[4] for f in mounts if any(o.startswith("shared:") for o in f[6 : f.index("-")])]
    if shared:
        pytest.skip(f"/ is not a mount point and {shared[0]} is shared: a bind mount would leak")
    return ["unshare", "--propagation", "unchanged", "-m"]


def test_every_address_of_a_name_is_probed(tmp_path, db, two_chains):
    with running_pool([two_chains.old], host="127.0.0.5") as first:
        with running_pool([two_chains.new], host="127.0.0.6", port=first.port) as second:
            command = _in_private_hosts(
                "127.0.0.5 multi.test\n127.0.0.6 multi.test\n",
                [
                    sys.executable,
                    "-m",
                    "certcensus",
                    "scan",
                    f"multi.test:{first.port}",
                    "--starttls",
                    "none",
                    "--rate",
                    "0",
                    "--count",
                    "40",
                    "--db",
                    str(db),
                    "--json",
                    "-q",
                ],
                tmp_path,
            )
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
            served = (sum(first.served.values()), sum(second.served.values()))
    assert result.returncode == 0, result.stderr
    (target,) = json.loads(result.stdout)["targets"]
    assert target["ips"] == {"127.0.0.5": served[0], "127.0.0.6": served[1]}
    assert sum(served) == 40 and min(served) >= 10
    by_address = {next(iter(chain["ips"])): chain for chain in target["chains"]}
    assert set(by_address) == {"127.0.0.5", "127.0.0.6"}  # each address serves its own chain


@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_prints_the_census_so_far_and_keeps_every_probe(db, two_chains, workers):
    with running_pool(two_chains.backends) as pool:
        scan = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "certcensus",
                "scan",
                f"127.0.0.1:{pool.port}",
                "--rate",
                "40",
                "--duration",
                "1h",
                "--workers",
                workers,
                "--db",
                str(db),
                "--json",
                "-q",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_rows(db, 20)
        scan.send_signal(signal.SIGINT)
        out, err = scan.communicate(timeout=60)
    assert scan.returncode == 130, err  # 128 + SIGINT, as shells expect
    assert "interrupted (SIGINT)" in err
    (target,) = json.loads(out)["targets"]
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM probes").fetchone()[0]
    assert target["probes"] == stored >= 20


def _wait_for_rows(db, rows: int, limit: float = 60.0) -> None:
    """Wait until the store holds `rows` probes (a condition, polled; not a fixed sleep)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if sqlite3.connect(db).execute("SELECT COUNT(*) FROM probes").fetchone()[0] >= rows:
                return
        except sqlite3.OperationalError:
            pass  # the table does not exist yet
        time.sleep(0.05)
    raise AssertionError(f"fewer than {rows} probes after {limit}s")


def test_long_runs_re_resolve_and_probe_new_addresses(tmp_path, db, two_chains):
    with running_pool([two_chains.old], host="127.0.0.5") as first:
        with running_pool([two_chains.new], host="127.0.0.6", port=first.port):
            command = _in_private_hosts(
                "127.0.0.5 rotating.test\n",
                [
                    sys.executable,
                    "-m",
                    "certcensus",
                    "scan",
                    f"rotating.test:{first.port}",
                    "--starttls",
                    "none",
                    "--rate",
                    "20",
                    "--duration",
                    "4s",
                    "--resolve-every",
                    "1",
                    "--db",
                    str(db),
                    "--json",
                    "-q",
                ],
                tmp_path,
            )
            scan = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            _wait_for_rows(db, 5)
            # DNS rotates: the name now has a second address (same inode, so the mount sees it).
            with open(tmp_path / "hosts", "r+") as hosts:
                hosts.seek(0, 2)
                hosts.write("127.0.0.6 rotating.test\n")
            out, err = scan.communicate(timeout=60)
    assert scan.returncode == 0, err
    (target,) = json.loads(out)["targets"]
    assert set(target["ips"]) == {"127.0.0.5", "127.0.0.6"}


def test_spread_spaces_each_stratum_over_the_period(cli, db, two_chains):
    with running_pool(two_chains.backends) as pool:
        result = cli(
            "scan",
            f"127.0.0.1:{pool.port}",
            "--count",
            8,
            "--spread",
            "1s",
            "--rate",
            "0",
            "--db",
            db,
            "--json",
        )
    assert result.json["targets"][0]["ok"] == 8
    starts = sorted(row[0] for row in sqlite3.connect(db).execute("SELECT started_at FROM probes"))
    # 8 probes over 1 s: one every 1/8 s, so the last starts at least 7/8 s after the first.
    assert starts[-1] - starts[0] >= 7 / 8 * 0.9


def test_a_burst_of_unpaced_starts_is_spread_over_the_probe_duration():
    import random as _random

    from certcensus.probe.scheduler import SPACER_SLACK, _StartSpacer

    spacer = _StartSpacer(concurrency=100, rng=_random.Random(1))
    assert spacer.delay(0.0) == 0.0  # before any probe ended: the first wave goes at once
    spacer.finished(0.2)  # probes take 200 ms
    # 100 slots free at the same moment: their starts are spread, not simultaneous.
    delays = [spacer.delay(10.0) for _ in range(100)]
    assert delays[0] == 0.0 and delays == sorted(delays)
    spread = delays[-1]
    assert 0.5 * 0.2 * SPACER_SLACK < spread < 1.5 * 0.2 * SPACER_SLACK
    # Starts that come spread out already (slots freeing one by one) do not wait at all.
    later = [spacer.delay(20.0 + i * 0.01) for i in range(10)]
    assert later == [0.0] * 10
