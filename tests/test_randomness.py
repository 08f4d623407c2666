"""Non-random balancers are caught; random ones are (essentially) never accused."""

import json
import random

import pytest

from certcensus.census.assessment import ProbeSample, assess_target
from certcensus.census.coverage import max_missed_share
from certcensus.census.randomness import assess, randomness_report, runs_finding
from certcensus.census.tails import chi_square_survival, exact_runs_distribution


def kinds(report):
    return {finding.kind for finding in report.findings}


def random_sources(rng, n):
    ports = [rng.randrange(1024, 65536) for _ in range(n)]
    addresses = [rng.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3"]) for _ in range(n)]
    times = [i * 0.05 + rng.random() * 0.01 for i in range(n)]
    return ports, addresses, times


def test_chi_square_survival_matches_tables():
    # Critical values from standard tables: P(chi2_df >= x).
    assert chi_square_survival(3.841, 1) == pytest.approx(0.05, abs=2e-4)
    assert chi_square_survival(11.070, 5) == pytest.approx(0.05, abs=2e-4)
    assert chi_square_survival(23.209, 10) == pytest.approx(0.01, abs=1e-4)
    assert chi_square_survival(2.706, 1) == pytest.approx(0.10, abs=2e-4)
    assert chi_square_survival(7.815, 3) == pytest.approx(0.05, abs=2e-4)
    assert chi_square_survival(49.802, 35) == pytest.approx(0.05, abs=2e-4)
    assert chi_square_survival(0.0, 3) == 1.0


@pytest.mark.parametrize("backends", [2, 3])
def test_round_robin_is_reported_as_periodic(backends):
    sequence = [f"chain-{i % backends}" for i in range(60)]
    coverage, report = assess(sequence)
    assert "periodic" in kinds(report)
    finding = next(f for f in report.findings if f.kind == "periodic")
    assert finding.statistic == backends
    assert f"every {backends} connections" in finding.words
    assert not report.random_looking
    assert not coverage.applicable
    sentence = coverage.sentence("connections to 192.0.2.10")
    assert sentence.startswith(
        "No confidence statement for connections to 192.0.2.10: chains repeat"
    )
    assert "no chain served" not in sentence


def test_round_robin_with_a_little_noise_is_still_periodic():
    rng = random.Random(7)
    sequence = [f"chain-{i % 3}" for i in range(300)]
    for i in rng.sample(range(300), 4):  # another client stole a few turns
        sequence[i] = f"chain-{rng.randrange(3)}"
    assert "periodic" in kinds(randomness_report(sequence))


def test_round_robin_over_backends_sharing_a_chain_is_periodic():
    # Three backends, two of which serve the same chain: A A B A A B ...
    sequence = ["A", "A", "B"] * 40
    assert "periodic" in kinds(randomness_report(sequence))


def test_one_chain_is_never_a_finding():
    report = randomness_report(["A"] * 500, source_ports=list(range(500)))
    assert report.random_looking
    assert report.untested == ["only one chain seen: nothing to test"]


def test_too_few_probes_are_not_tested():
    report = randomness_report(["A", "B"] * 5)
    assert report.random_looking
    assert "too few" in report.untested[0]


def test_parity_of_the_source_port_is_detected():
    rng = random.Random(3)
    ports = [rng.randrange(1024, 65536) for _ in range(200)]
    sequence = ["A" if port % 2 else "B" for port in ports]
    report = randomness_report(sequence, source_ports=ports)
    assert kinds(report) == {"source-port"}
    assert "source port mod 2" in report.findings[0].words
    assert report.findings[0].p_value < 1e-10


def test_source_port_mod_3_is_detected():
    rng = random.Random(4)
    ports = [rng.randrange(1024, 65536) for _ in range(300)]
    sequence = [f"chain-{port % 3}" for port in ports]
    assert "source-port" in kinds(randomness_report(sequence, source_ports=ports))


def test_hash_of_the_whole_port_is_detected_when_ports_repeat():
    rng = random.Random(5)
    pool = [rng.randrange(1024, 65536) for _ in range(40)]
    ports = [rng.choice(pool) for _ in range(400)]
    sequence = [f"chain-{hash(str(port)) % 3}" for port in ports]
    report = randomness_report(sequence, source_ports=ports)
    assert "source-port" in kinds(report)


def test_a_mostly_port_dependent_choice_is_detected_by_chi_square():
    # 85% of the time the chain follows port parity, otherwise it is random: not exact, but
    # a large dependence.
    rng = random.Random(6)
    ports = [rng.randrange(1024, 65536) for _ in range(400)]
    sequence = [
        ("A" if port % 2 else "B") if rng.random() < 0.85 else rng.choice("AB") for port in ports
    ]
    report = randomness_report(sequence, source_ports=ports)
    assert "source-port" in kinds(report)
    assert "Cramer's V" in report.findings[0].words


def test_chain_tied_to_source_address_is_detected():
    rng = random.Random(8)
    addresses = [rng.choice(["10.0.0.1", "10.0.0.2"]) for _ in range(100)]
    sequence = ["A" if address.endswith("1") else "B" for address in addresses]
    report = randomness_report(sequence, source_addresses=addresses)
    assert "source-address" in kinds(report)


def test_one_source_address_is_reported_as_untested():
    report = randomness_report(list("AB" * 5 + "BA" * 10), source_addresses=["10.0.0.1"] * 30)
    assert any("one source address" in note for note in report.untested)


def test_time_windowed_backends_are_detected_by_the_runs_test():
    # The balancer (or DNS) switches chain every few seconds: long blocks of one chain.
    rng = random.Random(9)
    sequence = []
    while len(sequence) < 300:
        sequence += [rng.choice("ABC")] * rng.randint(15, 45)
    report = randomness_report(sequence)
    finding = next(f for f in report.findings if f.kind == "clustered-in-time")
    assert finding.statistic < -4  # z-score: far fewer runs than chance
    assert finding.p_value < 1e-4


def test_runs_test_uses_time_order_when_times_are_given():
    # Probes finished out of order: by completion order the blocks are shuffled away, but the
    # start times show the clustering.
    rng = random.Random(10)
    sequence = ["A"] * 60 + ["B"] * 60 + ["A"] * 60
    times = [float(i) for i in range(180)]
    order = list(range(180))
    rng.shuffle(order)
    shuffled_sequence = [sequence[i] for i in order]
    shuffled_times = [times[i] for i in order]
    assert "clustered-in-time" not in kinds(randomness_report(shuffled_sequence))
    assert "clustered-in-time" in kinds(randomness_report(shuffled_sequence, times=shuffled_times))


def test_attribute_lengths_must_match():
    with pytest.raises(ValueError):
        randomness_report(["A", "B"] * 20, source_ports=[1, 2, 3])


def test_report_is_json_and_readable():
    report = randomness_report(["A", "B"] * 30)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["random_looking"] is False
    assert data["findings"][0]["kind"] == "periodic"
    assert report.sentence().startswith("Backend choice is not random: chains repeat every 2")


@pytest.mark.parametrize(
    "weights",
    [
        [1, 1],
        [1, 1, 1],
        [0.99, 0.01],  # one dominant chain: neighbours agree 98% of the time by chance
        [0.9, 0.05, 0.05],
        [0.5, 0.3, 0.15, 0.05],
        [0.4, 0.3, 0.2, 0.07, 0.02, 0.01],
    ],
)
def test_random_balancers_are_not_accused(weights):
    alarms = []
    for seed in range(60):
        rng = random.Random(seed)
        n = rng.randint(20, 500)
        sequence = rng.choices([f"chain-{i}" for i in range(len(weights))], weights, k=n)
        ports, addresses, times = random_sources(rng, n)
        report = randomness_report(
            sequence, source_ports=ports, source_addresses=addresses, times=times
        )
        if not report.random_looking:
            alarms.append((seed, report.to_dict()))
    assert alarms == []


def test_random_balancer_with_reused_ports_is_not_accused():
    # Ports reused from a small pool (a prober binding its own ports): exact-port groups exist,
    # and by chance some always got the same chain; that must not be called port hashing.
    alarms = 0
    for seed in range(100):
        rng = random.Random(1000 + seed)
        pool = [rng.randrange(1024, 65536) for _ in range(30)]
        ports = [rng.choice(pool) for _ in range(200)]
        sequence = rng.choices(["A", "B"], [0.8, 0.2], k=200)
        alarms += not randomness_report(sequence, source_ports=ports).random_looking
    assert alarms == 0


def test_assess_keeps_coverage_for_a_random_balancer():
    rng = random.Random(11)
    sequence = rng.choices(["A", "B", "C"], [0.5, 0.45, 0.05], k=917)
    ports, addresses, times = random_sources(rng, 917)
    coverage, report = assess(sequence, ports, addresses, times, confidence=0.99)
    assert report.random_looking
    assert coverage.applicable
    assert coverage.max_missed_share <= 0.01
    assert "no chain served on more than 1.0%" in coverage.sentence("connections to 192.0.2.10")


@pytest.mark.parametrize("rare_share", [0.01, 0.03])
def test_runs_test_does_not_accuse_random_sequences_with_a_rare_chain(rare_share):
    # Here R is nearly twice a Poisson count; the normal approximation's thin tail used to
    # call such sequences "clustered" about once in 2,000. The exact distribution does not.
    alarms = []
    for seed in range(400):
        rng = random.Random(seed)
        sequence = rng.choices(["A", "B"], [1 - rare_share, rare_share], k=2000)
        finding = runs_finding(sequence)
        if finding:
            alarms.append((seed, finding))
    assert alarms == []


def test_runs_exact_distribution_matches_the_published_table():
    # Swed & Eisenhart (1943) tables: for n1 = n2 = 10, P(R <= 6) ~ 0.019 (critical value 6
    # for a two-sided 5% test) and the mean is 2 n1 n2 / n + 1 = 11.
    distribution = exact_runs_distribution(10, 10)
    assert sum(distribution.values()) == pytest.approx(1.0)
    assert sum(r * p for r, p in distribution.items()) == pytest.approx(11.0)
    assert sum(p for r, p in distribution.items() if r <= 6) == pytest.approx(0.0185, abs=5e-4)


def test_assess_target_keeps_the_statement_for_random_strata():
    rng = random.Random(12)
    samples = []
    for destination in [
        ("192.0.2.10", "a.example", "default"),
        ("192.0.2.11", "a.example", "default"),
    ]:
        for i in range(400):
            chain_id = rng.choices(["A", "B", "C"], [0.6, 0.38, 0.02])[0]
            samples.append(
                ProbeSample(destination, chain_id, "10.0.0.1", rng.randrange(1024, 65536), float(i))
            )
    assessment = assess_target(samples, 0.99)
    assert len(assessment.strata) == 2
    assert all(coverage.applicable for coverage, _ in assessment.strata.values())
    target = assessment.coverage
    assert target.applicable and target.strata == 2 and target.probes == 800
    # Each stratum is held to 1 - 0.01/2 so that both statements hold together at 99%.
    assert target.max_missed_share == max_missed_share(400, 0.995)
    data = json.loads(json.dumps(assessment.to_dict()))
    assert data["strata"][0]["stratum"] == [["192.0.2.10", "a.example", "default"], "10.0.0.1"]


def test_assess_target_withdraws_the_statement_when_one_address_round_robins():
    rng = random.Random(13)
    samples = [ProbeSample("192.0.2.10", rng.choice("AB")) for _ in range(200)]
    samples += [ProbeSample("192.0.2.11", "AB"[i % 2]) for i in range(200)]
    assessment = assess_target(samples, 0.99)
    assert assessment.strata[("192.0.2.10", None)][0].applicable
    assert not assessment.strata[("192.0.2.11", None)][0].applicable
    assert not assessment.coverage.applicable
    assert "chains repeat every 2 connections" in assessment.coverage.sentence(
        "connections to a.example:443"
    )


def test_assess_target_detects_source_address_hashing_across_strata():
    # Each of our two source addresses always lands on the same backend: within a stratum the
    # sequence is constant (nothing to see), across them the tie is plain.
    rng = random.Random(14)
    samples = []
    for i in range(200):
        source = rng.choice(["10.0.0.1", "10.0.0.2"])
        samples.append(
            ProbeSample("192.0.2.10", "A" if source == "10.0.0.1" else "B", source, time=float(i))
        )
    assessment = assess_target(samples, 0.99)
    for coverage, report in assessment.strata.values():
        assert not coverage.applicable
        assert "source-address" in kinds(report)
    assert not assessment.coverage.applicable


def test_a_random_looking_report_says_what_it_could_not_check():
    rng = random.Random(15)
    sequence = rng.choices(["A", "B"], k=100)
    sentence = randomness_report(sequence).sentence()
    assert sentence.startswith(
        "Backend choice looks random: no pattern found (not checked: source ports unknown"
    )
