"""openssl s_client's flags as aliases: the README's session in its s_client form runs against a
real two-chain SMTP pool and prints what the spelled-out form prints; protocol names and
profiles are taken as s_client (and sslyze, testssl.sh) spell them."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from certcensus.lab.pki import PKI
from certcensus.lab.pool import Backend, running_pool

from .servers import missing

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_sessions() -> tuple[list[str], list[str]]:
    """The two command blocks of the README's s_client section: habits, then spelled out."""
    text = README.read_text()
    section = text[text.index("### openssl s_client habits") : text.index("## Coverage")]
    habit, spelled = re.findall(r"```sh\n(.*?)```", section, re.S)[:2]
    return habit.strip().splitlines(), spelled.strip().splitlines()


@pytest.fixture(scope="module")
def smtp_pool(tmp_path_factory):
    """An SMTP STARTTLS pool serving two chains (92% under the old root, 8% under the new), and
    the old root as the client's store export, `dcm-export.pem`."""
    pki = PKI()
    old_root = pki.root("Habit Old Root", key_type="ec256")
    new_root = pki.root("Habit New Root", key_type="ec256")
    old_ca = pki.intermediate("Habit Old CA", old_root, key_type="ec256")
    new_ca = pki.intermediate("Habit New CA", new_root, key_type="ec256")
    names = ["mail.example.com", "127.0.0.1"]
    backends = [Backend("old", pki.leaf(names, old_ca, key_type="ec256"), [old_ca], weight=92),
                Backend("new", pki.leaf(names, new_ca, key_type="ec256"), [new_ca], weight=8)]  # fmt: skip
    directory = tmp_path_factory.mktemp("habits")
    (directory / "dcm-export.pem").write_bytes(old_root.pem)
    with running_pool(backends, protocol="smtp", seed=18) as pool:
        yield {"port": pool.port, "dir": directory}


def as_arguments(line: str, pool: dict, db: Path, kit: Path) -> list[str]:
    """A README line, pointed at the pool, the store file and a kit folder of its own."""
    line = line.replace("mail.example.com:25", f"127.0.0.1:{pool['port']}")
    line = line.replace("dcm-export.pem", str(pool["dir"] / "dcm-export.pem"))
    line = line.replace("kit/", f"{kit}/")
    words = shlex.split(line)
    assert words[0] == "certcensus"
    command = words[1]
    if command in ("scan", "check"):
        words += ["--rate", "0", "--count", "200"]  # quick, and sure to meet the 8% chain
    if command == "scan":
        words += ["--json"]
    if command != "check":
        words += ["--db", str(db)]
    return words[1:]


def test_the_readme_session_in_its_s_client_form(cli, smtp_pool, tmp_path):
    habit_lines, spelled_lines = readme_sessions()
    assert len(habit_lines) == len(spelled_lines) == 5
    db = tmp_path / "census.sqlite"
    for habit_line, spelled_line in zip(habit_lines, spelled_lines):
        habit = cli(*as_arguments(habit_line, smtp_pool, db, tmp_path / "kit-habit"))
        spelled = cli(*as_arguments(spelled_line, smtp_pool, db, tmp_path / "kit-spelled"))
        assert habit.code == spelled.code, (habit_line, habit.err, spelled.err)
        command = habit_line.split()[1]
        if command == "scan":
            assert habit.code == 0, habit.err
            for result in (habit, spelled):
                (target,) = result.json["targets"]
                assert target["protocol"] == "smtp" and target["ok"] == 200
                assert {s["sni"] for s in target["strata"]} == {"mail.example.com"}
                assert len(target["chains"]) == 2
            assert {c["id"] for c in habit.json["targets"][0]["chains"]} == {
                c["id"] for c in spelled.json["targets"][0]["chains"]
            }
        elif command == "check":
            assert habit.code == 2  # CRITICAL: the new chain is untrusted by dcm-export
            for result in (habit, spelled):
                assert re.match(
                    r"CERTCENSUS CRITICAL - 127\.0\.0\.1:\d+: 2 chains, 200/200 probes ok",
                    result.out,
                ), result.out
                assert "untrusted by dcm-export" in result.out
        else:
            assert habit.out.replace("kit-habit", "kit") == spelled.out.replace(
                "kit-spelled", "kit"
            )
            assert habit.out
    report = cli(*as_arguments(habit_lines[3], smtp_pool, db, tmp_path))
    assert report.out.count("-----BEGIN CERTIFICATE-----") == 4  # two chains of two
    assert sorted(p.name for p in (tmp_path / "kit-habit").iterdir()) == sorted(
        p.name for p in (tmp_path / "kit-spelled").iterdir()
    )


