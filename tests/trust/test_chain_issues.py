"""Chain issues, the SSL Labs way, for every chain of every census: each kind found where it
is and not where it is not, and shown by report (console, JSON, HTML) with or without stores."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certcensus.trust import CAPool, Cert
from certcensus.trust.chain_issues import Issue, chain_issues

from ..export.export_helpers import write_census_db

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def lab(pki):
    root = pki.root("Issues Root", key_type="ec256")
    inter = pki.intermediate("Issues CA", root, key_type="ec256", path_length=1)
    lower = pki.intermediate("Issues Lower CA", inter, key_type="ec256")
    leaf = pki.leaf("issues.test", lower, key_type="ec256")
    stranger = pki.root("Stranger Root", key_type="ec256")
    return {"root": root, "inter": inter, "lower": lower, "leaf": leaf, "stranger": stranger}


def kinds(ders, issuers=None) -> list[Issue]:
    return chain_issues(ders, issuers=issuers).kinds


def test_a_good_chain_has_no_issues(lab):
    report = chain_issues([lab["leaf"].der, lab["lower"].der, lab["inter"].der])
    assert report.kinds == []
    assert report.root_sent is None
    assert report.ends_at_issuer == "CN=Issues Root,O=certcensus lab"


def test_order_anchor_extra_and_duplicates(lab):
    leaf, lower, inter, root = (lab[k].der for k in ("leaf", "lower", "inter", "root"))
    assert kinds([leaf, inter, lower]) == [Issue.INCORRECT_ORDER]
    sent_root_out_of_order = chain_issues([leaf, root, lower, inter])
    assert Issue.INCORRECT_ORDER in sent_root_out_of_order.kinds
    assert Issue.CONTAINS_ANCHOR in sent_root_out_of_order.kinds
    # The root was sent (out of order): the report must not say it was not.
    assert sent_root_out_of_order.root_sent == "CN=Issues Root,O=certcensus lab"
    assert sent_root_out_of_order.ends_at_issuer is None
    assert kinds([leaf, lower, inter, lab["stranger"].der]) == [Issue.EXTRA_CERTIFICATES]
    assert kinds([leaf, lower, lower, inter]) == [Issue.DUPLICATE_CERTIFICATES]


def test_incomplete_needs_what_the_stores_and_pool_know(lab):
    leaf, lower, inter = lab["leaf"].der, lab["lower"].der, lab["inter"].der
    assert kinds([leaf, lower]) == []  # alone, nobody can tell
    pool = CAPool()
    pool.add_all(Cert.from_der(d) for d in (inter, lab["root"].der))
    report = chain_issues([leaf, lower], issuers=lambda c: pool.with_subject(c.issuer_key))
    assert report.kinds == [Issue.INCOMPLETE]
    assert "Issues CA" in report.issues[0].detail
    # Only the root missing is not incomplete: clients have their own roots.
    assert kinds([leaf, lower, inter], lambda c: pool.with_subject(c.issuer_key)) == []


def test_expired_ca_sha1_and_weak_key(pki):
    now = dt.datetime.now(dt.UTC)
    root = pki.root("Old Issues Root", sha1=True)
    expired = pki.intermediate(
        "Expired Issues CA", root, not_before=now - 90 * DAY, not_after=now - DAY
    )
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = pki.leaf("old.test", expired, key=weak_key)
    found = kinds([leaf.der, expired.der, root.der])
    assert Issue.EXPIRED_CA in found and Issue.WEAK_KEY in found
    assert Issue.CONTAINS_ANCHOR in found
    assert Issue.SHA1_SIGNATURE not in found  # a root's own signature does not matter
    from certcensus.lab.pki import Issued, _resign_legacy

    sha1 = Issued(
        _resign_legacy(expired.certificate, root.key, version1=False, sha1=True), expired.key
    )
    assert Issue.SHA1_SIGNATURE in kinds([leaf.der, sha1.der])
    future = pki.intermediate("Future CA", root, not_before=now + DAY, not_after=now + 90 * DAY)
    assert Issue.NOT_YET_VALID_CA in kinds([pki.leaf("f.test", future).der, future.der])


def test_unparseable_certificate_is_a_malformed_issue(lab):
    report = chain_issues([lab["leaf"].der, b"\x30\x03\x02\x01\x00"])
    assert report.kinds == [Issue.MALFORMED_CERTIFICATE]
    assert "certificate #1" in report.issues[0].detail


def test_report_shows_chain_issues_with_and_without_stores(cli, lab, tmp_path):
    leaf, lower, inter, root = (lab[k].der for k in ("leaf", "lower", "inter", "root"))
    db = write_census_db(tmp_path / "c.sqlite", {"issues.test:443": [[leaf, root, lower, inter]]})
    plain = cli("report", "--db", db, "--json")
    (chain,) = plain.json["targets"][0]["chains"]
    assert [i["kind"] for i in chain["chain_issues"]["issues"]] == [
        "incorrect-order",
        "contains-anchor",
    ]
    assert chain["chain_issues"]["root_sent"] == "CN=Issues Root,O=certcensus lab"
    text = cli("report", "--db", db).out
    assert "chain issue: incorrect-order" in text and "chain issue: contains-anchor" in text
    assert "root not sent" not in text
    (tmp_path / "root.pem").write_bytes(lab["root"].pem)
    stores = ["--trust-store", tmp_path / "root.pem", "--offline", "--cache-dir", tmp_path / "c"]
    db2 = write_census_db(tmp_path / "d.sqlite", {"issues.test:443": [[leaf, lower]]})
    # The pool learns the intermediate from the first census; the second needs it.
    cli("report", "--db", db, *stores)
    judged = cli("report", "--db", db2, "--json", *stores)
    (chain,) = judged.json["targets"][0]["chains"]
    assert [i["kind"] for i in chain["chain_issues"]["issues"]] == ["incomplete"]
    html = cli("report", "--db", db2, "--format", "html", "-o", tmp_path / "r.html", *stores)
    assert html.code == 0
    page = (tmp_path / "r.html").read_text()
    assert 'data-issue="incomplete"' in page and "Issues CA" in page
