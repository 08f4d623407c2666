"""`certcensus export` end to end: from stored chains to a kit a client can use."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from certcensus.cli import export as cli_export
from certcensus.cli import trust as cli_trust
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
from certcensus.trust import load_certificates_from_bytes

from .export_helpers import openssl_verifies, write_census_db


@pytest.fixture
def two_chains(pki, tmp_path):
    """Chain A leaf<-IntA<-RootA, chain B leaf<-IntB<-RootB; servers send leaf+intermediate."""
    root_a = pki.root("Root A", key_type="ec256")
    int_a = pki.intermediate("Int A", root_a, key_type="ec256")
    leaf_a = pki.leaf("svc.test", int_a, key_type="ec256")
    root_b = pki.root("Root B", key_type="ec256")
    int_b = pki.intermediate("Int B", root_b, key_type="ec256")
    leaf_b = pki.leaf("svc.test", int_b, key_type="ec256")
    write_census_db(
        tmp_path / "census.sqlite",
        {"svc.test:443": [[leaf_a.der, int_a.der], [leaf_b.der, int_b.der]]},
    )
    (tmp_path / "corp.pem").write_bytes(root_a.pem)
    # Root B is known from another store (in real life: mozilla, or an AIA fetch).
    (tmp_path / "public.pem").write_bytes(root_b.pem)
    return dict(
        root_a=root_a, int_a=int_a, leaf_a=leaf_a, root_b=root_b, int_b=int_b, leaf_b=leaf_b
    )


def _run(command, tmp_path, *args):
    base = [
        "--db",
        str(tmp_path / "census.sqlite"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--offline",
        "--trust-store",
        str(tmp_path / "corp.pem"),
        "--trust-store",
        str(tmp_path / "public.pem"),
    ]
    return CliRunner().invoke(command, base + list(args), catch_exceptions=False)


def test_ibmi_kit_holds_exactly_the_minority_chains_intermediate_and_root(two_chains, tmp_path):
    out = tmp_path / "kit"
    result = _run(
        cli_export.export, tmp_path, "--missing-from", "corp", "--format", "ibmi", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    cer_files = sorted(out.glob("*.cer"))
    exported = {c.sha256 for f in cer_files for c in load_certificates_from_bytes(f.read_bytes())}
    assert exported == {two_chains["int_b"].sha256, two_chains["root_b"].sha256}
    assert all(f.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----") for f in cer_files)
    install = (out / "INSTALL.txt").read_text()
    assert "DCM" in install and all(f.name in install for f in cer_files)
    # Roots before intermediates in the import order.
    root_file = next(f for f in cer_files if f.name.startswith("Root_B"))
    int_file = next(f for f in cer_files if f.name.startswith("Int_B"))
    assert install.index(root_file.name) < install.index(int_file.name)
    # A client using the store plus those files verifies every chain.
    ca_pems = [two_chains["root_a"].pem] + [f.read_bytes() for f in cer_files]
    for leaf, inter in (("leaf_a", "int_a"), ("leaf_b", "int_b")):
        served = [two_chains[leaf].pem, two_chains[inter].pem]
        assert openssl_verifies(tmp_path / leaf, ca_pems, served)
    # And without them chain B does not verify (the kit is needed).
    assert not openssl_verifies(
        tmp_path / "before",
        [two_chains["root_a"].pem],
        [two_chains["leaf_b"].pem, two_chains["int_b"].pem],
    )


def test_plain_pem_export_only_adds_the_missing_root(two_chains, tmp_path):
    out = tmp_path / "pem"
    result = _run(
        cli_export.export,
        tmp_path,
        "--missing-from",
        "corp",
        "--format",
        "pem",
        "-o",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [c["sha256"] for c in document["certificates"]] == [two_chains["root_b"].sha256]
    assert len(list(out.glob("*.pem"))) == 1


def test_export_all_writes_every_observed_ca(two_chains, tmp_path):
    out = tmp_path / "all"
    result = _run(cli_export.export, tmp_path, "--all", "--format", "der", "-o", str(out))
    assert result.exit_code == 0, result.output
    exported = {
        c.sha256 for f in out.glob("*.der") for c in load_certificates_from_bytes(f.read_bytes())
    }
    assert exported == {two_chains[k].sha256 for k in ("root_a", "int_a", "root_b", "int_b")}


def test_usage_errors_exit_2(two_chains, tmp_path):
    assert (
        _run(cli_export.export, tmp_path, "--format", "pem", "-o", str(tmp_path / "x")).exit_code
        == 2
    )
    result = _run(
        cli_export.export,
        tmp_path,
        "--missing-from",
        str(tmp_path / "absent.pem"),
        "-o",
        str(tmp_path / "x"),
    )
    assert result.exit_code == 2 and "no such file" in result.output


def test_trust_command_exit_code_and_json(two_chains, tmp_path):
    result = _run(cli_trust.trust, tmp_path, "--json")
    assert result.exit_code == 1  # chain B is not trusted by corp
    document = json.loads(result.output)
    chains = document["targets"]["svc.test:443"]
    by_leaf = {v["trust"]["corp"]["lenient"]["path"][0]: v["trust"] for v in chains.values()}
    chain_a = by_leaf[two_chains["leaf_a"].sha256]
    chain_b = by_leaf[two_chains["leaf_b"].sha256]
    assert chain_a["corp"]["lenient"]["trusted"] and chain_a["corp"]["strict"]["trusted"]
    assert chain_b["corp"]["lenient"]["reason"] == "missing-root"
    assert chain_b["corp"]["lenient"]["missing"] == [two_chains["root_b"].sha256]
    assert chain_b["public"]["lenient"]["trusted"]
    assert set(document["stores"]) == {"corp", "public"}
    # Every CA seen (served or in a loaded store) is kept in the reusable local CA pool.
    pool = {p.stem for p in (tmp_path / "cache" / "ca-pool").glob("*.der")}
    assert pool == {two_chains[k].sha256 for k in ("root_a", "int_a", "root_b", "int_b")}

    table = _run(cli_trust.trust, tmp_path)
    assert table.exit_code == 1
    assert "missing-root" in table.output and "svc.test:443" in table.output


def test_trust_command_all_trusted_exits_0(two_chains, tmp_path):
    (tmp_path / "both.pem").write_bytes(two_chains["root_a"].pem + two_chains["root_b"].pem)
    result = CliRunner().invoke(
        cli_trust.trust,
        [
            "--db",
            str(tmp_path / "census.sqlite"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--offline",
            "--trust-store",
            str(tmp_path / "both.pem"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_bad_trust_store_exits_2(two_chains, tmp_path):
    (tmp_path / "junk.pem").write_bytes(b"junk")
    result = CliRunner().invoke(
        cli_trust.trust,
        [
            "--db",
            str(tmp_path / "census.sqlite"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--trust-store",
            str(tmp_path / "junk.pem"),
        ],
    )
    assert result.exit_code == 2
    assert "not a certificate store" in result.output


def test_unknown_target_exits_2(two_chains, tmp_path):
    result = _run(cli_trust.trust, tmp_path, "--target", "nope.test:443")
    assert result.exit_code == 2 and "nope.test:443" in result.output


def test_reads_chains_from_a_real_sqlite_store(pki, tmp_path):
    """The commands read the latest run of each target through store/sqlite.py."""
    from certcensus.model.observation import Observation
    from certcensus.model.outcomes import Outcome
    from certcensus.store import open_store

    root = pki.root("SQLite Root", key_type="ec256")
    inter = pki.intermediate("SQLite CA", root, key_type="ec256")
    leaf = pki.leaf("db.test", inter, key_type="ec256")
    database = tmp_path / "census.sqlite"
    with open_store(str(database)) as store:
        run_id = store.start_run("scan", ["db.test:443"])
        for _ in range(3):  # the same chain three times is one chain to judge
            store.add(
                run_id,
                Observation(
                    "db.test:443",
                    "db.test",
                    443,
                    "tls",
                    "127.0.0.1",
                    0.0,
                    Outcome.OK,
                    chain=(leaf.der, inter.der),
                    sni="db.test",
                ),
            )
        store.finish_run(run_id)
    (tmp_path / "corp.pem").write_bytes(root.pem)
    result = CliRunner().invoke(
        cli_trust.trust,
        [
            "--db",
            str(database),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--offline",
            "--trust-store",
            str(tmp_path / "corp.pem"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    [verdict] = json.loads(result.output)["targets"]["db.test:443"].values()
    assert verdict["host"] == "db.test"
    assert verdict["trust"]["corp"]["strict"]["trusted"] is True
    empty = CliRunner().invoke(
        cli_trust.trust,
        [
            "--db",
            str(tmp_path / "empty.sqlite"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--trust-store",
            str(tmp_path / "corp.pem"),
        ],
    )
    assert empty.exit_code == 2 and "no runs" in empty.output


def test_at_judges_validity_at_another_time(two_chains, tmp_path):
    (tmp_path / "both.pem").write_bytes(two_chains["root_a"].pem + two_chains["root_b"].pem)
    base = [
        "--db",
        str(tmp_path / "census.sqlite"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--offline",
    ]
    base += ["--trust-store", str(tmp_path / "both.pem"), "--json"]
    later = CliRunner().invoke(cli_trust.trust, base + ["--at", "2099-01-01T00:00:00Z"])
    assert later.exit_code == 1
    verdicts = json.loads(later.output)["targets"]["svc.test:443"].values()
    assert {v["trust"]["both"]["lenient"]["reason"] for v in verdicts} == {"expired"}
    bad = CliRunner().invoke(cli_trust.trust, base + ["--at", "next tuesday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def _store_one_chain(database, target: str, host: str, chain, sni):
    with open_store(str(database)) as store:
        run_id = store.start_run("scan", [target])
        store.add(
            run_id,
            Observation(
                target, host, 443, "tls", "127.0.0.1", 0.0, Outcome.OK, chain=tuple(chain), sni=sni
            ),  # fmt: skip
        )
        store.finish_run(run_id)


@pytest.mark.parametrize(
    ("target", "host", "sni", "checked", "lenient_reason"),
    [
        # A client that asked for a name checks that name: this leaf is for another one.
        ("db.test:443", "db.test", "db.test", "db.test", "name-mismatch"),
        # A client connecting to a bare address with no SNI checks no name: the path is judged.
        ("127.0.0.1:443", "127.0.0.1", None, None, "trusted"),
        # With SNI sent to an address, the SNI is the name checked.
        ("127.0.0.1:443", "127.0.0.1", "db.test", "db.test", "name-mismatch"),
    ],
)
def test_the_name_a_client_checks_is_the_sni_else_the_host_name_never_an_address(
    pki, tmp_path, target, host, sni, checked, lenient_reason
):
    root = pki.root("Name Rule Root", key_type="ec256")
    inter = pki.intermediate("Name Rule CA", root, key_type="ec256")
    leaf = pki.leaf("other.test", inter, key_type="ec256")
    database = tmp_path / "census.sqlite"
    _store_one_chain(database, target, host, [leaf.der, inter.der], sni)
    (tmp_path / "corp.pem").write_bytes(root.pem)
    args = ["--db", str(database), "--cache-dir", str(tmp_path / "cache"), "--offline",
            "--trust-store", str(tmp_path / "corp.pem"), "--json"]  # fmt: skip
    result = CliRunner().invoke(cli_trust.trust, args)
    [verdict] = json.loads(result.output)["targets"][target].values()
    assert verdict["host"] == checked
    assert verdict["trust"]["corp"]["lenient"]["reason"] == lenient_reason
    # Lenient is `openssl verify`, with -verify_hostname exactly when a name is checked.
    assert verdict["trust"]["corp"]["lenient"]["trusted"] is (lenient_reason == "trusted")
