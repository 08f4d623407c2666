"""`certcensus demo`: the story in one command, on loopback, with no network.

A pool of SMTP STARTTLS backends serves two chains at random, about 92% and 8%, with different
intermediates and roots, as Office 365's SMTP service did during its CA change. The census
finds both in a few seconds, where a loop of `openssl s_client` took an hour.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from certcensus.cli.command import Command
from certcensus.cli.options import scratch_db_option
from certcensus.render.console import make_console


@click.command(cls=Command)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    help="Probes to make against the demo pool.",
)
@scratch_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the census as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def demo(count, db_path, as_json, quiet):
    """Start a two-chain SMTP pool on loopback and census it (no network needed)."""
    sys.exit(run_demo(count=count, db_path=db_path, as_json=as_json, quiet=quiet))


def run_demo(count: int = 600, db_path: str | None = None, as_json: bool = False,
             quiet: bool = False) -> int:  # fmt: skip
    from certcensus.cli.scan import scan_and_print
    from certcensus.lab.demo_pool import build_demo_pki
    from certcensus.lab.pool import running_pool
    from certcensus.probe.plan import ProbeOptions, build_plan
    from certcensus.probe.targets import parse_target
    from certcensus.trust.judge import TrustJudge, TrustRequest

    err = make_console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="certcensus-demo-") as directory:
        demo_pki = build_demo_pki(Path(directory))
        db = db_path or str(Path(directory) / "demo.sqlite")
        with running_pool(
            demo_pki.backends, protocol="smtp", smtp_name=demo_pki.hostname, smtp_backend_names=True
        ) as pool:
            target = parse_target(f"127.0.0.1:{pool.port}", "smtp")
            if not as_json:
                err.print(
                    f"demo: an SMTP pool on {target.name} serves two chains (~92% / ~8%); "
                    f"probing it {count} times with STARTTLS...\n"
                )
            plan = build_plan([target], ProbeOptions(sni=demo_pki.hostname), count=count,
                              rate=0, concurrency=32)  # fmt: skip
            # A client that trusts only the old root, like the IBM i systems in the story, and
            # the CA's published bundle of both roots (where the missing root can be found).
            published = Path(directory) / "published-roots.pem"
            published.write_bytes(b"".join(root.pem for root in demo_pki.roots))
            stores = (
                f"client-with-old-root={demo_pki.root_pem_paths[0]}",
                f"ca-bundle={published}",
            )
            judge = TrustJudge.load(
                TrustRequest(stores, offline=True, cache_dir=str(Path(directory) / "cache"))
            )
            code = scan_and_print(plan, db, as_json=as_json, save_pem=None, quiet=quiet,
                                  command="demo", judge=judge)  # fmt: skip
        if not as_json:
            err.print(
                "\nThe rare chain is the one that fails 'now and then' for clients whose store "
                "lacks its root. Next: `certcensus scan smtp://your.mail.server`."
            )
        return code
