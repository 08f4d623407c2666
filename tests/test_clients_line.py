""" "What this means for your clients": one line per trust store, from a real scan of a lab pool
judged against real store files; said in the console, the JSON and the HTML report, and not
at all when no store is given."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from certcensus.lab.pki import PKI
from certcensus.lab.pool import Backend, running_pool
from certcensus.model.chain import chain_fingerprint


@pytest.fixture(scope="module")
def ca_change(tmp_path_factory):
    """92% of connections under Root G1, 8% under Root G2, and two client stores."""
    pki = PKI()
    g1, g2 = pki.root("Root G1", key_type="ec256"), pki.root("Root G2", key_type="ec256")
    ca1 = pki.intermediate("Old CA", g1, key_type="ec256")
    ca2 = pki.intermediate("New CA", g2, key_type="ec256")
    names = ["pool.test", "127.0.0.1"]
    old = Backend("old", pki.leaf(names, ca1, key_type="ec256"), [ca1], weight=92)
    new = Backend("new", pki.leaf(names, ca2, key_type="ec256"), [ca2], weight=8)
    directory = tmp_path_factory.mktemp("stores")
    (directory / "g1.pem").write_bytes(g1.pem)
    (directory / "both.pem").write_bytes(g1.pem + g2.pem)
    return {"backends": [old, new], "dir": directory, "pki": pki}


def scan(cli, db, port, *options):
    return cli("scan", f"127.0.0.1:{port}", "--starttls", "none", "--rate", "0", "--count", 500,
               "--db", db, *options)  # fmt: skip


def test_the_clients_line_in_console_json_and_html(cli, db, ca_change, tmp_path):
    stores = ("--trust-store", f"client={ca_change['dir'] / 'g1.pem'}",
              "--trust-store", f"bundle={ca_change['dir'] / 'both.pem'}")  # fmt: skip
    with running_pool(ca_change["backends"], seed=18) as pool:
        shown = scan(cli, db, pool.port, *stores)
    assert shown.code == 0, shown.err
    as_json = cli("report", "--db", db, "--json", *stores).json["targets"][0]
    share = next(
        c["share"] for c in as_json["chains"]
        if c["id"] == chain_fingerprint(ca_change["backends"][1].wire_ders)
    )  # fmt: skip
    about = f"about {round(share * 100)}% of connections"
    line = (
        f"clients that trust only Root G1 (client) fail on {about} (chain #2); importing "
        "Root G2 fixes it."
    )
    assert "  What this means for your clients:\n" in shown.out
    assert f"    {line}\n" in shown.out
    assert (
        "    clients that trust only Root G1 and Root G2 (bundle) accept every chain served.\n"
        in shown.out
    )
    client, bundle = as_json["clients"]
    assert client == {
        "store": "client", "failing_chains": [2], "failing_share": round(share, 6),
        "import": ["Root G2"], "fixes_chains": [2], "unfixable": [], "strict_only_chains": [],
        "sentence": line,
    }  # fmt: skip
    assert bundle["failing_chains"] == [] and bundle["sentence"].endswith(
        "accept every chain served."
    )
    html = cli("report", "--db", db, "--format", "html", "-o", tmp_path / "r.html", *stores)
    assert html.code == 0, html.err
    page = (tmp_path / "r.html").read_text()
    assert "<b>What this means for your clients:</b>" in page
    assert f'<li class="failing">{line}</li>' in page


def test_no_trust_store_no_clients_line(cli, db, ca_change):
    with running_pool(ca_change["backends"], seed=18) as pool:
        shown = scan(cli, db, pool.port)
    assert shown.code == 0, shown.err
    assert "What this means for your clients" not in shown.out
    assert "clients" not in cli("report", "--db", db, "--json").json["targets"][0]


def test_an_expired_leaf_cannot_be_fixed_and_strict_clients_are_named(cli, db, tmp_path):
    """Chain #2's leaf has expired: no CA import helps. Chain #1 ends at a root without
    keyUsage, which lenient clients (OpenSSL, Java) accept and the web-PKI verifier refuses."""
    pki = PKI()
    root = pki.root("Old Style Root", key_type="ec256", key_usage=False)
    ca = pki.intermediate("Issuing CA", root, key_type="ec256")
    names = ["pool.test", "127.0.0.1"]
    expired = pki.leaf(names, ca, key_type="ec256", not_before=pki.now - dt.timedelta(days=400),
                       not_after=pki.now - dt.timedelta(days=2))  # fmt: skip
    backends = [Backend("fine", pki.leaf(names, ca, key_type="ec256"), [ca], weight=3),
                Backend("expired", expired, [ca], weight=1)]  # fmt: skip
    (tmp_path / "root.pem").write_bytes(root.pem)
    with running_pool(backends, seed=5) as pool:
        shown = scan(cli, db, pool.port, "--trust-store", f"legacy={tmp_path / 'root.pem'}")
    line = re.search(r"What this means for your clients: (.*)\n", shown.out)
    assert line, shown.out
    assert re.fullmatch(
        r"clients that trust only Old Style Root \(legacy\) fail on about \d+% of connections "
        r'\(chain #2\); no CA import fixes chain #2 \(leaf "pool\.test" \([0-9a-f]{16}\) '
        r"expired .+\); strictly "
        r"verifying clients \(web PKI\) with the same store also refuse chain #1\.",
        line.group(1),
    ), line.group(1)
