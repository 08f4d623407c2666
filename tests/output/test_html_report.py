"""The HTML report of a real census of the demo pool, as headless Chromium renders it."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re

import pytest

from certcensus.census.judged import judge_census
from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo
from certcensus.lab.demo_pool import build_demo_pki
from certcensus.lab.pool import running_pool
from certcensus.render.html_report import render_html
from certcensus.trust import TrustJudge, load_trust_store

from ..servers import missing
from .report_helpers import (
    ARTIFACTS,
    census_of,
    chromium,
    dump_dom,
    print_to_pdf,
    scan_into,
    screenshot,
)

HOSTILE = "<script>document.title='owned'</script>"


@pytest.fixture(scope="module")
def demo_census(tmp_path_factory):
    """200 probes of the demo pool (seeded: the same split every run), judged by a store that
    holds only the old root."""
    directory = tmp_path_factory.mktemp("demo")
    demo = build_demo_pki(directory)
    with running_pool(demo.backends, protocol="smtp", seed=7, smtp_name=demo.hostname) as pool:
        scan_into(directory / "census.sqlite", pool.port, 200, sni=demo.hostname)
    store, census = census_of(directory / "census.sqlite")
    store.close()
    corp = load_trust_store(f"corp={demo.root_pem_paths[0]}")
    return judge_census(census, TrustJudge([corp])), demo


def test_report_escapes_everything_a_server_controls(demo_census):
    census, _ = demo_census
    hostile = copy.deepcopy(census)
    chain = hostile.targets[0].chains[0]
    chain.certificates[0] = dataclasses.replace(chain.certificates[0], common_name=HOSTILE,
                                                subject=HOSTILE)  # fmt: skip
    page = render_html(hostile, title=f"mail {HOSTILE}")
    assert "<script" not in page
    assert "&lt;script&gt;document.title=&#x27;owned&#x27;&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # and no script could run even if one slipped through
    with pytest.raises(ValueError, match="relative"):
        render_html(census, title="x", kit_links={"kit": "https://example.com/kit.pem"})


def test_expiry_marks():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def chain(not_after: str) -> ChainCount:
        leaf = CertificateInfo(
            sha256="a" * 64, subject="CN=leaf", issuer="CN=ca", serial="1",
            not_before="2025-01-01T00:00:00Z", not_after=not_after, key="EC-secp256r1",
            signature_algorithm="ecdsa-with-SHA256", pem="", common_name="leaf",
        )  # fmt: skip
        return ChainCount("c" * 64, [b""], [leaf], count=1, share=1.0)

    def page(not_after: str) -> str:
        target = TargetCensus("t:1", "t", 1, "tls", probes=1, ok=1, chains=[chain(not_after)])
        return render_html(Census([target]), title="t", now=now)

    assert 'class="badge expired">expired 2025-12-31' in page("2025-12-31T00:00:00Z")
    assert 'class="badge expiring">expires in 9 days' in page("2026-01-10T12:00:00Z")
    assert "badge expir" not in page("2026-06-01T00:00:00Z")


@pytest.mark.server
def test_demo_report_in_headless_chromium(demo_census, tmp_path):
    if chromium() is None:
        missing("chromium is not installed (apt-get install chromium)")
    census, demo = demo_census
    target = census.targets[0]
    chains = [{"id": c.chain_id, "count": c.count} for c in target.chains]
    assert len(chains) == 2 and sum(c["count"] for c in chains) == 200
    page = tmp_path / "report.html"
    page.write_text(
        render_html(
            census,
            title="Demo SMTP pool",
            kit_links={"corp: missing CAs (PEM)": "kit/corp-missing.pem"},
        )
    )
    browser = chromium()
    dom = dump_dom(browser, page, tmp_path / "profile")

    # The census table: both chains with their counts, as the census counted them.
    rows = dict(
        re.findall(
            r'<tr class="chain-row" data-chain="([0-9a-f]{64})">.*?'
            r'<td class="num count">(\d+)</td>',
            dom,
        )
    )
    assert rows == {c["id"]: str(c["count"]) for c in chains}
    assert '<span class="probes">200</span> probes' in dom
    # The timeline: one mark per probe, coloured by the chain it got.
    assert '<svg class="timeline"' in dom and 'data-ip="127.0.0.1" data-probes="200"' in dom
    for chain in chains:
        assert dom.count(f'class="probe" data-chain="{chain["id"]}"') == chain["count"]
    # The rare chain's root is not in store "corp": the tree names it and marks it missing.
    rare = dom[dom.index(f'<article class="chain" data-chain="{chains[1]["id"]}"') :]
    rare = rare[: rare.index("</article>")]
    assert "CN=Demo Global Root G2" in rare and "missing from corp" in rare
    assert 'data-store="corp" data-mode="lenient" data-trusted="false"' in rare
    common = dom[dom.index(f'<article class="chain" data-chain="{chains[0]["id"]}"') :]
    assert "trusted: in corp" in common[: common.index("</article>")]
    assert target.coverage_sentence() in dom and "Chao1 estimate 2.0 chains" in dom
    assert '<a href="kit/corp-missing.pem" download="">' in dom
    # First thing on the page: the overview row, with the rare chain's share and trust per store.
    assert dom.index('<section class="overview">') < dom.index('<section class="target"')
    rare_share = f"{target.chains[1].share * 100:.1f}%"
    assert re.search(r'data-label="rarest chain">' + re.escape(rare_share) + "</td>", dom)
    assert '<span class="badge untrusted" data-store="corp">corp 1/2</span>' in dom
    # The matrix: chain by store, with the reason; share bars; the rare chain's issue in words.
    matrix = dom[dom.index('<table class="matrix">') :]
    assert f'<tr data-chain="{chains[1]["id"]}">' in matrix
    assert 'data-store="corp" data-trusted="false"' in matrix and ">missing-root</td>" in matrix
    assert dom.count('<span class="bar"') == 2
    assert '<li class="issue" data-issue="missing-root">' in rare and "Demo Global Root G2" in rare

    ARTIFACTS.mkdir(exist_ok=True)
    for name, size in (("desktop", "1100,1800"), ("phone", "390,2400")):
        png = ARTIFACTS / f"html-report-demo-{name}.png"
        screenshot(browser, page, tmp_path / "profile", png, size)
        assert png.stat().st_size > 10_000  # a rendered page, not a blank one
    (ARTIFACTS / "html-report-demo.html").write_text(page.read_text())
    pdf = ARTIFACTS / "html-report-demo.pdf"  # the print stylesheet, as a browser prints it
    print_to_pdf(browser, page, tmp_path / "profile", pdf)
    assert pdf.read_bytes().startswith(b"%PDF")


def _long_census(probes: int = 5000, rare_every: int = 50) -> tuple[Census, list[float]]:
    """One address, `probes` probes a second apart; chain B on every `rare_every`-th probe at a
    shuffled position (2%), chain A on the rest."""
    import random

    from certcensus.census.model import ProbePoint, Timeline

    from .. import census_objects as made

    rng = random.Random(5)
    rare_at = set(rng.sample(range(probes), probes // rare_every))
    start = 1_800_000_000.0
    timeline = [ProbePoint(start + i, "192.0.2.10", "B" * 64 if i in rare_at else "A" * 64, "ok")
                for i in range(probes)]  # fmt: skip
    leaf = made.certificate("aa", "2030-01-01T00:00:00Z")
    rare = len(rare_at)
    target = made.target("mx.example.com:25", [
        made.chain("A" * 64, probes - rare, probes, [leaf], ips={"192.0.2.10": probes - rare}),
        made.chain("B" * 64, rare, probes, [leaf], ips={"192.0.2.10": rare}),
    ])  # fmt: skip
    target.timeline = Timeline.of_points(timeline)
    target.ips.update({"192.0.2.10": probes})
    return made.census(target), [start + i for i in sorted(rare_at)]


@pytest.mark.server
def test_a_two_percent_chain_in_5000_probes_is_marked_wherever_it_was_seen(tmp_path):
    if chromium() is None:
        missing("chromium is not installed (apt-get install chromium)")
    from certcensus.render.html_timeline import BINS, LABEL_WIDTH, MIN_PART, WIDTH

    census, rare_times = _long_census()
    page = tmp_path / "long.html"
    page.write_text(render_html(census, title="5,000 probes"))
    dom = dump_dom(chromium(), page, tmp_path / "profile")
    marks = [
        (float(x), float(w), float(h))
        for x, w, h in re.findall(
            r'<rect class="bin" data-chain="B{64}" data-count="\d+" x="([\d.]+)" y="[\d.]+" '
            r'width="([\d.]+)" height="([\d.]+)"',
            dom,
        )
    ]
    # Every probe that got the rare chain lies in a slice that carries a mark of it.
    first, span, plot = 1_800_000_000.0, 4999.0, WIDTH - LABEL_WIDTH - 10  # as the SVG spans it
    for moment in rare_times:
        x = LABEL_WIDTH + (moment - first) / span * plot
        assert any(left - 1e-6 <= x <= left + width + 1e-6 for left, width, _ in marks), moment
    assert all(height >= MIN_PART for _, _, height in marks)
    assert len(marks) <= BINS  # a mark per slice that had it, not one per probe
    # The overview names the rare chain's share first thing.
    assert re.search(r'<tr class="overview-row" data-target="mx.example.com:25">.*?'
                     r'<td class="num rare" data-label="rarest chain">2.0%</td>', dom)  # fmt: skip
