"""The PostgreSQL store as a user meets it: a libpq URL, one-line errors with exit status 2 for
a server that is away, a wrong password, a database without the schema or with a newer one,
and a server lost in the middle of a scan."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest

from certcensus.lab.pool import running_pool
from certcensus.store import open_store

from ..pg import USER, running_postgres
from ..servers import free_port

pytestmark = pytest.mark.server


def one_line_error(result, *words: str) -> None:
    assert result.code == 2, result
    assert result.err.count("\n") == 1 and result.err.startswith("certcensus: error: "), result.err
    for word in words:
        assert word in result.err, result.err


def test_an_unreachable_server_is_one_line(cli):
    url = f"postgresql://{USER}:x@127.0.0.1:{free_port()}/census"
    for command in (["report"], ["scan", "127.0.0.1:1", "--count", "1"], ["trust"]):
        result = cli(*command, "--db", url)
        one_line_error(result, "cannot open database", "Connection refused")
        assert ":x@" not in result.err  # the password is never shown


def test_a_wrong_password_is_one_line(cli, postgres_server, postgres_url):
    url = postgres_url.replace(":census-secret@", ":wrong@")
    one_line_error(cli("report", "--db", url), "password authentication failed")


def test_a_database_without_the_schema(cli, postgres_url, two_chains):
    one_line_error(cli("report", "--db", postgres_url), "has no certcensus schema")
    # A command that writes creates it; then reading works.
    with running_pool(two_chains.backends, seed=1) as pool:
        scanned = cli("scan", f"127.0.0.1:{pool.port}", "--count", 20, "--rate", 0,
                      "--db", postgres_url, "--json")  # fmt: skip
    assert scanned.code == 0, scanned.err
    reported = cli("report", "--db", postgres_url, "--json")
    assert reported.code == 0 and reported.json == scanned.json


def test_a_newer_schema_version_is_one_line(cli, postgres_url):
    open_store(postgres_url).close()  # creates the schema
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("UPDATE certcensus.schema_version SET version = 7")
    one_line_error(cli("report", "--db", postgres_url), "schema version 7, newer")
    one_line_error(cli("scan", "127.0.0.1:1", "--db", postgres_url), "schema version 7, newer")


def test_the_environment_names_the_database(cli, postgres_url, two_chains, monkeypatch):
    monkeypatch.setenv("CERTCENSUS_DB", postgres_url)
    with running_pool(two_chains.backends, seed=2) as pool:
        assert cli("scan", f"127.0.0.1:{pool.port}", "--count", 5, "--rate", 0).code == 0
    with psycopg.connect(postgres_url) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM certcensus.probes").fetchone()
    assert count == 5


def _scan_in_background(url: str, port: int, count: int, retry: float) -> subprocess.Popen:
    environment = {**os.environ, "CERTCENSUS_DB_RETRY_SECONDS": str(retry)}
    return subprocess.Popen(
        [sys.executable, "-m", "certcensus", "scan", f"127.0.0.1:{port}", "--count", str(count),
         "--rate", "25", "--db", url, "--json", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip


def _wait_for_stored(url: str, at_least: int, process: subprocess.Popen) -> None:
    """Until the database holds `at_least` probes (each look is a query, not a sleep)."""
    while process.poll() is None:
        with psycopg.connect(url) as connection:
            try:
                (count,) = connection.execute("SELECT COUNT(*) FROM certcensus.probes").fetchone()
            except psycopg.errors.UndefinedTable:  # the scan has not created the schema yet
                count = 0
        if count >= at_least:
            return
        threading.Event().wait(0.1)  # between two queries; the condition is the count
    raise AssertionError(f"the scan ended first: {process.communicate()}")


def _wait_for_line(process: subprocess.Popen, words: str) -> list[str]:
    seen = []
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        if words in line:
            return seen
    raise AssertionError(f"no line with {words!r} on stderr: {seen}")


def test_a_server_lost_mid_scan_and_back_loses_and_duplicates_nothing(two_chains):
    with running_postgres() as server, running_pool(two_chains.backends, seed=4) as pool:
        server.admin("CREATE DATABASE census")
        url = server.url("census")
        scan = _scan_in_background(url, pool.port, count=150, retry=60)
        _wait_for_stored(url, 20, scan)
        server.stop(crash=True)
        _wait_for_line(scan, "lost the database server")
        server.start()
        out, err = scan.communicate(timeout=120)
        assert scan.returncode == 0, err
        with psycopg.connect(url) as connection:
            rows = connection.execute(
                "SELECT started_at, source_port FROM certcensus.probes"
            ).fetchall()
    assert len(rows) == 150 == sum(pool.served.values())  # every probe the server saw, once
    assert len(set(rows)) == 150
    assert '"probes": 150' in out


def test_a_server_lost_for_good_stops_the_scan_and_keeps_what_was_committed(two_chains):
    with running_postgres() as server, running_pool(two_chains.backends, seed=5) as pool:
        server.admin("CREATE DATABASE census")
        url = server.url("census")
        scan = _scan_in_background(url, pool.port, count=1000, retry=3)
        _wait_for_stored(url, 20, scan)
        server.stop(crash=True)
        _, err = scan.communicate(timeout=120)
        server.start()
        with psycopg.connect(url) as connection:
            (kept,) = connection.execute("SELECT COUNT(*) FROM certcensus.probes").fetchone()
    assert scan.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("certcensus: error: lost the database server"), err
    assert "could not reconnect" in last and "everything before them was committed" in last
    assert "Traceback" not in err
    assert 20 <= kept < 1000
