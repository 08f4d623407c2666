"""File names that are not UTF-8, and folders that loop: nothing lost, nothing skipped silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from certcensus.ingest.filenames import escaped_name, unescaped_name
from certcensus.ingest.pipeline import ingest_paths
from certcensus.store import open_store


@given(st.binary(min_size=1, max_size=40).filter(lambda name: b"\0" not in name))
def test_escaped_names_are_printable_utf8_and_turn_back_into_the_name(raw):
    path = os.fsdecode(raw)
    text = escaped_name(path)
    text.encode("utf-8")  # no lone surrogate left: SQLite and a UTF-8 terminal take it
    assert text.isprintable()  # one line, whatever the name holds (newlines, escapes)
    assert unescaped_name(text) == path
    assert os.fsencode(unescaped_name(text)) == raw


def test_undecodable_bytes_read_as_escapes():
    assert escaped_name(os.fsdecode(b"caf\xe9-\x16\x03.pem")) == "caf\\xe9-\\x16\\x03.pem"
    assert escaped_name("café.pem") == "café.pem"  # UTF-8 stays as it is
    assert escaped_name("a\\b") == "a\\\\b"


def _odd_tree(tree, two_chains):
    """Good captures, one named in Latin-1 inside a folder named in Latin-1."""
    tree.mkdir()
    folder = os.fsdecode(os.fsencode(tree) + b"/r\xe9seau")  # "réseau" in Latin-1
    os.mkdir(folder)
    odd = os.path.join(folder, os.fsdecode(b"capture-\xff\xfe.pem"))
    with open(odd, "wb") as handle:
        handle.write(two_chains.leaf.pem)
    for number in range(3):
        (tree / f"good-{number}.pem").write_bytes(two_chains.leaf.pem)
    return odd


def test_a_file_name_that_is_not_utf8_is_stored_escaped_and_loses_no_capture(tmp_path, two_chains):
    odd = _odd_tree(tmp_path / "captures", two_chains)
    db = tmp_path / "census.sqlite"
    with open_store(db) as store:
        result = ingest_paths([tmp_path / "captures"], store, jobs=1)
    assert result.problems == []
    assert result.observations == result.files_read == 4
    with open_store(db, read_only=True) as store:
        stored = {p.source: p.target for name in store.targets() for p in store.probes(name)}
    assert len(stored) == 4
    escaped = os.fsencode(tmp_path).decode() + "/captures/r\\xe9seau/capture-\\xff\\xfe.pem"
    assert stored[escaped] == "r\\xe9seau"  # the folder names the target, escaped alike
    assert unescaped_name(escaped) == odd


def test_ingest_prints_odd_names_escaped_and_exits_0(tmp_path, two_chains):
    _odd_tree(tmp_path / "captures", two_chains)
    empty = os.fsdecode(os.fsencode(tmp_path) + b"/captures/empty-\xe9.txt")
    open(empty, "wb").close()
    db = tmp_path / "census.sqlite"
    command = [sys.executable, "-m", "certcensus", "ingest", str(tmp_path / "captures")]
    command += ["--db", str(db)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONIO")}
    environment["LC_ALL"] = "C.UTF-8"  # stdout strict UTF-8, as on most terminals
    text = subprocess.run(command, capture_output=True, env=environment, timeout=120)
    assert text.returncode == 0, text.stderr
    assert b"Traceback" not in text.stderr
    out = text.stdout.decode("utf-8")  # strictly UTF-8: no surrogate leaked to the terminal
    assert "Ingested 4 observation(s) from 4 file(s)" in out
    assert "empty-\\xe9.txt" in out
    as_json = subprocess.run([*command, "--json"], capture_output=True, env=environment)
    problems = json.loads(as_json.stdout)["problems"]
    assert [p["path"].rpartition("/")[2] for p in problems] == ["empty-\\xe9.txt"]


def test_a_directory_cycle_is_listed_as_skipped_with_its_reason(tmp_path, two_chains):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (inner / "leaf.pem").write_bytes(two_chains.leaf.pem)
    (inner / "loop").symlink_to(tmp_path / "a")
    result = ingest_paths([tmp_path], None)
    assert len(result.captures) == 1
    [problem] = result.problems
    assert problem.path == str(inner / "loop")
    assert problem.reason == "directory-cycle"
    assert problem.detail == f"leads back to {tmp_path / 'a'}"


def test_a_capture_the_database_refuses_is_listed_and_the_rest_of_the_batch_kept(
    tmp_path, two_chains
):
    # A census JSON claiming a port past 64 bits: SQLite cannot hold the integer. Before, the
    # batch write raised and every good capture ingested with it was lost.
    captures = tmp_path / "captures"
    captures.mkdir()
    for number in range(3):
        (captures / f"good-{number}.pem").write_bytes(two_chains.leaf.pem)
    document = {"targets": [{"target": "big:1", "host": "big", "port": 2**70, "protocol": "smtp",
                             "errors": {"timeout": 1}}]}  # fmt: skip
    (captures / "huge-port.json").write_text(json.dumps(document))
    db = tmp_path / "census.sqlite"
    with open_store(db) as store:
        result = ingest_paths([captures], store, jobs=1)
    [problem] = result.problems
    assert (os.path.basename(problem.path), problem.reason) == ("huge-port.json", "not-stored")
    assert "OverflowError" in problem.detail
    assert result.observations == 3
    with open_store(db, read_only=True) as store:
        assert sum(len(list(store.probes(name))) for name in store.targets()) == 3
