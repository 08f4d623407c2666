"""The lenient verdict agrees with `openssl verify -partial_chain` on the cases that hurt users.

Each scenario builds a PKI, a served chain (wire order) and a store; the test checks our verdict,
its reason and path, and that openssl reaches the same trusted/untrusted answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from certcensus.lab.pki import PKI, Issued
from certcensus.render.as_json import store_verdict_to_dict
from certcensus.trust import CAPool, Cert, ModeVerdict, Reason, TrustStore, chain_trust_verdicts

from .trust_helpers import openssl_verifies

DAY = dt.timedelta(days=1)


@dataclass
class Scenario:
    served: list[Issued]
    store: list[Issued]
    trusted: bool
    reason: Reason
    path: list[Issued]  # the expected path, leaf first
    problems: set[Reason] = field(default_factory=set)  # reasons that must also be listed
    pool: list[Issued] = field(default_factory=list)


def store_of(certs: list[Issued], name: str = "store") -> TrustStore:
    return TrustStore(name, "test", tuple(Cert.from_der(c.der) for c in certs))


def lenient_of(scenario: Scenario, at: dt.datetime, host: str | None = None) -> ModeVerdict:
    pool = CAPool()
    pool.add_all(Cert.from_der(c.der) for c in scenario.pool)
    verdicts = chain_trust_verdicts(
        [c.der for c in scenario.served], [store_of(scenario.store)], pool=pool, host=host, at=at
    )
    return verdicts["store"].lenient


def simple(pki: PKI) -> Scenario:
    root = pki.root("Simple Root", key_type="ec256")
    inter = pki.intermediate("Simple CA", root, key_type="ec256")
    leaf = pki.leaf("simple.test", inter)  # RSA: the other scenarios use EC
    return Scenario([leaf, inter], [root], True, Reason.TRUSTED, [leaf, inter, root])


def _cross(pki: PKI, expired_cross: bool = False):
    old = pki.root("Old Root", key_type="ec256")
    new = pki.root("New Root", key_type="ec256")
    if expired_cross:
        cross = pki.cross_sign(new, old, not_before=pki.now - 30 * DAY, not_after=pki.now - DAY)
    else:
        cross = pki.cross_sign(new, old)
    inter = pki.intermediate("Issuing CA", new, key_type="ec256")
    leaf = pki.leaf("cross.test", inter, key_type="ec256")
    return old, new, cross, inter, leaf


def cross_signed_old_store(pki: PKI) -> Scenario:
    old, new, cross, inter, leaf = _cross(pki)
    return Scenario([leaf, inter, cross], [old], True, Reason.TRUSTED, [leaf, inter, cross, old])


def cross_signed_new_store(pki: PKI) -> Scenario:
    old, new, cross, inter, leaf = _cross(pki)
    # The store's self-signed New Root anchors the path, although the server sent the cross-sign.
    return Scenario([leaf, inter, cross], [new], True, Reason.TRUSTED, [leaf, inter, new])


def expired_cross_with_alternative(pki: PKI) -> Scenario:
    old, new, cross, inter, leaf = _cross(pki, expired_cross=True)
    return Scenario([leaf, inter, cross], [old, new], True, Reason.TRUSTED, [leaf, inter, new])


def expired_cross_without_alternative(pki: PKI) -> Scenario:
    old, new, cross, inter, leaf = _cross(pki, expired_cross=True)
    return Scenario([leaf, inter, cross], [old], False, Reason.EXPIRED, [leaf, inter, cross, old])


def _two_paths(pki: PKI):
    first = pki.root("First Root", key_type="ec256")
    second = pki.root("Second Root", key_type="ec256")
    inter = pki.intermediate("Shared CA", first, key_type="ec256")
    inter_twin = pki.cross_sign(inter, second)
    leaf = pki.leaf("two.test", inter, key_type="ec256")
    return first, second, inter, inter_twin, leaf


def two_valid_paths(pki: PKI) -> Scenario:
    first, second, inter, inter_twin, leaf = _two_paths(pki)
    # Both roots trusted: the first candidate the server sent wins, as in OpenSSL.
    return Scenario(
        [leaf, inter, inter_twin], [first, second], True, Reason.TRUSTED, [leaf, inter, first]
    )


def two_paths_second_one_trusted_first_sent(pki: PKI) -> Scenario:
    first, second, inter, inter_twin, leaf = _two_paths(pki)
    return Scenario(
        [leaf, inter_twin, inter], [second], True, Reason.TRUSTED, [leaf, inter_twin, second]
    )


def root_sent_by_server(pki: PKI) -> Scenario:
    scenario = simple(pki)
    root = scenario.store[0]
    return Scenario(scenario.served + [root], [root], True, Reason.TRUSTED, scenario.path)


def misordered(pki: PKI) -> Scenario:
    root = pki.root("Order Root", key_type="ec256")
    upper = pki.intermediate("Upper CA", root, key_type="ec256", path_length=1)
    lower = pki.intermediate("Lower CA", upper, key_type="ec256")
    leaf = pki.leaf("order.test", lower, key_type="ec256")
    return Scenario(
        [leaf, upper, lower],
        [root],
        True,
        Reason.WRONG_ORDER,
        [leaf, lower, upper, root],
        {Reason.WRONG_ORDER},
    )


def junk_in_chain(pki: PKI) -> Scenario:
    scenario = simple(pki)
    other_root = pki.root("Unrelated Root", key_type="ec256")
    junk = pki.intermediate("Unrelated CA", other_root, key_type="ec256")
    return Scenario(
        scenario.served + [junk, other_root],
        scenario.store,
        True,
        Reason.EXTRA_CERTIFICATES,
        scenario.path,
        {Reason.EXTRA_CERTIFICATES},
    )


def sha1_v1_legacy_root(pki: PKI) -> Scenario:
    root = pki.root("Legacy Root", sha1=True, version1=True)
    inter = pki.intermediate("Legacy CA", root)
    leaf = pki.leaf("legacy.test", inter)
    return Scenario([leaf, inter], [root], True, Reason.TRUSTED, [leaf, inter, root])


def root_without_key_usage(pki: PKI) -> Scenario:
    root = pki.root("No KU Root", key_type="ec256", key_usage=False)
    inter = pki.intermediate("No KU CA", root, key_type="ec256")
    leaf = pki.leaf("noku.test", inter, key_type="ec256")
    return Scenario([leaf, inter], [root], True, Reason.TRUSTED, [leaf, inter, root])


def missing_root_sent(pki: PKI) -> Scenario:
    scenario = simple(pki)
    root = scenario.store[0]
    return Scenario(
        scenario.served + [root],
        [pki.root("Other Root", key_type="ec256")],
        False,
        Reason.MISSING_ROOT,
        scenario.path,
    )


def missing_root_known_from_pool(pki: PKI) -> Scenario:
    scenario = simple(pki)
    root = scenario.store[0]
    return Scenario(
        scenario.served,
        [pki.root("Other Root", key_type="ec256")],
        False,
        Reason.MISSING_ROOT,
        scenario.path,
        pool=[root],
    )


def missing_intermediate_in_pool(pki: PKI) -> Scenario:
    scenario = simple(pki)
    leaf, inter = scenario.served
    return Scenario(
        [leaf], scenario.store, False, Reason.MISSING_INTERMEDIATE, scenario.path, pool=[inter]
    )


def unknown_issuer(pki: PKI) -> Scenario:
    scenario = simple(pki)
    leaf = scenario.served[0]
    return Scenario([leaf], scenario.store, False, Reason.MISSING_INTERMEDIATE, [leaf])


def expired_leaf(pki: PKI) -> Scenario:
    root = pki.root("Expiry Root", key_type="ec256")
    leaf = pki.leaf(
        "expired.test",
        root,
        key_type="ec256",
        not_before=pki.now - 90 * DAY,
        not_after=pki.now - DAY,
    )
    return Scenario([leaf], [root], False, Reason.EXPIRED, [leaf, root])


def intermediate_in_store(pki: PKI) -> Scenario:
    scenario = simple(pki)
    leaf, inter = scenario.served
    # Partial chain: a store that holds the intermediate anchors there (OpenSSL -partial_chain).
    return Scenario([leaf, inter], [inter], True, Reason.TRUSTED, [leaf, inter])


SCENARIOS = [
    simple,
    cross_signed_old_store,
    cross_signed_new_store,
    expired_cross_with_alternative,
    expired_cross_without_alternative,
    two_valid_paths,
    two_paths_second_one_trusted_first_sent,
    root_sent_by_server,
    misordered,
    junk_in_chain,
    sha1_v1_legacy_root,
    root_without_key_usage,
    missing_root_sent,
    missing_root_known_from_pool,
    missing_intermediate_in_pool,
    unknown_issuer,
    expired_leaf,
    intermediate_in_store,
]


@pytest.mark.parametrize("build", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_lenient_verdict_matches_openssl(build, pki, tmp_path):
    scenario = build(pki)
    lenient = lenient_of(scenario, pki.now)
    assert lenient.trusted is scenario.trusted, lenient
    assert lenient.reason == scenario.reason, lenient
    assert lenient.path == [c.sha256 for c in scenario.path], lenient
    assert scenario.problems <= {p.reason for p in lenient.problems}
    assert openssl_verifies(tmp_path, scenario.store, scenario.served, pki.now) is scenario.trusted


def test_no_backtracking_among_sent_certificates_as_in_openssl(pki, tmp_path):
    """The server sends the path to an untrusted root first and the trusted twin second.

    OpenSSL 3 keeps the first issuer it finds among the sent certificates and fails; so does
    the lenient verdict (it is OpenSSL's). What the kit offers does make openssl accept it.
    """
    from certcensus.trust import missing_cas

    first, second, inter, inter_twin, leaf = _two_paths(pki)
    scenario = Scenario([leaf, inter, inter_twin], [second], False, Reason.MISSING_ROOT, [])
    lenient = lenient_of(scenario, pki.now)
    assert lenient.trusted is False
    assert lenient.reason == Reason.MISSING_ROOT
    assert lenient.path == [leaf.sha256, inter.sha256, first.sha256] or lenient.path[:2] == [
        leaf.sha256,
        inter.sha256,
    ]
    assert openssl_verifies(tmp_path, scenario.store, scenario.served, pki.now) is False
    pool = CAPool()
    pool.add_all(Cert.from_der(c.der) for c in (first, second))
    kit = missing_cas([[c.der for c in scenario.served]], store_of([second]), pool, pki.now)
    assert kit.certificates and kit.complete
    known = {c.sha256: c for c in (first, second, inter, inter_twin)}
    added = [known[c.sha256] for c in kit.certificates]
    assert openssl_verifies(tmp_path / "kit", [second, *added], scenario.served, pki.now)


def test_missing_certificates_are_named_and_complete_the_chain(pki, tmp_path):
    """What `missing` lists is exactly what makes openssl accept the chain."""
    for build in (missing_intermediate_in_pool, missing_root_known_from_pool, missing_root_sent):
        scenario = build(pki)
        lenient = lenient_of(scenario, pki.now)
        known = {c.sha256: c for c in scenario.served + scenario.pool + scenario.path}
        added = [known[sha] for sha in lenient.missing]
        assert added, build.__name__
        # Intermediates go to the untrusted set, roots to the store.
        roots = [c for c in added if c.certificate.subject == c.certificate.issuer]
        inters = [c for c in added if c not in roots]
        assert openssl_verifies(
            tmp_path / build.__name__, scenario.store + roots, scenario.served + inters, pki.now
        )


def test_anchor_is_named_when_the_server_did_not_send_the_root(pki):
    scenario = cross_signed_new_store(pki)
    lenient = lenient_of(scenario, pki.now)
    assert lenient.anchor == scenario.store[0].subject.rfc4514_string()
    assert "New Root" in lenient.detail


def test_missing_intermediate_sentence_names_subject_aki_and_url(pki):
    root = pki.root("Named Root", key_type="ec256")
    inter = pki.intermediate("Named CA", root, key_type="ec256")
    leaf = pki.leaf(
        "named.test", inter, key_type="ec256", aia_ca_issuers="http://127.0.0.1:9/ca.der"
    )
    lenient = lenient_of(Scenario([leaf], [root], False, Reason.MISSING_INTERMEDIATE, []), pki.now)
    detail = lenient.detail
    assert "CN=Named CA" in detail and "http://127.0.0.1:9/ca.der" in detail
    aki = inter.certificate.extensions.get_extension_for_class(
        __import__("cryptography").x509.SubjectKeyIdentifier
    ).value.digest.hex(":")
    assert aki in detail


def test_name_mismatch_makes_both_modes_refuse_when_a_host_is_given(pki, tmp_path):
    scenario = simple(pki)
    verdicts = chain_trust_verdicts(
        [c.der for c in scenario.served], [store_of(scenario.store)], host="other.test", at=pki.now
    )["store"]
    # `openssl verify -verify_hostname other.test` refuses, and so does lenient.
    assert verdicts.lenient.trusted is False
    assert verdicts.lenient.reason == Reason.NAME_MISMATCH
    assert verdicts.strict.trusted is False
    assert verdicts.strict.reason == Reason.NAME_MISMATCH
    assert not openssl_verifies(
        tmp_path, scenario.store, scenario.served, pki.now, host="other.test"
    )
    assert openssl_verifies(tmp_path, scenario.store, scenario.served, pki.now, host="simple.test")
    without_host = chain_trust_verdicts(
        [c.der for c in scenario.served], [store_of(scenario.store)], at=pki.now
    )["store"]
    assert without_host.lenient.trusted is True


def test_strict_accepts_a_modern_chain_and_refuses_the_legacy_root(pki):
    modern = simple(pki)
    verdicts = chain_trust_verdicts(
        [c.der for c in modern.served], [store_of(modern.store)], host="simple.test", at=pki.now
    )["store"]
    assert verdicts.strict.trusted is True
    assert verdicts.strict.path == [c.sha256 for c in modern.path]
    legacy = sha1_v1_legacy_root(pki)
    verdicts = chain_trust_verdicts(
        [c.der for c in legacy.served], [store_of(legacy.store)], host="legacy.test", at=pki.now
    )["store"]
    assert verdicts.lenient.trusted is True
    assert verdicts.strict.trusted is False
    assert verdicts.strict.reason == Reason.POLICY


def test_weak_key_is_reported(pki):
    root = pki.root("Weak Root", key_type="ec256")
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = pki.leaf("weak.test", root, key=weak)
    lenient = lenient_of(Scenario([leaf], [root], True, Reason.WEAK_KEY, []), pki.now)
    assert lenient.trusted is True
    assert lenient.reason == Reason.WEAK_KEY


def test_several_stores_get_separate_verdicts(pki):
    scenario = simple(pki)
    stores = [
        store_of(scenario.store, "corp"),
        store_of([pki.root("X", key_type="ec256")], "other"),
    ]
    verdicts = chain_trust_verdicts([c.der for c in scenario.served], stores, at=pki.now)
    assert verdicts["corp"].lenient.trusted is True
    assert verdicts["other"].lenient.trusted is False
    rendered = store_verdict_to_dict(verdicts["corp"])  # the JSON contract
    assert set(rendered) == {"lenient", "strict"}
    assert set(rendered["lenient"]) >= {"trusted", "reason", "path", "missing", "problems"}


def test_sha1_signed_intermediate_verifies_and_is_flagged_weak(pki, tmp_path):
    """cryptography refuses SHA-1 in verify_directly_issued_by; the fallback must accept it."""
    from certcensus.lab.pki import _resign_legacy

    root = pki.root("SHA-1 Era Root")
    modern = pki.intermediate("SHA-1 Era CA", root)
    inter = Issued(
        _resign_legacy(modern.certificate, root.key, version1=False, sha1=True), modern.key
    )
    leaf = pki.leaf("sha1.test", inter)
    scenario = Scenario(
        [leaf, inter],
        [root],
        True,
        Reason.WEAK_SIGNATURE,
        [leaf, inter, root],
        {Reason.WEAK_SIGNATURE},
    )
    lenient = lenient_of(scenario, pki.now)
    assert lenient.trusted is True
    assert lenient.reason == Reason.WEAK_SIGNATURE
    assert lenient.path == [c.sha256 for c in scenario.path]
    assert openssl_verifies(tmp_path, scenario.store, scenario.served, pki.now)


def test_forged_signature_is_not_accepted(pki, tmp_path):
    """A root with the right name but another key must not anchor the chain."""
    root = pki.root("Forged Root", key_type="ec256")
    impostor = pki.root("Forged Root", key_type="ec256")  # same subject, other key
    inter = pki.intermediate("Forged CA", impostor, key_type="ec256")
    leaf = pki.leaf("forged.test", inter, key_type="ec256")
    scenario = Scenario([leaf, inter], [root], False, Reason.MISSING_ROOT, [leaf, inter])
    lenient = lenient_of(scenario, pki.now)
    assert lenient.trusted is False
    assert openssl_verifies(tmp_path, scenario.store, scenario.served, pki.now) is False
