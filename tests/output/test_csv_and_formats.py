"""CSV outputs and `write_report`, on a real census of a two-chain pool."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json

import pytest

from certcensus.lab.pool import running_pool
from certcensus.render.as_csv import OBSERVATION_COLUMNS, chains_csv, observations_csv
from certcensus.render.formats import write_report
from certcensus.trust import ModeVerdict, Problem, Reason, StoreVerdict

from .report_helpers import census_of, scan_into


@pytest.fixture(scope="module")
def scanned(two_chains, tmp_path_factory):
    db = tmp_path_factory.mktemp("csv") / "census.sqlite"
    with running_pool(two_chains.backends, protocol="smtp", choice="round-robin") as pool:
        run_id = scan_into(db, pool.port, 12)
    return db, run_id, two_chains


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_observations_csv_has_one_row_per_probe(scanned):
    db, run_id, chains = scanned
    store, census = census_of(db, [run_id])
    with store:
        text = observations_csv(store, None, [run_id])
    rows = rows_of(text)
    assert list(rows[0]) == OBSERVATION_COLUMNS
    assert len(rows) == 12
    assert {row["outcome"] for row in rows} == {"ok"}
    assert {row["chain_id"] for row in rows} == {c.chain_id for c in census.targets[0].chains}
    assert all(row["time"].endswith("Z") and row["run_id"] == str(run_id) for row in rows)


def test_chains_csv_one_row_per_chain_with_certificates_joined(scanned):
    db, run_id, chains = scanned
    store, census = census_of(db, [run_id])
    store.close()
    chain = census.targets[0].chains[0]
    untrusted = ModeVerdict(False, [Problem(Reason.MISSING_ROOT, "root not in corp")], [], [], None)
    chain.trust = {"corp": StoreVerdict("corp", untrusted, untrusted)}
    chain.certificates[0] = dataclasses.replace(chain.certificates[0],
                                                subject="=HYPERLINK(\"http://evil\")")  # fmt: skip
    census.targets[0].chains[1].trust = {}
    rows = rows_of(chains_csv(census))
    assert [(r["count"], r["share"]) for r in rows] == [("6", "0.5"), ("6", "0.5")]
    by_leaf = {r["sha256s"].split()[0]: r for r in rows}
    for backend in chains.backends:
        row = by_leaf[backend.leaf.sha256]
        assert row["sha256s"] == f"{backend.leaf.sha256} {backend.chain[0].sha256}"
        assert row["length"] == "2" and row["first_seen"].endswith("Z")
    assert rows[0]["subjects"].startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it
    assert rows[0]["untrusted_by"] == "corp:missing-root" and rows[1]["untrusted_by"] == ""


@pytest.mark.parametrize("fmt", ["json", "csv", "observations-csv", "html", "text"])
def test_write_report_writes_each_format_to_a_file(scanned, tmp_path, fmt):
    db, run_id, _ = scanned
    store, census = census_of(db, [run_id])
    output = tmp_path / f"report.{fmt}"
    with store:
        write_report(census, store, fmt, output, title="Pool")
    text = output.read_text()
    chain_id = census.targets[0].chains[0].chain_id
    assert chain_id[:12] in text
    sentence = census.targets[0].coverage_sentence()
    if fmt == "json":
        assert json.loads(text)["targets"][0]["coverage"]["sentence"] == sentence
    if fmt == "html":
        assert html.escape(sentence) in text and 'class="timeline"' in text
