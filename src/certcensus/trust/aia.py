"""Chain completion through AIA caIssuers (RFC 5280 4.2.2.1), with an on-disk cache.

"id-ad-caIssuers ... the URI MUST point to either a single DER encoded certificate ... or a
collection of certificates in a BER or DER encoded 'certs-only' CMS message". Servers in the wild
also return PEM, so all three are accepted. Only http:// is fetched: RFC 5280 allows ldap://
too, but no client we model follows it, and https:// would need the very trust we are computing.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from certcensus.trust.certs import Cert, load_certificates_from_bytes
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore

# A caIssuers response is one or a few certificates; 1 MiB bounds a misbehaving server.
MAX_RESPONSE_BYTES = 1 << 20
# Fetch rounds per chain: each round follows the AIA of certificates found in the last one.
# Real chains need one round, cross-signed ones two or three.
MAX_DEPTH = 4
# URLs fetched per chain, whatever the shape of the AIA graph.
MAX_FETCHES = 16
DEFAULT_TIMEOUT = 5.0


def default_cache_directory() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("certcensus")) / "aia"


class AIAFetcher:
    """Fetches each caIssuers URL once; answers are kept in `cache_directory` for later runs."""

    def __init__(
        self,
        cache_directory: Path | str | None = None,
        *,
        offline: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self.cache_directory = (
            Path(cache_directory) if cache_directory else default_cache_directory()
        )
        self.offline = offline
        self.timeout = timeout
        self.fetched_urls: list[str] = []  # network fetches made, in order (for tests and logs)
        self.errors: dict[str, str] = {}

    def _cache_path(self, url: str) -> Path:
        return self.cache_directory / (hashlib.sha256(url.encode()).hexdigest() + ".bin")

    def certificates_at(self, url: str) -> list[Cert]:
        """The certificates a caIssuers URL serves: from the cache, else (online) from the URL."""
        if not url.lower().startswith("http://"):
            return []
        cached = self._cache_path(url)
        if cached.is_file():
            data = cached.read_bytes()
        elif self.offline:
            return []
        else:
            downloaded = self._download(url)
            if downloaded is None:
                return []
            data = downloaded
            self.cache_directory.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
        try:
            return load_certificates_from_bytes(data)
        except ValueError:
            self.errors[url] = "response is neither DER, PEM nor PKCS#7"
            return []

    def _download(self, url: str) -> bytes | None:
        self.fetched_urls.append(url)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                data = response.read(MAX_RESPONSE_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as error:
            self.errors[url] = str(getattr(error, "reason", error))
            return None
        if len(data) > MAX_RESPONSE_BYTES:
            self.errors[url] = "response larger than a caIssuers answer can be"
            return None
        return data


def _has_known_issuer(cert: Cert, known: Iterable[Cert], stores: list[TrustStore]) -> bool:
    if any(c.subject_key == cert.issuer_key and c != cert for c in known):
        return True
    return any(store.by_name(cert.issuer_key) for store in stores)


def complete_with_aia(
    served: list[Cert], pool: CAPool, stores: list[TrustStore], fetcher: AIAFetcher | None
) -> list[Cert]:
    """Fetch the issuers nobody has, following caIssuers; add every CA found to `pool`.

    Loop-safe (each URL once per call) and bounded (MAX_DEPTH rounds, MAX_FETCHES URLs).
    Returns the certificates fetched.
    """
    pool.add_all(served)
    if fetcher is None:
        return []
    fetched: list[Cert] = []
    visited: set[str] = set()
    frontier = list(served)
    for _ in range(MAX_DEPTH):
        next_frontier: list[Cert] = []
        for cert in frontier:
            if cert.is_self_issued:
                continue
            if _has_known_issuer(cert, list(served) + pool.with_subject(cert.issuer_key), stores):
                continue
            for url in cert.ca_issuers_urls:
                if url in visited or len(visited) >= MAX_FETCHES:
                    continue
                visited.add(url)
                for found in fetcher.certificates_at(url):
                    if found.is_ca and found not in fetched:
                        pool.add(found)
                        fetched.append(found)
                        next_frontier.append(found)
        if not next_frontier:
            break
        frontier = next_frontier
    return fetched
