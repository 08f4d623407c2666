"""The HTML report of a real census of the demo pool, as headless Chromium renders it."""

from __future__ import annotations

import copy
import datetime as dt
import re

import pytest

from certcensus.lab.demo_pool import build_demo_pki
from certcensus.lab.pool import running_pool
from certcensus.render.html_report import render_html
from certcensus.render.html_timeline import add_timelines
from certcensus.render.as_json import census_to_dict
from certcensus.trust import chain_trust_verdicts, load_trust_store

from .report_helpers import (ARTIFACTS, census_of, chromium, dump_dom, print_to_pdf, scan_into,
                             screenshot)

HOSTILE = "<script>document.title='owned'</script>"


@pytest.fixture(scope="module")
def demo_census(tmp_path_factory):
    """200 probes of the demo pool (seeded: the same split every run), with trust verdicts from a
    store that holds only the old root, and a coverage sentence."""
    directory = tmp_path_factory.mktemp("demo")
    demo = build_demo_pki(directory)
    with running_pool(demo.backends, protocol="smtp", seed=7, smtp_name=demo.hostname) as pool:
        scan_into(directory / "census.sqlite", pool.port, 200, sni=demo.hostname)
    store, census = census_of(directory / "census.sqlite")
    with store:
        census_dict = add_timelines(census_to_dict(census), census)
    corp = load_trust_store(f"corp={demo.root_pem_paths[0]}")
    for target, counted in zip(census_dict["targets"], census.targets):
        target["coverage"] = {"sentence": "With 99% confidence, no chain served on more than 2.3% "
                                          "of connections to 127.0.0.1 was missed.",
                              "singletons": 0, "unseen_mass_estimate": 0.0, "estimated_total": 2.0}
        for chain, chain_count in zip(target["chains"], counted.chains):
            chain["trust"] = chain_trust_verdicts(chain_count.ders, [corp], host=demo.hostname)
    return census_dict, demo


def test_report_escapes_everything_a_server_controls(demo_census):
    census_dict, _ = demo_census
    hostile = copy.deepcopy(census_dict)
    leaf = hostile["targets"][0]["chains"][0]["certificates"][0]
    leaf["common_name"] = leaf["subject"] = HOSTILE
    page = render_html(hostile, title=f"mail {HOSTILE}")
    assert "<script" not in page
    assert "&lt;script&gt;document.title=&#x27;owned&#x27;&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # and no script could run even if one slipped through
    with pytest.raises(ValueError, match="relative"):
        render_html(census_dict, title="x", kit_links={"kit": "https://example.com/kit.pem"})


def test_expiry_marks():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def chain(not_after: str) -> dict:
        return {"id": "c" * 64, "count": 1, "share": 1.0, "certificates": [
            {"sha256": "a" * 64, "common_name": "leaf", "subject": "CN=leaf", "issuer": "CN=ca",
             "not_after": not_after, "not_before": "2025-01-01T00:00:00Z"}]}

    def page(not_after: str) -> str:
        census_dict = {"targets": [{"target": "t:1", "chains": [chain(not_after)]}]}
        return render_html(census_dict, title="t", now=now)

    assert 'class="badge expired">expired 2025-12-31' in page("2025-12-31T00:00:00Z")
    assert 'class="badge expiring">expires in 9 days' in page("2026-01-10T12:00:00Z")
    assert "badge expir" not in page("2026-06-01T00:00:00Z")


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_demo_report_in_headless_chromium(demo_census, tmp_path):
    census_dict, demo = demo_census
    target = census_dict["targets"][0]
    chains = target["chains"]
    assert len(chains) == 2 and sum(c["count"] for c in chains) == 200
    page = tmp_path / "report.html"
    page.write_text(render_html(census_dict, title="Demo SMTP pool",
                                kit_links={"corp: missing CAs (PEM)": "kit/corp-missing.pem"}))
    browser = chromium()
    dom = dump_dom(browser, page, tmp_path / "profile")

    # The census table: both chains with their counts, as the census counted them.
    rows = dict(re.findall(r'<tr class="chain-row" data-chain="([0-9a-f]{64})">.*?'
                           r'<td class="num count">(\d+)</td>', dom))
    assert rows == {c["id"]: str(c["count"]) for c in chains}
    assert f'<span class="probes">200</span> probes' in dom
    # The timeline: one mark per probe, coloured by the chain it got.
    assert '<svg class="timeline"' in dom and 'data-ip="127.0.0.1" data-probes="200"' in dom
    for chain in chains:
        assert dom.count(f'class="probe" data-chain="{chain["id"]}"') == chain["count"]
    # The rare chain's root is not in store "corp": the tree names it and marks it missing.
    rare = dom[dom.index(f'<article class="chain" data-chain="{chains[1]["id"]}"'):]
    rare = rare[: rare.index("</article>")]
    assert "CN=Demo Global Root G2" in rare and "missing from corp" in rare
    assert 'data-store="corp" data-mode="lenient" data-trusted="false"' in rare
    common = dom[dom.index(f'<article class="chain" data-chain="{chains[0]["id"]}"'):]
    assert "trusted: in corp" in common[: common.index("</article>")]
    assert "no chain served on more than 2.3%" in dom and "Chao1 estimate 2.0 chains" in dom
    assert '<a href="kit/corp-missing.pem" download="">' in dom

    ARTIFACTS.mkdir(exist_ok=True)
    for name, size in (("desktop", "1100,1800"), ("phone", "390,2400")):
        png = ARTIFACTS / f"html-report-demo-{name}.png"
        screenshot(browser, page, tmp_path / "profile", png, size)
        assert png.stat().st_size > 10_000  # a rendered page, not a blank one
    (ARTIFACTS / "html-report-demo.html").write_text(page.read_text())
    pdf = ARTIFACTS / "html-report-demo.pdf"  # the print stylesheet, as a browser prints it
    print_to_pdf(browser, page, tmp_path / "profile", pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
