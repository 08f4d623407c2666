"""The SQLite store loses nothing: a database that fails is one error and keeps its queue, a
read-only database (and directory) is still readable, and a --db URL this build cannot open is
a usage error, not a file of that name. (One bad row keeping its batch: test_store_contract.)"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from certcensus.model.errors import StoreError, UsageError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store


def observation(target="t.test:443", **extra) -> Observation:
    values = {
        "target": target,
        "host": target.rpartition(":")[0],
        "port": int(target.rpartition(":")[2]),
        "protocol": "tls",
        "address": "127.0.0.1",
        "started_at": time.time(),
        "outcome": Outcome.OK,
        "chain": (b"leaf", b"ca"),
        **extra,
    }
    return Observation(**values)


# -- a database that fails as a whole -------------------------------------------------------


def test_a_database_that_fails_as_a_whole_is_one_error_and_keeps_the_queue(db, tmp_path):
    with open_store(db) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, observation())
        store.flush()
        blocker = sqlite3.connect(db, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        store._db.execute("PRAGMA busy_timeout=50")
        store.add(run, observation(detail="queued"))
        with pytest.raises(StoreError, match="cannot write to database .*locked"):
            store.flush()
        blocker.rollback()
        store.flush()  # the queued observation was kept for this attempt
        assert store.rejected == []
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM probes").fetchone() == (2,)


# -- --db URLs -----------------------------------------------------------------------------------


def test_an_unsupported_database_url_is_a_usage_error_and_creates_nothing(cli, tmp_path):
    os.chdir(tmp_path)
    result = cli("report", "--db", "mysql://u@host/db")
    assert result.code == 2
    assert result.err.startswith("certcensus: error: --db 'mysql://u@host/db'")
    assert "cannot open mysql:// databases" in result.err
    assert "supported: a file path, sqlite://, postgresql://" in result.err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError):
        open_store("oracle://x/y")


def test_sqlite_urls_and_plain_paths_open_the_same_file(tmp_path):
    path = tmp_path / "census.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        store.add(store.start_run("scan", ["t.test:443"]), observation())
    with open_store(path, read_only=True) as store:
        assert store.targets() == ["t.test:443"]


# -- read-only databases -------------------------------------------------------------------------


def _reader() -> list[str]:
    """A command prefix that runs a process unable to write what its user does not own with
    write permission: as root, without the capabilities that bypass file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-permission override")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


@contextlib.contextmanager
def _read_only_directory():
    """A directory (and files) nobody may write, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="certcensus-ro-"))
    try:
        yield directory
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory, ignore_errors=True)


def _report(db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_reader(), sys.executable, "-m", "certcensus", "report", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _seal(directory: Path) -> None:
    for path in directory.iterdir():
        path.chmod(0o444)
    directory.chmod(0o555)


def _write_probes(db: Path, count: int) -> None:
    with open_store(db) as store:
        run = store.start_run("scan", ["t.test:443"])
        for number in range(count):
            store.add(run, observation(detail=str(number)))
        store.finish_run(run)


def test_report_reads_a_database_the_user_may_only_read_in_a_directory_they_cannot_write():
    with _read_only_directory() as directory:
        db = directory / "census.sqlite"
        _write_probes(db, 7)
        assert sorted(p.name for p in directory.iterdir()) == ["census.sqlite"]  # WAL gone
        _seal(directory)
        result = _report(db)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["targets"][0]["probes"] == 7
        assert sorted(p.name for p in directory.iterdir()) == ["census.sqlite"]  # nothing made


WRITER = r"""
import sys, time
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
store = open_store(sys.argv[1])
run = store.start_run("scan", ["t.test:443"])
for number in range(int(sys.argv[2])):
    store.add(run, Observation("t.test:443", "t.test", 443, "tls", "127.0.0.1", time.time(),
                               Outcome.OK, str(number), (b"leaf", b"ca")))
store.flush()
print("flushed", flush=True)
sys.stdin.read()  # hold the database open (its -wal and -shm) until told
"""


def _running_writer(db: Path, count: int) -> subprocess.Popen:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline() == "flushed\n"
    return writer


def test_report_reads_a_read_only_database_while_its_writer_runs():
    with _read_only_directory() as directory:
        db = directory / "census.sqlite"
        writer = _running_writer(db, 9)
        try:
            assert {p.name for p in directory.iterdir()} >= {
                "census.sqlite-wal",
                "census.sqlite-shm",
            }
            _seal(directory)
            result = _report(db)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["targets"][0]["probes"] == 9
        finally:
            writer.stdin.close()
            writer.wait(timeout=30)


def test_report_reads_committed_rows_of_a_wal_left_without_its_shm():
    with _read_only_directory() as directory:
        db = directory / "census.sqlite"
        writer = _running_writer(db, 11)
        writer.send_signal(signal.SIGKILL)  # a crash: the -wal keeps the committed rows
        writer.wait(timeout=30)
        (directory / "census.sqlite-shm").unlink()
        _seal(directory)
        result = _report(db)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["targets"][0]["probes"] == 11
        assert sorted(p.name for p in directory.iterdir()) == ["census.sqlite", "census.sqlite-wal"]


def test_a_scan_says_which_observation_the_database_refused(tmp_path):
    # A --sni that is not UTF-8 (bytes from the shell) reaches the observation; SQLite cannot
    # store it. The scan says so on stderr instead of losing it silently or with a traceback.
    db = tmp_path / "census.sqlite"
    command = [sys.executable.encode(), b"-m", b"certcensus", b"scan", b"127.0.0.1:9",
               b"--sni", b"bad\xff.test", b"--count", b"1", b"--db", os.fsencode(db)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=120)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1 and "Traceback" not in err
    assert "certcensus: warning: an observation could not be stored: UnicodeEncodeError" in err
