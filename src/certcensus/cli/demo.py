"""`certcensus demo`: the story in one command, on loopback, with no network.

A pool of SMTP STARTTLS backends serves two chains at random, about 92% and 8%, with different
intermediates and roots, as Office 365's SMTP service did during its CA change. The census
finds both in a few seconds, where a loop of `openssl s_client` took an hour.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


from certcensus.probe.dialogs import DialogOptions
from certcensus.render.console import make_console
from certcensus.lab.demo_pool import build_demo_pki
from certcensus.lab.pool import running_pool
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.profiles import client_context
from certcensus.probe.scheduler import ScanPlan
from certcensus.probe.targets import parse_target


def run_demo(count: int = 600, db_path: str | None = None, as_json: bool = False,
             quiet: bool = False) -> int:
    from certcensus.cli.scan import TrustRequest, load_judge, run_scan_and_print

    err = make_console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="certcensus-demo-") as directory:
        demo = build_demo_pki(Path(directory))
        db = db_path or str(Path(directory) / "demo.sqlite")
        with running_pool(demo.backends, protocol="smtp", smtp_name=demo.hostname) as pool:
            target = parse_target(f"127.0.0.1:{pool.port}", "smtp")
            if not as_json:
                err.print(
                    f"demo: an SMTP pool on {target.name} serves two chains (~92% / ~8%); "
                    f"probing it {count} times with STARTTLS...\n"
                )
            settings = ProbeSettings(
                context=client_context(), timeout=10.0, sni=demo.hostname,
                dialog_options=DialogOptions(host=target.host),
            )  # fmt: skip
            plan = ScanPlan(
                targets=[target], settings={(target.name, "default"): settings}, count=count, rate=0,
                concurrency=32,
            )  # fmt: skip
            # A client that trusts only the old root, like the IBM i systems in the story, and
            # the CA's published bundle of both roots (where the missing root can be found).
            published = Path(directory) / "published-roots.pem"
            published.write_bytes(b"".join(root.pem for root in demo.roots))
            stores = (f"client-with-old-root={demo.root_pem_paths[0]}", f"ca-bundle={published}")
            judge = load_judge(
                TrustRequest(stores, offline=True, cache_dir=str(Path(directory) / "cache"))
            )
            code = run_scan_and_print(
                plan, db, as_json=as_json, save_pem=None, quiet=quiet, command="demo", judge=judge
            )
        if not as_json:
            err.print(
                "\nThe rare chain is the one that fails 'now and then' for clients whose store "
                "lacks its root. Next: `certcensus scan smtp://your.mail.server`."
            )
        return code
