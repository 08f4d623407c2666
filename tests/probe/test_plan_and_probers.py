"""The one plan builder (SNI, politeness, shared contexts) and the prober interface, with the
in-memory FakeProber standing in for the network: scan, watch and check plan alike."""

from __future__ import annotations

import asyncio

from certcensus.model.coverage_bound import probes_needed
from certcensus.model.outcomes import Outcome
from certcensus.probe.fake import FakeCall, FakeProber, weighted_chains
from certcensus.probe.plan import ProbeOptions, build_plan
from certcensus.probe.scheduler import Scan
from certcensus.probe.targets import parse_target
from certcensus.store import open_store
from certcensus.watch.config import WatchTarget
from certcensus.watch.runner import Watcher, WatchSettings, build_plans


class ListSink:
    """Observations into a list: the scheduler needs nothing more of a store."""

    def __init__(self):
        self.observations = []

    def start_run(self, command, targets):
        return 1

    def set_run_targets(self, run_id, targets):
        pass

    def finish_run(self, run_id):
        pass

    def add(self, run_id, observation):
        self.observations.append(observation)

    def flush(self):
        pass


def test_the_sni_rule_is_the_same_for_every_plan():
    named, address = parse_target("mail.test:25"), parse_target("127.0.0.1:443")
    plan = build_plan([named, address], ProbeOptions(), profiles=["default", "no-sni"])
    assert plan.settings_for(named, "default").sni == "mail.test"
    assert plan.settings_for(address, "default").sni is None  # RFC 6066: no literal addresses
    assert plan.settings_for(named, "no-sni").sni is None
    forced = build_plan([address], ProbeOptions(sni="other.test"))
    assert forced.settings_for(address, "default").sni == "other.test"
    assert build_plan([named], ProbeOptions(no_sni=True)).settings_for(named, "default").sni is None


def test_nntp_and_ftp_targets_get_polite_concurrency_unless_one_is_given():
    # A process per connection on the server (INN's nnrpd, ProFTPD): 8 at once, not 64.
    for url in ("nntp://127.0.0.1:119", "ftp://127.0.0.1:21"):
        target = parse_target(url)
        assert build_plan([target], ProbeOptions()).target_concurrency == {target.name: 8}
        assert build_plan([target], ProbeOptions(), concurrency=64).target_concurrency == {}


def test_rdp_politeness_holds_in_scan_watch_and_check_plans():
    rdp = parse_target("rdp://127.0.0.1:3389")
    assert build_plan([rdp], ProbeOptions()).target_concurrency == {rdp.name: 2}
    assert build_plan([rdp], ProbeOptions(), concurrency=10).target_concurrency == {}
    (watched,) = build_plans([WatchTarget("rdp://127.0.0.1:3389")], WatchSettings())
    assert watched.target_concurrency == {rdp.name: 2} and watched.concurrency == 32
    (checked,) = build_plans(
        [WatchTarget("rdp://127.0.0.1:3389")],
        WatchSettings(concurrency=None, default_concurrency=16),
    )
    assert checked.target_concurrency == {rdp.name: 2}


def test_one_tls_context_per_profile_is_shared_by_every_target_and_plan():
    targets = [parse_target(f"127.0.0.{n}:443") for n in range(1, 4)]
    plans = build_plans([WatchTarget(t.given) for t in targets] + [WatchTarget("a.test:443", count=5)],
                        WatchSettings())  # fmt: skip
    contexts = {id(s.context) for plan in plans for s in plan.settings.values()}
    assert len(plans) == 2 and len(contexts) == 1


def test_the_scheduler_talks_to_whatever_prober_it_is_given():
    chain_a, chain_b = (b"leaf-a", b"ca"), (b"leaf-b", b"ca")
    fake = FakeProber(weighted_chains([chain_a, chain_b], [0.5, 0.5]), delay=0.001)
    target = parse_target("127.0.0.1:443")
    plan = build_plan([target], ProbeOptions(), count=40, rate=0, concurrency=5)
    sink = ListSink()
    result = asyncio.run(Scan(plan, sink, 1, probers={"default": fake}).run())
    assert result.probes == 40 == len(fake.calls) == len(sink.observations)
    assert fake.most_in_flight <= 5
    assert {o.chain for o in sink.observations} == {chain_a, chain_b}
    assert all(o.outcome is Outcome.OK and o.target == target.name for o in sink.observations)


def test_stop_when_sure_stops_each_stratum_at_its_goal():
    fake = FakeProber(lambda call: (b"only-chain",))
    target = parse_target("127.0.0.1:443")
    plan = build_plan([target], ProbeOptions(), count=5000, rate=0, stop_when_sure=(0.05, 0.99))
    sink = ListSink()
    asyncio.run(Scan(plan, sink, 1, probers={"default": fake}).run())
    assert len(sink.observations) == probes_needed(0.05, 0.99)


def test_a_prober_that_raises_is_a_local_error_not_a_crash():
    def answer(call: FakeCall):
        raise RuntimeError("bug in a prober")

    plan = build_plan([parse_target("127.0.0.1:443")], ProbeOptions(), count=3, rate=0)
    sink = ListSink()
    asyncio.run(Scan(plan, sink, 1, probers={"default": FakeProber(answer)}).run())
    assert [o.outcome for o in sink.observations] == [Outcome.LOCAL_ERROR] * 3
    assert "bug in a prober" in sink.observations[0].detail


def test_a_watch_round_keeps_rdp_politeness_with_any_prober(tmp_path):
    fake = FakeProber(lambda call: (b"rdp-leaf",), delay=0.01)
    plans = build_plans([WatchTarget("rdp://127.0.0.1:3389", count=30)], WatchSettings(rate=0))
    with open_store(tmp_path / "watch.sqlite") as store:
        reports = []
        # baseline=None: a round of --count probes, not the first round's stop-when-sure census.
        watcher = Watcher(plans, store, every=0, rounds=1, on_round_end=reports.append,
                          probers={"default": fake}, baseline=None)  # fmt: skip
        assert asyncio.run(watcher.run()) == 1
    assert len(fake.calls) == 30 and fake.most_in_flight == 2
    (target,) = reports[0].census.targets
    assert (target.ok, len(target.chains)) == (30, 1)
