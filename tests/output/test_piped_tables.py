"""Output that pipes: `trust`, `export` and `report` written to a file by the real command, as
`certcensus trust > file` does, hold plain text tables: no box drawing, one line per row, no
field wrapped or folded at 80 columns (or at any width)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from certcensus.lab.pki import PKI
from certcensus.lab.pool import Backend, running_pool

# Box drawing (U+2500-U+257F) and block elements (U+2580-U+259F): what rich draws tables with.
BOX_DRAWING = re.compile("[\u2500-\u259f]")
STORE = "client-with-only-the-old-root"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A database with a real scan of two chains whose CA names are long."""
    directory = tmp_path_factory.mktemp("piped")
    pki = PKI(organization="certcensus laboratory for output written to files and pipes")
    old_root = pki.root("Piped Output Old Root Certification Authority", key_type="ec256")
    new_root = pki.root("Piped Output New Root Certification Authority G2", key_type="ec256")
    old_ca = pki.intermediate("Piped Output Issuing CA 2019", old_root, key_type="ec256")
    new_ca = pki.intermediate("Piped Output Issuing CA 2026 G2", new_root, key_type="ec256")
    names = ["pool.test", "127.0.0.1"]
    backends = [Backend("old", pki.leaf(names, old_ca, key_type="ec256"), [old_ca]),
                Backend("new", pki.leaf(names, new_ca, key_type="ec256"), [new_ca])]  # fmt: skip
    (directory / "old.pem").write_bytes(old_root.pem)
    (directory / "both.pem").write_bytes(old_root.pem + new_root.pem)
    db = directory / "db.sqlite"
    with running_pool(backends, seed=1) as pool:
        run(directory, "scan", f"127.0.0.1:{pool.port}", "--starttls", "none", "--rate", "0",
            "--count", 60, "--db", db, "--json")  # fmt: skip
    stores = ("--trust-store", f"{STORE}={directory / 'old.pem'}",
              "--trust-store", f"ca-bundle={directory / 'both.pem'}")  # fmt: skip
    return {"dir": directory, "db": db, "stores": stores, "new_root": new_root, "new_ca": new_ca}


def run(directory, *args) -> tuple[int, str]:
    """Run `python -m certcensus ARGS > out.txt` (stdout is a file, not a terminal)."""
    out = directory / "out.txt"
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    with open(out, "w") as file:
        done = subprocess.run([sys.executable, "-m", "certcensus", *map(str, args)], stdout=file,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, out.read_text()


def assert_plain(text: str) -> None:
    assert not BOX_DRAWING.search(text), text
    assert "\x1b[" not in text, "no colour codes in a file"


def test_trust_to_a_file_is_one_plain_line_per_verdict(scanned):
    code, text = run(
        scanned["dir"], "trust", "--db", scanned["db"], "--offline", *scanned["stores"]
    )
    assert code == 1  # the old-root client does not trust the new chain
    assert_plain(text)
    lines = text.splitlines()
    assert lines[0] == "Trust per chain and store"
    assert re.match(r"Target\s+Chain\s+Store\s+Lenient\s+Strict\s+Reason$", lines[1])
    rows = [line for line in lines[2:] if re.match(r"127\.0\.0\.1:\d+\s+[0-9a-f]{12}\s", line)]
    assert len(rows) == 4  # 2 chains x 2 stores, each on exactly one line
    untrusted = [row for row in rows if "untrusted" in row and STORE in row]
    assert len(untrusted) == 1
    # The whole reason on the row: root name, fingerprint and store, not folded at 80 columns.
    assert re.search(
        rf'missing-root: root "Piped Output New Root Certification Authority G2" '
        rf"\({scanned['new_root'].sha256[:16]}\) is not in store {STORE}$",
        untrusted[0],
    ), untrusted[0]
    assert max(len(line) for line in rows) > 80  # long rows stay long
    # Then what it means for each store's clients, one line each.
    assert (
        f"clients that trust only Piped Output Old Root Certification Authority ({STORE}) fail"
        in text
    )


def test_export_to_a_file_is_one_plain_line_per_certificate(scanned):
    kit = scanned["dir"] / "kit"
    code, text = run(scanned["dir"], "export", "--db", scanned["db"], "--offline",
                     *scanned["stores"], "--missing-from", STORE, "--format", "ibmi", "-o", kit)  # fmt: skip
    assert code == 0
    assert_plain(text)
    lines = text.splitlines()
    assert lines[0] == "Exported (ibmi)"
    assert re.match(r"Kind\s+Subject\s+SHA-256$", lines[1])
    for issued, kind in ((scanned["new_root"], "root"), (scanned["new_ca"], "intermediate")):
        subject = issued.subject.rfc4514_string()
        (row,) = [line for line in lines if subject in line]
        assert re.fullmatch(rf"{kind}\s+{re.escape(subject)}\s+{issued.sha256[:16]}", row), row


def test_report_to_a_file_keeps_each_chain_on_one_line(scanned):
    _, text = run(scanned["dir"], "report", "--db", scanned["db"])
    assert_plain(text)
    rows = [line for line in text.splitlines() if re.match(r"[12]  [0-9a-f]{12}  ", line)]
    assert len(rows) == 2
    for row in rows:
        assert re.search(r"pool\.test <- Piped Output Issuing CA 20\d\d( G2)?$", row), row
