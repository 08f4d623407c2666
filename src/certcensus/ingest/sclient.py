"""Reading `openssl s_client` output (OpenSSL 1.0.2 to 3.x), with or without -showcerts.

What s_client prints (apps/s_client.c, print_stuff): an optional echoed command line (when the
user captured it with `set -x` or a script header), `depth=N subject` lines from the verify
callback, `CONNECTED(fd)`, then "Certificate chain" with one ` N s:subject / i:issuer` entry per
certificate the server sent, followed by its PEM only under -showcerts; then "Server
certificate", whose PEM is printed only when the chain was not shown ("redundant if we showed
the whole chain"). Then the session: `Protocol  :`, `Cipher    :`, `Start Time: <unix>`,
`Verify return code: N (text)`. OpenSSL 3.2+ also prints `Connecting to <address>`.

So the certificates are the PEM blocks of the "Certificate chain" section when there are any
(-showcerts), else the one PEM of "Server certificate": a leaf-only capture.
"""

from __future__ import annotations

import re

from certcensus.ingest.capture import Capture, UnusableFile
from certcensus.ingest.pem import CERTIFICATE_LABELS, certificate_der_of, find_pem_blocks

# Any of these in the text and it is s_client output, whatever the file is called.
MARKERS = (b"CONNECTED(", b"Certificate chain", b"Server certificate")

_COMMAND = re.compile(rb"s_client\b[^\n]*?-connect[ =]+(\S+)")
_STARTTLS = re.compile(rb"s_client\b[^\n]*?-starttls[ =]+(\w+)")
_SERVERNAME = re.compile(rb"s_client\b[^\n]*?-servername[ =]+(\S+)")
_NEW_CIPHER = re.compile(rb"New, (\S+), Cipher is (\S+)")
_ERROR_LINE = re.compile(rb"^(?:connect:errno=\d+|[0-9A-F]+:error:[^\n]*)", re.MULTILINE)


def _lines_starting_with(data: bytes, prefix: bytes, containing: bytes = b"") -> list[str]:
    """Lines that start with `prefix` (and hold `containing`), e.g. `depth=1 ...`, ` 0 s:...`."""
    lines, at = [], data.find(prefix)
    while at >= 0:
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        if (at == 0 or data[at - 1] == 10) and containing in data[at:end]:
            lines.append(data[at:end].rstrip().decode(errors="replace"))
        at = data.find(prefix, end)
    return lines


def _value_after(data: bytes, label: bytes) -> str | None:
    """The rest of the first line holding `label` (`find`, not a regex: it runs per file)."""
    at = data.find(label)
    if at < 0:
        return None
    end = data.find(b"\n", at)
    value = data[at + len(label) : end if end >= 0 else None].strip()
    return value.decode(errors="replace") or None


def looks_like_s_client(data: bytes) -> bool:
    return any(marker in data for marker in MARKERS)


def split_s_client_runs(data: bytes) -> list[bytes]:
    """One piece per `CONNECTED(` (a loop of s_client runs appended to one file)."""
    if data.count(b"CONNECTED(") <= 1:
        return [data]
    starts = [m.start() for m in re.finditer(rb"^CONNECTED\(", data, re.MULTILINE)]
    if len(starts) <= 1:
        return [data]
    # Lines before the first CONNECTED (command, depth=) belong to the first run.
    return [data[a:b] for a, b in zip([0, *starts[1:]], [*starts[1:], len(data)])]


def parse_s_client_output(data: bytes, path: str) -> list[Capture]:
    """Every handshake in one s_client capture file (usually one)."""
    return [_parse_one_run(piece, path) for piece in split_s_client_runs(data)]


def _parse_one_run(data: bytes, path: str) -> Capture:
    blocks = [b for b in find_pem_blocks(data) if b.label in CERTIFICATE_LABELS]
    chain_at = data.find(b"Certificate chain")
    server_at = data.find(b"Server certificate")
    in_chain = [
        b for b in blocks
        if chain_at >= 0 and b.start > chain_at and (server_at < 0 or b.start < server_at)
    ]  # fmt: skip
    leaf_only = False
    if in_chain:
        chosen = in_chain
    elif server_at >= 0 and any(b.start > server_at for b in blocks):
        chosen = [next(b for b in blocks if b.start > server_at)]
        leaf_only = True
    else:
        chosen = blocks  # a clipped capture: no section headers, just the PEMs
    if not chosen:
        error = _ERROR_LINE.search(data)
        raise UnusableFile(
            "no-certificate",
            "s_client output without a certificate"
            + (f" ({error.group(0).decode(errors='replace')})" if error else ""),
        )
    chain = tuple(certificate_der_of(block, i) for i, block in enumerate(chosen))
    listing = data[chain_at : server_at if server_at > chain_at else None] if chain_at >= 0 else b""
    listed = len(_lines_starting_with(listing, b" ", b" s:"))
    if in_chain and listed > len(chain):
        # The listing names more certificates than were printed: the file was cut off.
        raise UnusableFile(
            "truncated-pem",
            f"the chain listing names {listed} certificates, the file holds {len(chain)}",
        )
    if in_chain and server_at < 0 and b"\n---" not in data[in_chain[-1].end :]:
        # A complete run always goes on past the chain ("---", "Server certificate"): this
        # file stops inside the chain, so later certificates may be missing.
        raise UnusableFile("truncated-pem", "the capture ends inside the certificate chain")
    if leaf_only and listed == 1:
        leaf_only = False  # the server sent only its leaf: that is the whole chain
    return Capture(
        path=path,
        format="s_client",
        chain=chain,
        leaf_only=leaf_only,
        **_what_the_run_says(data),
    )


def _what_the_run_says(data: bytes) -> dict:
    said: dict = {}
    if b"s_client" in data:  # an echoed command line (set -x, or a script's header)
        if command := _COMMAND.search(data):
            target = command.group(1).decode(errors="replace")
            host, _, port = target.rpartition(":")
            if port.isdigit() and host:
                said.update(target=target, host=host.strip("[]"), port=int(port))
            starttls = _STARTTLS.search(data)
            said["protocol"] = starttls.group(1).decode().lower() if starttls else "tls"
        if servername := _SERVERNAME.search(data):
            said["sni"] = servername.group(1).decode(errors="replace")
    if address := _value_after(data, b"\nConnecting to "):
        said["address"] = address
    if protocol := _value_after(data, b"Protocol  :"):
        said["tls_version"] = protocol
    if cipher := _value_after(data, b"Cipher    :"):
        said["cipher"] = cipher
    elif b"\nNew, " in data and (new := _NEW_CIPHER.search(data)):
        said["tls_version"] = said.get("tls_version") or new.group(1).decode(errors="replace")
        said["cipher"] = new.group(2).decode(errors="replace")
    if (start := _value_after(data, b"Start Time:")) and start.isdigit():
        said["started_at"] = float(start)
    if verify := _value_after(data, b"Verify return code:"):
        said["verify"] = verify
    said["notes"] = tuple(_lines_starting_with(data, b"depth="))
    return said
