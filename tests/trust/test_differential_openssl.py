"""The lenient verdict against the real `openssl verify`, on a few hundred random chains.

Each case (certcensus/lab/differential.py) is a random PKI, served chain, store, time and host;
both verdicts are computed with the same options (-partial_chain -purpose sslserver -attime,
-verify_hostname or -verify_ip only when a host is given). They must agree on trusted or not,
and when both refuse, the verdict must name the fault OpenSSL stopped at. Seeded: the same
cases every run. bench/bench_differential.py runs ten thousand.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcensus.lab.differential import random_case
from certcensus.lab.reference import reasons_agree, run_lenient, run_openssl

from ..servers import require

NOW = dt.datetime(2031, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def openssl() -> str:
    return require("openssl")


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rng=st.randoms(use_true_random=False))
def test_lenient_agrees_with_openssl_verify(openssl, rng):
    case = random_case(rng, NOW)
    reference = run_openssl(case, openssl)
    lenient = run_lenient(case)  # must not raise, whatever the case holds
    assert lenient.trusted is reference.trusted, (case.features, reference, lenient.detail)
    assert reasons_agree(reference, lenient), (case.features, reference, lenient.problems)
