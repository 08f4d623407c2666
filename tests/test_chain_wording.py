"""The words `diff`, the console and alerts use for how two chains differ (certs/compare.py).

Each case is built with the lab PKI the way it happens in the field: a cross-sign (same CA key,
another issuer), a leaf renewed with its key or with a new one, an intermediate replaced by a
different CA, a chain sent in another order, an extra certificate.
"""

from __future__ import annotations

import datetime as dt

import pytest

from certcensus.certs.compare import diff_chains
from certcensus.lab.pki import PKI


@pytest.fixture(scope="module")
def lab():
    pki = PKI(now=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    later = PKI(now=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    root_g1 = pki.root("Root G1", key_type="ec256")
    root_g2 = pki.root("Root G2", key_type="ec256")
    ca = pki.intermediate("Census Cross CA", root_g1, key_type="ec256")
    leaf = pki.leaf(["www.example.test"], ca, key_type="ec256")
    return {
        "pki": pki, "later": later, "root_g1": root_g1, "root_g2": root_g2, "ca": ca,
        "ca_cross": pki.cross_sign(ca, root_g2), "leaf": leaf,
        "leaf_same_key": later.leaf(["www.example.test"], ca, key=leaf.key),
        "leaf_new_key": later.leaf(["www.example.test"], ca, key_type="ec256"),
        "other_ca": pki.intermediate("Other CA", root_g1, key_type="ec256"),
    }  # fmt: skip


def words(lab, a: list[str], b: list[str]):
    return diff_chains([lab[n].der for n in a], [lab[n].der for n in b])


def test_a_cross_signed_intermediate_is_called_a_cross_sign(lab):
    found = words(lab, ["leaf", "ca"], ["leaf", "ca_cross"])
    assert found.summary == (
        "same leaf; same intermediate key (Census Cross CA), cross-signed by Root G2 instead of "
        "Root G1"
    )
    assert [p.change for p in found.positions] == ["same", "cross-signed"]


def test_a_cross_sign_with_its_root_sent_too(lab):
    found = words(lab, ["leaf", "ca", "root_g1"], ["leaf", "ca_cross", "root_g2"])
    assert found.summary.endswith("instead of Root G1; root replaced: Root G1 -> Root G2")


def test_leaf_renewed_with_the_same_key_or_a_new_key(lab):
    same_key = words(lab, ["leaf", "ca"], ["leaf_same_key", "ca"])
    assert same_key.summary == (
        "leaf renewed with the same key (www.example.test, valid until 2027-09-01 instead of "
        "2027-06-01)"
    )
    assert same_key.positions[0].change == "reissued"
    new_key = words(lab, ["leaf", "ca"], ["leaf_new_key", "ca"])
    assert new_key.summary == (
        "leaf renewed with a new key (same name www.example.test, valid until 2027-09-01)"
    )
    assert new_key.positions[0].change == "rekeyed"


def test_an_intermediate_replaced_by_a_different_ca(lab):
    leaf_of_other = lab["pki"].leaf(["www.example.test"], lab["other_ca"], key=lab["leaf"].key)
    lab["leaf_of_other"] = leaf_of_other
    found = words(lab, ["leaf", "ca"], ["leaf_of_other", "other_ca"])
    assert found.summary == (
        "leaf re-issued with the same key (www.example.test, new serial "
        f"{leaf_of_other.certificate.serial_number:x}), issued by Other CA instead of Census "
        "Cross CA; intermediate replaced by a different CA: Census Cross CA -> Other CA"
    )


def test_only_the_order_changed(lab):
    found = words(lab, ["leaf", "ca", "root_g1"], ["leaf", "root_g1", "ca"])
    assert found.summary == (
        "only the order changed: www.example.test, Census Cross CA, Root G1 -> "
        "www.example.test, Root G1, Census Cross CA"
    )
    assert found.only_order_changed


def test_an_extra_certificate_is_an_insertion_not_a_replacement(lab):
    root_added = words(lab, ["leaf", "ca"], ["leaf", "ca", "root_g1"])
    assert root_added.summary == "same leaf; extra certificate added: root Root G1 at position 2"
    inserted = words(lab, ["leaf", "ca"], ["leaf", "ca_cross", "ca"])
    assert inserted.summary == (
        "same leaf; extra certificate added: Census Cross CA cross-signed by Root G2 (the same "
        "key as the one issued by Root G1) at position 1"
    )
    # The intermediate pushed from position 1 to 2 kept its order: it is not "moved".
    assert [p.change for p in inserted.changes] == ["added"]


def test_a_certificate_no_longer_sent(lab):
    found = words(lab, ["leaf", "ca", "root_g1"], ["leaf", "ca"])
    assert found.summary == "same leaf; root Root G1 no longer sent (was at position 2)"


def test_identical_chains(lab):
    assert words(lab, ["leaf", "ca"], ["leaf", "ca"]).summary == "identical chains"
