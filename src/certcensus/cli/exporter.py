"""`certcensus exporter`: a Prometheus exporter in blackbox_exporter's multi-target shape."""

from __future__ import annotations

import signal
import sys
import threading

import click

from certcensus.cli.command import Command
from certcensus.model.errors import EXIT_OK, UsageError


@click.command(cls=Command)
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Where to listen [default: the config's [exporter] listen, else 127.0.0.1:9795].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file with [modules.NAME] tables (starttls, sni, profile, count, rate, trust_stores, ...).",
)
@click.option(
    "--db",
    "db_path",
    default=None,
    metavar="PATH|URL",
    help="Keep every scrape's probes in this database [default: the config's, else none].",
)
def exporter(listen, config_path, db_path):
    """Serve /probe?target=HOST:PORT[&module=NAME][&count=N]: a census per scrape, as metrics.

    \b
    Metrics carry blackbox_exporter's names (probe_success, probe_ssl_earliest_cert_expiry,
    probe_ssl_last_chain_info, probe_tls_version_info, ...) and certcensus's own per chain
    (certcensus_chain_share, certcensus_chain_trusted, ...). /metrics serves the exporter's own.
    """
    from dataclasses import replace

    from prometheus_client import disable_created_metrics

    from certcensus.watch.exporter import Exporter, ExporterServer, parse_listen
    from certcensus.watch.modules import default_config, read_exporter_config

    # The *_created samples of the exporter's own counters are noise on a dashboard.
    disable_created_metrics()
    config = read_exporter_config(config_path) if config_path else default_config()
    if db_path:
        config = replace(config, db=db_path)
    try:
        address, port = parse_listen(listen or config.listen)
    except ValueError as error:
        raise UsageError(str(error)) from None
    service = Exporter(config)
    try:
        server = ExporterServer(service, address, port)
    except OSError as error:
        raise UsageError(f"--listen {address}:{port}: {error.strerror or error}") from None
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    try:
        service.start()
        server.start()
        shown = f"[{server.address}]" if ":" in server.address else server.address
        print(f"certcensus: exporter on http://{shown}:{server.port}/ "
              f"(modules: {', '.join(config.modules)})", file=sys.stderr, flush=True)  # fmt: skip
        stop.wait()
    finally:
        server.stop()
        service.close()
    print("certcensus: exporter stopped", file=sys.stderr)
    sys.exit(EXIT_OK)
