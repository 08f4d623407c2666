"""Ctrl-C and SIGTERM, as a user sends them to a real `certcensus scan`: honoured while probes
hang, every probe in flight recorded as `interrupted`, the census printed, exit 130 or 143, no
traceback; a second Ctrl-C quits at once with the store consistent. Synchronised on what the
server and the scan report (connections accepted, lines printed, rows stored), never on sleeps.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from certcensus.lab.pool import running_pool
from certcensus.store import open_store

from . import badservers

# Long enough that a probe still running when the test ends would show: nothing here may wait it.
HUNG_TIMEOUT = "60"
# Limit on waiting for anything the test expects; never reached when the code is right.
PATIENCE = 30


@contextlib.contextmanager
def hanging_server():
    """Accepts connections and never answers; yields (port, queue of accepted connections)."""
    accepted: queue.Queue = queue.Queue()

    def handler(connection: socket.socket) -> None:
        accepted.put(connection)
        badservers.silent(connection)

    with badservers.serving(handler) as port:
        yield port, accepted


def _wait_for_connections(accepted: queue.Queue, count: int) -> None:
    for _ in range(count):
        accepted.get(timeout=PATIENCE)


def _scan(db, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "certcensus", "scan", *args, "--db", str(db), "--json", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_clean(err: str) -> None:
    assert "Traceback" not in err
    assert "never retrieved" not in err
    assert "Task was destroyed" not in err


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_every_probe_is_in_flight_is_honoured(db, signum, status):
    # Before: the drain of in-flight probes ignored the stop, and the scan ran on until the
    # probes' timeout (60 s here); two SIGINTs and a SIGTERM were all ignored.
    with hanging_server() as (port, accepted):
        scan = _scan(db, f"127.0.0.1:{port}", "--count", "5", "--rate", "0",
                     "--timeout", HUNG_TIMEOUT)  # fmt: skip
        _wait_for_connections(accepted, 5)  # all five probes in flight, the budget spent
        scan.send_signal(signum)
        out, err = scan.communicate(timeout=PATIENCE)
    assert scan.returncode == status, err
    _assert_clean(err)
    name = signal.Signals(signum).name
    assert f"interrupted ({name}); 5 probe(s) in flight recorded as interrupted" in err
    (target,) = json.loads(out)["targets"]
    assert (target["probes"], target["ok"], target["interrupted"]) == (5, 0, 5)
    assert target["errors"] == {}  # interrupted is not a failure of the server
    assert target["protocol"] == "tls"
    with open_store(db, read_only=True) as store:
        stored = [(str(p.outcome), p.protocol) for p in store.probes(target["target"])]
    assert stored == [("interrupted", "tls")] * 5


def test_sigint_with_hung_probes_and_more_queued_mentions_every_one(db):
    with hanging_server() as (hung, accepted), hanging_server() as (queued, _):
        # One probe at a time: the first target's probe hangs, everything else waits for it.
        scan = _scan(db, f"127.0.0.1:{hung}", f"smtp://127.0.0.1:{queued}", "--count", "4",
                     "--concurrency", "1", "--rate", "0", "--timeout", HUNG_TIMEOUT)  # fmt: skip
        _wait_for_connections(accepted, 1)
        scan.send_signal(signal.SIGINT)
        out, err = scan.communicate(timeout=PATIENCE)
    assert scan.returncode == 130, err
    _assert_clean(err)
    assert "1 probe(s) in flight recorded as interrupted" in err
    assert f"planned probes not started: 3 of 127.0.0.1:{hung}, 4 of 127.0.0.1:{queued}" in err
    first, second = json.loads(out)["targets"]
    assert (first["probes"], first["interrupted"], first["protocol"]) == (1, 1, "tls")
    assert (second["probes"], second["protocol"]) == (0, "smtp")  # never probed, still named


def _wait_for_rows(db, rows: int) -> int:
    """Wait until the store holds `rows` committed probes (a polled condition); return them."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):  # the table does not exist yet
            stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM probes").fetchone()[0]
            if stored >= rows:
                return stored
        time.sleep(0.05)
    raise AssertionError(f"fewer than {rows} probes stored after {PATIENCE}s")


def test_a_second_ctrl_c_quits_at_once_and_the_store_keeps_what_was_committed(db, two_chains):
    with running_pool(two_chains.backends) as pool, hanging_server() as (hung, accepted):
        scan = _scan(db, f"127.0.0.1:{pool.port}", f"127.0.0.1:{hung}", "--rate", "40",
                     "--duration", "1h", "--timeout", HUNG_TIMEOUT)  # fmt: skip
        _wait_for_connections(accepted, 1)
        kept = _wait_for_rows(db, 20)
        scan.send_signal(signal.SIGINT)
        assert scan.stderr is not None
        line = scan.stderr.readline()  # the first Ctrl-C is acknowledged ...
        assert "SIGINT: stopping; probes in flight get 1s (Ctrl-C again" in line
        scan.send_signal(signal.SIGINT)  # ... and a second one does not wait for the grace
        out, err = scan.communicate(timeout=PATIENCE)
    assert scan.returncode == 130, err
    _assert_clean(err)
    assert "SIGINT again: quitting now" in err
    assert out == ""  # it quit before printing a census
    database = sqlite3.connect(db)
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert database.execute("SELECT COUNT(*) FROM probes").fetchone()[0] >= kept


def test_a_target_that_never_answers_exits_1_and_is_named_last(cli, db, two_chains):
    with running_pool(two_chains.backends) as pool, hanging_server() as (silent, _):
        result = cli("scan", f"127.0.0.1:{pool.port}", f"127.0.0.1:{silent}", "--count", 3,
                     "--rate", "0", "--timeout", "0.5", "--db", db)  # fmt: skip
    assert result.code == 1
    last = result.err.strip().splitlines()[-1]
    assert last == f"certcensus: error: no successful probe of 127.0.0.1:{silent} (timeout 3/3)"
    reported = cli("report", "--db", db)  # the same census from the store: the same status
    assert reported.code == 1 and reported.err.strip().splitlines()[-1] == last
