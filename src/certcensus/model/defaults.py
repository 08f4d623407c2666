"""Defaults every stage and command shares, written once (the CLI shows them in --help)."""

from __future__ import annotations

# The JDK's cacerts password since Java 1.2; also what exported Java truststores use.
STORE_PASSWORD = "changeit"
# RFC 2606 reserves .invalid: neutral in a server's logs and clearly ours.
EHLO_NAME = "certcensus.invalid"
# The trust store `trust` and `export` judge against when none is named.
TRUST_STORE = "system"

# Probes in flight at once over all targets: a handshake costs about 1 ms of client CPU, so 64
# keeps one core busy against a local server and stays polite to a remote pool.
SCAN_CONCURRENCY = 64
# watch and check run unattended, often against many targets at once: gentler.
WATCH_CONCURRENCY = 32
CHECK_CONCURRENCY = 16
TIMEOUT_SECONDS = 10.0  # per phase: connect, STARTTLS, handshake
RATE_PER_ADDRESS = 5.0  # probes per second per address (0: as fast as possible)
WATCH_COUNT = 50  # probes per target per watch round
CHECK_COUNT = 30  # probes of one check

# Stop when sure: with CONFIDENCE, no chain served on MIN_SHARE or more of connections missed.
CONFIDENCE = 0.99
MIN_SHARE = 0.01
