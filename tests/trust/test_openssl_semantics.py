"""The cases the issue names, one by one, each checked against `openssl verify` itself: key
rollover, ECDSA-SHA1, the path length limit, name constraints, EKU, pathLenConstraint, unknown
critical extensions; strict reasons that do not depend on the verifier's wording; and no
certificate, however broken, raising out of the analysis."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcensus.lab import forge as F
from certcensus.trust import CAPool, Cert, Reason, TrustStore, chain_trust_verdicts, missing_cas
from certcensus.trust.chain_issues import Issue, chain_issues
from certcensus.trust.signatures import signature_verifies
from certcensus.trust.strict import StrictResult

from .trust_helpers import openssl_verifies_pems

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def pem(der: bytes) -> bytes:
    from certcensus.certs.info import pem_of

    return pem_of(der).encode()


def ca(cn, issuer_name, key, issuer_key, serial, **options) -> bytes:
    return F.forge(F.Spec(F.name(cn) if isinstance(cn, str) else cn, issuer_name, key, issuer_key,
                          serial, NOW - DAY, NOW + 900 * DAY, **options))  # fmt: skip


def leaf(issuer_name, issuer_key, serial, names=("www.example.test",), **options) -> bytes:
    options.setdefault("eku", F.server_auth())
    return F.forge(
        F.Spec(F.name(names[0]), issuer_name, F.ring_key("ec256", 2), issuer_key, serial,
               NOW - DAY, NOW + 90 * DAY, ca=None, sans=list(names), **options)
    )  # fmt: skip


def lenient(served, store, pool=(), host=None):
    pool_object = CAPool()
    pool_object.add_all(Cert.from_der(d) for d in pool)
    trust = TrustStore("store", "test", tuple(Cert.from_der(d) for d in store))
    return chain_trust_verdicts(served, [trust], pool=pool_object, host=host, at=NOW)["store"]


def openssl(tmp_path, served, store, host=None) -> bool:
    return openssl_verifies_pems(
        tmp_path, [pem(d) for d in store], [pem(d) for d in served], NOW, host
    )


def _rollover():
    """RFC 4210 4.4 key rollover: the old root key signs the new key under the same name."""
    old, new = F.ring_key("ec256", 3), F.ring_key("rsa2048", 3)
    root_name = F.name("Rollover Root")
    old_root = ca(root_name, root_name, old, old, 100)
    old_with_new = ca(root_name, root_name, new, old, 101)  # self-issued, not self-signed
    inter = ca("Rollover CA", root_name, F.ring_key("ec256", 4), new, 102)
    served = [leaf(F.name("Rollover CA"), F.ring_key("ec256", 4), 103), inter, old_with_new]
    return old_root, old_with_new, inter, served


def test_self_issued_rollover_certificate_is_an_intermediate(tmp_path):
    old_root, old_with_new, inter, served = _rollover()
    link = Cert.from_der(old_with_new)
    assert link.is_self_issued and not link.is_root
    verdict = lenient(served, [old_root])
    assert verdict.lenient.trusted is True
    assert verdict.lenient.path == [Cert.from_der(d).sha256 for d in [*served, old_root]]
    assert openssl(tmp_path, served, [old_root])
    issues = chain_issues(served, NOW)
    assert Issue.CONTAINS_ANCHOR not in issues.kinds  # the rollover link is not a root
    assert issues.ends_at_issuer == "CN=Rollover Root,O=certcensus lab"
    # A client without the old root: the kit holds the old root, never the link as a root.
    empty = [
        ca(
            "Elsewhere Root",
            F.name("Elsewhere Root"),
            F.ring_key("ec256", 6),
            F.ring_key("ec256", 6),
            9,
        )
    ]
    refused = lenient(served, empty, pool=[old_root])
    assert refused.lenient.reason == Reason.MISSING_ROOT
    assert "Rollover Root" in refused.lenient.detail
    store = TrustStore("store", "t", tuple(Cert.from_der(d) for d in empty))
    pool = CAPool()
    pool.add_all([Cert.from_der(old_root)])
    kit = missing_cas([served], store, pool, NOW)
    assert [c.sha256 for c in kit.certificates] == [Cert.from_der(old_root).sha256]
    assert all(c.sha256 != link.sha256 for c in kit.certificates if c.is_root)
    assert openssl(tmp_path / "kit", served, empty + [old_root])


def test_ecdsa_with_sha1_verifies_and_is_flagged_weak(tmp_path):
    root_key = F.ring_key("ec256", 0)
    root_name = F.name("SHA-1 EC Root")
    root = ca(root_name, root_name, root_key, root_key, 200)
    inter = ca("SHA-1 EC CA", root_name, F.ring_key("ec384", 0), root_key, 201, hash="sha1")
    served = [leaf(F.name("SHA-1 EC CA"), F.ring_key("ec384", 0), 202), inter]
    # cryptography gives no signature parameters for ecdsa-with-SHA1; the check builds them.
    assert Cert.from_der(inter).certificate.signature_algorithm_parameters is None
    assert signature_verifies(Cert.from_der(inter), Cert.from_der(root))
    verdict = lenient(served, [root])
    assert verdict.lenient.trusted is True
    assert verdict.lenient.reason == Reason.WEAK_SIGNATURE
    assert openssl(tmp_path, served, [root])
    assert Issue.SHA1_SIGNATURE in chain_issues(served, NOW).kinds
    assert verdict.strict.trusted is False and verdict.strict.reason == Reason.WEAK_SIGNATURE


def test_a_path_longer_than_the_limit_is_said_to_be_too_long():
    keys = [F.ring_key("ec256", i % 8) for i in range(13)]
    root_name = F.name("Deep Root")
    root = ca(root_name, root_name, keys[0], keys[0], 300)
    cas, issuer_name, issuer_key = [], root_name, keys[0]
    for depth in range(12):
        name = F.name(f"Deep CA {depth}")
        cas.append(ca(name, issuer_name, keys[depth + 1], issuer_key, 301 + depth, aki="none",
                      ski=False))  # fmt: skip
        issuer_name, issuer_key = name, keys[depth + 1]
    served = [leaf(issuer_name, issuer_key, 400, aki="none")] + cas[::-1]
    verdict = lenient(served, [root]).lenient
    assert verdict.trusted is False
    assert verdict.reason == Reason.PATH_TOO_LONG
    assert "neither sent" not in verdict.detail


def _one_ca(tmp_path, ca_options=None, leaf_options=None, host=None):
    key, root_name = F.ring_key("ec256", 0), F.name("Check Root")
    root = ca(root_name, root_name, key, key, 500)
    ca_key = F.ring_key("ec256", 1)
    inter = ca("Check CA", root_name, ca_key, key, 501, **(ca_options or {}))
    served = [leaf(F.name("Check CA"), ca_key, 502, **(leaf_options or {})), inter]
    return lenient(served, [root], host=host).lenient, openssl(tmp_path, served, [root], host)


@pytest.mark.parametrize(
    "ca_options, leaf_options, reason",
    [
        ({"name_constraints": x509.NameConstraints([x509.DNSName("corp.test")], None)}, {},
         Reason.NAME_CONSTRAINTS),
        ({}, {"eku": ("1.3.6.1.5.5.7.3.2",)}, Reason.WRONG_PURPOSE),  # clientAuth only
        ({}, {"eku": ("2.5.29.37.0",)}, Reason.WRONG_PURPOSE),  # anyEKU alone: OpenSSL refuses
        ({"eku": ("1.3.6.1.5.5.7.3.2",)}, {}, Reason.WRONG_PURPOSE),  # a CA for clients only
        ({"critical_unknown": True}, {}, Reason.CRITICAL_EXTENSION),
        ({"key_usage": "no-cert-sign"}, {}, Reason.NOT_A_CA),
        ({"ca": None}, {}, Reason.NOT_A_CA),
    ],
    ids=["name-constraints", "leaf-client-auth", "leaf-any-eku", "ca-client-auth",
         "critical-unknown", "no-keycertsign", "no-basic-constraints"],
)  # fmt: skip
def test_what_openssl_enforces_lenient_enforces(tmp_path, ca_options, leaf_options, reason):
    verdict, reference = _one_ca(tmp_path, ca_options, leaf_options)
    assert reference is False
    assert verdict.trusted is False and verdict.reason == reason, verdict.detail


def test_path_length_constraint(tmp_path):
    key, root_name = F.ring_key("ec256", 0), F.name("Len Root")
    root = ca(root_name, root_name, key, key, 600)
    upper = ca("Len Upper", root_name, F.ring_key("ec256", 1), key, 601, path_length=0)
    lower = ca(
        "Len Lower", F.name("Len Upper"), F.ring_key("ec256", 2), F.ring_key("ec256", 1), 602
    )
    served = [leaf(F.name("Len Lower"), F.ring_key("ec256", 2), 603), lower, upper]
    verdict = lenient(served, [root]).lenient
    assert verdict.reason == Reason.PATH_LENGTH and not openssl(tmp_path, served, [root])


def test_host_is_checked_only_when_given(tmp_path):
    verdict, reference = _one_ca(tmp_path / "a", host="www.example.test")
    assert verdict.trusted and reference
    verdict, reference = _one_ca(tmp_path / "b", host="nope.example.test")
    assert verdict.reason == Reason.NAME_MISMATCH and not reference
    verdict, reference = _one_ca(tmp_path / "c", host=None)
    assert verdict.trusted and reference


@pytest.mark.parametrize("wording", ["", "a message no release ever printed", "subjectAltName"])
def test_strict_reason_does_not_depend_on_the_verifiers_wording(monkeypatch, wording):
    """A cryptography upgrade that rewords its errors cannot change a strict verdict."""
    import certcensus.trust.strict as strict_module

    key, root_name = F.ring_key("rsa2048", 0), F.name("Wording Root")
    root = ca(root_name, root_name, key, key, 700)
    sha1_ca = ca("Wording CA", root_name, F.ring_key("ec256", 1), key, 701, hash="sha1")
    served = [leaf(F.name("Wording CA"), F.ring_key("ec256", 1), 702), sha1_ca]
    real = lenient(served, [root]).strict
    monkeypatch.setattr(
        strict_module,
        "verify_strictly",
        lambda served, store, host, at: StrictResult(False, [], wording, host),
    )
    reworded = lenient(served, [root]).strict
    assert real.reason == reworded.reason == Reason.WEAK_SIGNATURE
    unknown = lenient(served, [ca("Other", F.name("Other"), key, key, 703)]).strict
    assert unknown.reason == Reason.MISSING_ROOT


@functools.cache
def _fuzz_pki() -> tuple[bytes, bytes]:
    key, root_name = F.ring_key("ec256", 0), F.name("Fuzz Root")
    return ca(root_name, root_name, key, key, 800), leaf(root_name, key, 801)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_no_certificate_raises_out_of_the_analysis(data):
    """Bytes flipped, cut or inserted anywhere in a certificate: a classified verdict, never
    an exception, and the other chains' verdicts unchanged."""
    root, good = _fuzz_pki()
    der = bytearray(data.draw(st.sampled_from([good, root])))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(der) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            der[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del der[position : position + data.draw(st.integers(1, 8))]
        else:
            der[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    broken = bytes(der) or b"\x00"
    trust = TrustStore("store", "t", (Cert.from_der(root),))
    verdicts = chain_trust_verdicts([broken, root], [trust], at=NOW)
    assert verdicts["store"].lenient.reason in Reason
    assert chain_trust_verdicts([good], [trust], at=NOW)["store"].lenient.trusted
    issues = chain_issues([good, broken], NOW)
    assert isinstance(issues.kinds, list)
    missing_cas([[broken], [good]], trust, None, NOW)
