"""Property tests: whatever a server sends, the engine ends in a certificate list or a classified
refusal (`CaptureError` with an outcome of the shared vocabulary), never another exception, and
never asks for more bytes after the server has closed."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcensus.model.outcomes import Outcome
from certcensus.probe.native import CaptureError, ChainCapture
from certcensus.probe.native.clients import ALL_SPECS

from .peer import Tls13Server, records, tls12_flight

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PROFILES = st.sampled_from(sorted(ALL_SPECS))


def run_to_the_end(capture: ChainCapture, data: bytes, cuts: list[int]) -> None:
    """Feed `data` in reads cut at `cuts`, then the close; check the engine's contract."""
    try:
        start = 0
        for cut in sorted(set(cuts)) + [len(data)]:
            if cut <= start:
                continue
            capture.receive_data(data[start:cut])
            start = cut
            if capture.done:
                break
        if not capture.done:
            capture.receive_data(b"")  # the server closed: that must end it
            raise AssertionError("the engine accepted the close without a result")
    except CaptureError as error:
        assert isinstance(error.outcome, Outcome) and error.outcome is not Outcome.OK
        assert error.detail and "\n" not in error.detail
        return
    assert capture.done
    assert all(isinstance(der, bytes) and der for der in capture.result.certificates)


@FUZZ
@given(
    profile=PROFILES, data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=5)
)
def test_garbage_is_classified(profile, data, cuts):
    capture = ChainCapture(ALL_SPECS[profile], "fuzz.test")
    capture.initiate()
    run_to_the_end(capture, data, cuts)


@FUZZ
@given(
    content_type=st.sampled_from([20, 21, 22, 23]),
    version=st.sampled_from([0x0300, 0x0301, 0x0303, 0x0304]),
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=4),
)
def test_garbage_inside_well_framed_records_is_classified(content_type, version, body, cuts):
    capture = ChainCapture(ALL_SPECS["default"], None)
    capture.initiate()
    run_to_the_end(capture, records(content_type, body, version=version) * 2, cuts)


@st.composite
def damaged(draw, flight: bytes):
    """A real flight truncated, with a few bytes flipped, or both."""
    data = bytearray(flight)
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] ^= draw(st.integers(1, 255))
    end = draw(st.integers(0, len(data)))
    return bytes(data[:end])


@FUZZ
@given(
    seed=st.data(),
    record_size=st.sampled_from([5, 64, 16384]),
    middlebox_ccs=st.integers(0, 2),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
)
def test_damaged_tls13_flights_are_classified(chain_ders, seed, record_size, middlebox_ccs, cuts):
    capture = ChainCapture(ALL_SPECS["default"], None)
    flight = Tls13Server(chain_ders, record_size=record_size, middlebox_ccs=middlebox_ccs).respond(
        capture.initiate()
    )
    run_to_the_end(capture, seed.draw(damaged(flight)), cuts)


@FUZZ
@given(
    seed=st.data(),
    profile=st.sampled_from(["tls1.2", "openssl-1.0.2", "android-7", "java-8"]),
    record_size=st.sampled_from([3, 100, 16384]),
    cuts=st.lists(st.integers(0, 3000), max_size=6),
)
def test_damaged_tls12_flights_are_classified(chain_ders, seed, profile, record_size, cuts):
    capture = ChainCapture(ALL_SPECS[profile], None)
    capture.initiate()
    flight = tls12_flight(
        chain_ders,
        suite=0xC02F,
        record_size=record_size,
        server_extensions=[(5, b"")],
        ocsp=b"\x30\x00",
    )
    run_to_the_end(capture, seed.draw(damaged(flight)), cuts)
