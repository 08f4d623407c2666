"""Census fixtures for the output tests: a real scan of the demo pool, and browser helpers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from certcensus.census.build import build_census
from certcensus.probe.plan import ProbeOptions, build_plan
from certcensus.probe.scheduler import Scan
from certcensus.probe.targets import parse_target
from certcensus.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"


def scan_into(db_path, port: int, count: int, *, sni: str | None = None, command="scan") -> int:
    """Probe 127.0.0.1:port (SMTP STARTTLS) `count` times into the store; return the run id."""
    target = parse_target(f"127.0.0.1:{port}", "smtp")
    plan = build_plan([target], ProbeOptions(timeout=5.0, sni=sni), count=count, rate=0,
                      concurrency=16)  # fmt: skip
    with open_store(db_path) as store:
        run_id = store.start_run(command, [target.name])
        asyncio.run(Scan(plan, store, run_id).run())
        store.finish_run(run_id)
    return run_id


def census_of(db_path, run_ids=None):
    store = open_store(db_path)
    return store, build_census(store, None, run_ids)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_command(browser: str, profile_dir: Path) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}",
    ]  # fmt: skip


def dump_dom(browser: str, page: Path, profile_dir: Path) -> str:
    result = subprocess.run(
        [*chromium_command(browser, profile_dir), "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(browser: str, page: Path, profile_dir: Path, png: Path, size: str) -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [*chromium_command(browser, profile_dir), f"--screenshot={png}", f"--window-size={size}",
         "--hide-scrollbars", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and png.exists(), result.stderr[-2000:]


def print_to_pdf(browser: str, page: Path, profile_dir: Path, pdf: Path) -> None:
    pdf.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [*chromium_command(browser, profile_dir), "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
         page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and pdf.exists(), result.stderr[-2000:]
