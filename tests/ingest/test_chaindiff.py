"""Field-by-field differences between two certificates and the plain-words summary."""

from __future__ import annotations

import datetime as dt

from certcensus.certs.compare import diff_chains
from certcensus.certs.fields import certificate_field_differences
from certcensus.cli.ingest import parse_size
from certcensus.lab.pki import PKI


def test_renewed_leaf_differs_in_serial_validity_key_sans_and_aia(two_chains):
    pki = PKI(now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    renewed = pki.leaf(["localhost", "www.localhost"], two_chains.ca, key_type="ec256",
                       aia_ca_issuers="http://127.0.0.1/ca.der")  # fmt: skip
    names = [d.name for d in certificate_field_differences(two_chains.leaf.der, renewed.der)]
    assert {"serial", "validity", "key", "subject key identifier", "authority information access",
            "subject alternative names"} <= set(names)  # fmt: skip
    assert "subject" not in names and "issuer" not in names and "policies" not in names
    by_name = {d.name: d for d in certificate_field_differences(two_chains.leaf.der, renewed.der)}
    assert by_name["subject alternative names"].a == "localhost, 127.0.0.1"
    assert by_name["subject alternative names"].b == "localhost, www.localhost"
    assert by_name["authority information access"].a == "(none)"
    summary = diff_chains(
        [two_chains.leaf.der, two_chains.ca.der], [renewed.der, two_chains.ca.der]
    ).summary
    assert summary == "leaf renewed with a new key (same name localhost, valid until 2031-01-01)"


def test_identical_chains_say_so(two_chains):
    ders = [c.der for c in two_chains.chain_a]
    assert diff_chains(ders, ders).summary == "identical chains"


def test_sizes():
    assert parse_size("10M") == 10 * 1024 * 1024
    assert parse_size("512k") == 512 * 1024
    assert parse_size("4096") == 4096
    assert parse_size("1GiB") == 1024**3
