"""The command line as a user meets it: exit codes, one-line errors, report, --save-pem, demo."""

from __future__ import annotations

import subprocess
import sys

import pytest

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan", "example.com:99999"], "not a number from 1 to 65535"),
        (["scan", "gopher://example.com"], "unknown scheme 'gopher'"),
        (["scan", "x.test", "--duration", "soon"], "--duration 'soon' is not like"),
        (["scan", "x.test", "--starttls", "pigeon"], "'pigeon' is not one of"),
        (["scan", "x.test", "--count", "0"], "0 is not in the range"),
        (["scan"], "give a target (host, host:port or a URL), or -connect HOST:PORT"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(cli, args, message):
    result = cli(*args)
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("certcensus: error:")
    assert message in result.err


def test_unresolvable_name_is_exit_2_and_recorded(cli, db):
    result = cli("scan", "no-such-host.invalid", "--db", db, "--json")
    assert result.code == 2
    assert "cannot resolve no-such-host.invalid" in result.err
    assert result.json["targets"][0]["errors"] == {"dns": 1}


def test_report_prints_the_same_census_again(cli, db, two_chains, tmp_path):
    with running_pool(two_chains.backends, seed=3) as pool:
        scanned = cli(
            "scan", f"127.0.0.1:{pool.port}", "--rate", "0", "--count", 40, "--db", db, "--json"
        )
    reported = cli("report", "--db", db, "--json")
    assert reported.code == 0
    assert reported.json == scanned.json
    pem_dir = tmp_path / "pems"
    text = cli("report", "--db", db, "--save-pem", pem_dir)
    assert "40 probes, 40 ok" in text.out
    for chain in scanned.json["targets"][0]["chains"]:
        assert chain["id"][:12] in text.out
        saved = (pem_dir / f"{chain['id']}.pem").read_text()
        assert saved == "".join(c["pem"] for c in chain["certificates"])
    ids = {chain_fingerprint(b.wire_ders) for b in two_chains.backends}
    assert {p.stem for p in pem_dir.iterdir()} == ids


def test_report_on_an_empty_store_says_so(cli, db):
    result = cli("report", "--db", db)
    assert result.code == 2 and "no probes in the store" in result.err


def test_unusable_database_is_one_line(cli, tmp_path):
    not_a_db = tmp_path / "junk.sqlite"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    result = cli("report", "--db", not_a_db)
    assert result.code == 2 and result.err.startswith("certcensus: error: cannot open database")


def test_demo_finds_both_chains():
    result = subprocess.run(
        [sys.executable, "-m", "certcensus", "demo", "--count", "300", "--json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    import json

    (target,) = json.loads(result.stdout)["targets"]
    assert target["probes"] == target["ok"] == 300
    shares = sorted(chain["share"] for chain in target["chains"])
    assert len(shares) == 2
    assert 0.02 < shares[0] < 0.16  # ~8%: binomial(300, 0.08) stays in this band (p > 0.999)
    names = [c["certificates"][1]["subject"] for c in target["chains"]]
    assert any("Demo Cloud Services CA-1" in n for n in names)
    assert any("Demo TLS RSA CA G2" in n for n in names)


def test_report_formats_write_files(cli, db, two_chains, tmp_path):
    with running_pool(two_chains.backends, seed=3) as pool:
        cli("scan", f"127.0.0.1:{pool.port}", "--rate", "0", "--count", 30, "--db", db, "-q")
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "Root.cer").write_text("placeholder")
    html = tmp_path / "out" / "report.html"
    html.parent.mkdir()
    assert cli("report", "--db", db, "--format", "html", "-o", html, "--kit-dir", kit).code == 0
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'href="../kit/Root.cer"' in page
    chains = cli("report", "--db", db, "--format", "csv")
    assert chains.out.splitlines()[0].startswith("target,rank,chain,count,share")
    assert len(chains.out.splitlines()) == 3  # header and two chains
    probes = cli("report", "--db", db, "--format", "observations-csv")
    assert len(probes.out.splitlines()) == 31  # header and one row per probe
