"""The exporter in-process on a free port, and scrapes of it parsed by prometheus_client."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families

from certcensus.watch.exporter import Exporter, ExporterServer
from certcensus.watch.modules import parse_exporter_config


@contextlib.contextmanager
def exporter_running(config_text: str = "") -> Iterator[str]:
    """Yields the exporter's base URL (http://127.0.0.1:PORT)."""
    service = Exporter(parse_exporter_config(config_text))
    server = ExporterServer(service, "127.0.0.1", 0)
    service.start()
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        service.close()


def get(url: str, headers: dict | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def samples(text: str) -> list:
    """Every sample of an exposition, as prometheus_client's parser reads it."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def values(text: str, name: str) -> dict[frozenset, float]:
    return {frozenset(s.labels.items()): s.value for s in samples(text) if s.name == name}


def one(text: str, name: str) -> float:
    (value,) = values(text, name).values()
    return value
