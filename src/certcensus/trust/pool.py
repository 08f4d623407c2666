"""The local CA pool: every CA certificate ever seen, served, fetched or in a loaded store.

Path building looks here for issuers the server did not send. The pool is a directory of
`<sha256>.der` files (one file per certificate, so concurrent writers never corrupt each other
and a user can inspect it with `openssl x509 -inform der`), or memory only when no directory is
given. Later analyses reuse it through this class alone.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from certcensus.certs.names import CanonicalName
from certcensus.trust.certs import Cert


class CAPool:
    def __init__(self, directory: Path | str | None = None):
        self.directory = Path(directory) if directory is not None else None
        self._by_sha256: dict[str, Cert] = {}
        self._by_subject: dict[CanonicalName, list[Cert]] = defaultdict(list)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.directory.glob("*.der")):
                try:
                    self._index(Cert.from_der(path.read_bytes()))
                except (OSError, ValueError):
                    continue  # a damaged file is dropped; the certificate will be seen again

    def _index(self, cert: Cert) -> bool:
        if cert.sha256 in self._by_sha256:
            return False
        self._by_sha256[cert.sha256] = cert
        self._by_subject[cert.subject_key].append(cert)
        return True

    def add(self, cert: Cert) -> bool:
        """Keep `cert` if it is a CA; True when it was new."""
        if not cert.is_ca or not self._index(cert):
            return False
        if self.directory is not None:
            target = self.directory / f"{cert.sha256}.der"
            # Write then rename, so a reader never sees half a certificate.
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                file.write(cert.der)
            os.replace(temporary, target)
        return True

    def add_all(self, certs: Iterable[Cert]) -> int:
        return sum(1 for cert in certs if self.add(cert))

    def with_subject(self, subject: CanonicalName) -> list[Cert]:
        """The CAs with this subject (as OpenSSL compares names), oldest addition first."""
        return list(self._by_subject.get(subject, ()))

    def get(self, sha256: str) -> Cert | None:
        return self._by_sha256.get(sha256)

    def __contains__(self, cert: Cert) -> bool:
        return cert.sha256 in self._by_sha256

    def __iter__(self) -> Iterator[Cert]:
        return iter(list(self._by_sha256.values()))

    def __len__(self) -> int:
        return len(self._by_sha256)