def test_showcerts_prints_pem_that_openssl_reads(cli, smtp_pool, tmp_path):
    openssl = shutil.which("openssl") or missing("openssl is not installed")
    db = tmp_path / "db.sqlite"
    shown = cli("scan", "-connect", f"127.0.0.1:{smtp_pool['port']}", "-starttls", "smtp",
                "-showcerts", "--rate", "0", "--count", "100", "--db", db)  # fmt: skip
    assert shown.code == 0, shown.err
    pems = re.findall(
        r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", shown.out, re.S
    )
    assert len(pems) == 4
    for pem in pems:
        done = subprocess.run([openssl, "x509", "-noout", "-fingerprint", "-sha256"], input=pem,
                              capture_output=True, text=True, check=True)  # fmt: skip
        fingerprint = done.stdout.strip().split("=", 1)[1].replace(":", "").lower()
        assert f"sha256 {fingerprint}" in shown.out  # the certificate described just above


def test_a_flag_and_its_option_must_agree(cli, smtp_pool, tmp_path):
    target = f"127.0.0.1:{smtp_pool['port']}"
    clash = cli("scan", target, "-servername", "a.test", "--sni", "b.test", "--db", tmp_path / "d")
    assert clash.code == 2
    assert clash.err.strip() == (
        "certcensus: error: -servername a.test and --sni b.test disagree; give one"
    )
    check = cli("check", target, "-connect", "127.0.0.1:1")
    assert check.code == 3 and check.out.startswith("CERTCENSUS UNKNOWN - usage: -connect")
    nothing = cli("scan", "--db", tmp_path / "d")
    assert nothing.code == 2 and "-connect HOST:PORT" in nothing.err


@pytest.mark.parametrize(
    ("typed", "protocol"),
    [("smtp", "smtp"), ("SMTP", "smtp"), ("postgresql", "postgres"), ("xmpp_server", "xmpp-server"),
     ("pop", "pop3"), ("ManageSieve", "sieve")],
)  # fmt: skip
def test_protocol_names_as_other_tools_spell_them(cli, tmp_path, typed, protocol):
    # Port 1 on loopback refuses at once: enough to see which protocol the target got.
    for argv in (
        ["-connect", "127.0.0.1:1", "-starttls", typed],
        ["127.0.0.1:1", "--starttls", typed],
    ):
        found = cli("scan", *argv, "--count", 1, "--db", tmp_path / "d", "--json")
        assert found.json["targets"][0]["protocol"] == protocol, found.err
    scheme = cli("scan", f"{typed.lower().replace('_', '-')}://127.0.0.1:1", "--count", 1, "--db",
                 tmp_path / "d", "--json")  # fmt: skip
    assert scheme.json["targets"][0]["protocol"] == protocol, scheme.err


def test_profiles_as_s_client_spells_them(cli, smtp_pool, tmp_path):
    target = f"127.0.0.1:{smtp_pool['port']}"
    for argv in (["-tls1_2"], ["--profile", "tls1_2"], ["--profile", "TLSv1.2"]):
        found = cli("scan", target, "--starttls", "smtp", *argv, "--count", 5, "--rate", 0,
                    "--db", tmp_path / "d", "--json")  # fmt: skip
        assert found.code == 0, found.err
        (stratum,) = found.json["targets"][0]["strata"]
        assert stratum["profile"] == "tls1.2"


def test_watch_takes_the_s_client_flags_too(cli, smtp_pool, tmp_path):
    db = tmp_path / "watch.sqlite"
    watched = cli("watch", "-connect", f"127.0.0.1:{smtp_pool['port']}", "-starttls", "SMTP",
                  "-servername", "mail.example.com", "-CAfile", smtp_pool["dir"] / "dcm-export.pem",
                  "--rounds", 1, "--count", 40, "--rate", 0, "--db", db)  # fmt: skip
    assert watched.code == 0, watched.err
    report = cli("report", "--db", db, "--json").json["targets"][0]
    assert report["protocol"] == "smtp" and report["ok"] >= 40  # a first round stops when sure
    assert {s["sni"] for s in report["strata"]} == {"mail.example.com"}
