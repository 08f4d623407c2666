"""What one capture file gives: certificates in file order and what the file says about them."""

from __future__ import annotations

from dataclasses import dataclass, field

from certcensus.ingest.filenames import escaped_name
from certcensus.model.chain import certificate_fingerprint, chain_fingerprint


@dataclass(frozen=True, slots=True)
class Capture:
    """One handshake's certificates as a file recorded them."""

    path: str
    format: str  # "s_client", "pem", "der", "pkcs7", "census-json"
    chain: tuple[bytes, ...]  # DER, in file order
    leaf_only: bool = False  # only the leaf was recorded; the rest of the chain is unknown
    target: str | None = None  # what the file says ("host:port"), None if it says nothing
    host: str | None = None
    port: int | None = None
    protocol: str = "unknown"
    address: str = ""
    sni: str | None = None
    started_at: float | None = None  # what the file says; None: take it from name or mtime
    tls_version: str | None = None
    cipher: str | None = None
    verify: str | None = None  # s_client's "Verify return code: 20 (...)" text
    outcome: str = "ok"  # census JSON also carries failed probes
    detail: str = ""
    count: int = 1  # census JSON: how many probes saw this chain
    spread: tuple[tuple[str, int], ...] = ()  # census JSON: (address, count) pairs
    last_seen: float | None = None  # census JSON: the chain's last_seen
    notes: tuple[str, ...] = field(default=())  # depth=/listing lines kept for the report

    @property
    def chain_id(self) -> str | None:
        return chain_fingerprint(self.chain) if self.chain else None

    @property
    def leaf_sha256(self) -> str | None:
        return certificate_fingerprint(self.chain[0]) if self.chain else None


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that was not ingested, and why (one line, for the user)."""

    path: str  # as the file system gave it (print it with filenames.escaped_name)
    reason: str  # short stable code, one of REASONS
    detail: str = ""

    def to_dict(self) -> dict:
        return {"path": escaped_name(self.path), "reason": self.reason, "detail": self.detail}


# Why a file can be skipped; codes are stable (they appear in --json), explanations are for people.
REASONS: dict[str, str] = {
    "empty": "the file is empty",
    "too-large": "the file is larger than --max-file-size",
    "unreadable": "the file cannot be read",
    "not-a-file": "not a regular file (device, FIFO, socket)",
    "duplicate": "the same file or folder was already read through another path (symlink, hard "
    "link, or given twice)",
    "directory-cycle": "a symlink leads back to a folder above it (a loop); not entered again",
    "truncated-pem": "a PEM block has no END line",
    "bad-pem": "a PEM block's body is not valid base64",
    "not-a-certificate": "the data decodes, but not to an X.509 certificate",
    "no-certificate": "the file holds no certificate (an s_client run that failed?)",
    "bad-json": "JSON, but not a certcensus census",
    "unknown-format": "not a format certcensus reads (binary or text without certificates)",
    "not-stored": "read, but the database refused the capture (the reason follows); the other "
    "captures were stored",
}


class UnusableFile(Exception):
    """Raised by the readers; becomes a Problem for the file being read."""

    def __init__(self, reason: str, detail: str = ""):
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
