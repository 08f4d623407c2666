"""Files -> observations in the store: walk, parse in a process pool, write in batches.

Parsing is CPU work (regexes, base64, X.509), so it runs in worker processes, in chunks to keep
the per-file overhead of inter-process messages small; each chunk carries each distinct
certificate once, so 100,000 captures of a few chains move a few MB of DER, not 300 MB. The main process owns the store (SQLite wants one writer) and the store batches commits.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from certcensus.ingest.capture import Capture, Problem, UnusableFile
from certcensus.ingest.filenames import escaped_name, unescaped_name
from certcensus.ingest.files import read_capture_file
from certcensus.ingest.filetime import time_from_file_name
from certcensus.ingest.walker import FoundFile, walk_capture_files
from certcensus.model.chain import chain_fingerprint
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import ObservationSink

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024  # captures are KB; 10 MiB is a generous bundle
# Files per message to a worker: large enough that pickling and scheduling cost little per file,
# small enough that two workers share the last chunks of a run.
CHUNK_FILES = 400
# Below this many files a pool costs more to start than it saves.
POOL_THRESHOLD = 1000


@dataclass(frozen=True, slots=True)
class IngestedCapture:
    """What the baseline comparison and the report need of one stored capture."""

    path: str
    relative: str
    target: str
    chain_id: str | None
    leaf_sha256: str | None
    leaf_only: bool
    count: int


@dataclass
class IngestResult:
    run_id: int | None
    captures: list[IngestedCapture] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    chains: dict[str, tuple[bytes, ...]] = field(default_factory=dict)  # chain id -> DERs
    files_read: int = 0
    observations: int = 0
    targets: list[str] = field(default_factory=list)
    _ids_by_chain: dict[tuple[bytes, ...], str] = field(default_factory=dict, repr=False)


def ingest_paths(
    paths: Iterable[str],
    store: ObservationSink | None,
    *,
    target: str | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    jobs: int | None = None,
) -> IngestResult:
    """Read every capture under `paths` into `store` (None: parse only, e.g. for a dry run)."""
    paths = [os.fspath(p) for p in paths]
    run_id = store.start_run("ingest", []) if store is not None else None
    result = IngestResult(run_id)
    found: list[FoundFile] = []
    for item in walk_capture_files(paths, max_file_size):
        if isinstance(item, Problem):
            result.problems.append(item)
        else:
            found.append(item)
    targets: dict[str, None] = {}
    for file, parsed in _parse_all(found, jobs):
        if isinstance(parsed, Problem):
            result.problems.append(parsed)
            continue
        result.files_read += 1
        for capture in parsed:
            observation_target = _record(result, store, file, capture, target)
            targets.setdefault(observation_target)
    result.targets = list(targets)
    if store is not None and run_id is not None:
        store.set_run_targets(run_id, result.targets)
        store.finish_run(run_id)
        # What the database refused is listed with the skipped files, and not counted as read.
        for rejected in store.rejected:
            result.observations -= 1
            path = unescaped_name(rejected.observation.source)
            result.problems.append(Problem(path, "not-stored", rejected.reason))
        store.rejected.clear()
    return result


def _record(result, store, file: FoundFile, capture: Capture, target_override) -> str:
    name = target_override or capture.target or escaped_name(file.folder)
    host, port = _host_and_port(name, capture)
    chain_id = _chain_id(result, capture.chain)
    result.captures.append(IngestedCapture(
        file.path, file.relative, name, chain_id, capture.leaf_sha256 if capture.chain else None,
        capture.leaf_only, capture.count,
    ))  # fmt: skip
    started = capture.started_at or time_from_file_name(os.path.basename(file.path)) or file.mtime
    if capture.verify and not capture.leaf_only:
        detail = f"verify return code {capture.verify}"
    else:
        detail = capture.detail
    template = Observation(
        target=name, host=host, port=port, protocol=capture.protocol, address=capture.address,
        started_at=started, outcome=Outcome(capture.outcome), detail=detail, chain=capture.chain,
        sni=capture.sni, profile="ingest", tls_version=capture.tls_version, cipher=capture.cipher,
        source=escaped_name(file.path), leaf_only=capture.leaf_only,
    )  # fmt: skip
    for observation in _spread(template, capture):
        result.observations += 1
        if store is not None:
            store.add(result.run_id, observation)
    return name


def _chain_id(result: IngestResult, chain: tuple[bytes, ...]) -> str | None:
    """The chain's id, hashed once per distinct chain (a tuple of bytes hashes cheaply: bytes
    cache their hash, and the parsers share one bytes object per certificate)."""
    if not chain:
        return None
    chain_id = result._ids_by_chain.get(chain)
    if chain_id is None:
        chain_id = result._ids_by_chain[chain] = chain_fingerprint(chain)
        result.chains.setdefault(chain_id, chain)
    return chain_id


def _spread(template: Observation, capture: Capture) -> Iterator[Observation]:
    """`count` observations for a census-JSON chain, with its addresses and its time span."""
    if capture.count == 1:
        yield template
        return
    addresses = [a for a, n in capture.spread for _ in range(n)][: capture.count]
    addresses += [template.address] * (capture.count - len(addresses))
    first = template.started_at
    last = capture.last_seen if capture.last_seen is not None else first
    step = (last - first) / (capture.count - 1) if capture.count > 1 else 0.0
    for index, address in enumerate(addresses):
        yield replace(template, address=address, started_at=first + step * index)


def _host_and_port(name: str, capture: Capture) -> tuple[str, int]:
    if capture.target == name and capture.host is not None:
        return capture.host, capture.port or 0
    host, _, port = name.rpartition(":")
    if host and port.isdigit():
        return host.strip("[]"), int(port)
    return name, 0


# -- parsing, in this process or in a pool --------------------------------------------------------


def _parse_all(
    found: list[FoundFile], jobs: int | None
) -> Iterator[tuple[FoundFile, list[Capture] | Problem]]:
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(found) < POOL_THRESHOLD:
        for file in found:
            yield file, parse_one_file(file.path)
        return
    chunks = [found[i : i + CHUNK_FILES] for i in range(0, len(found), CHUNK_FILES)]
    # forkserver: workers start from a clean process, never from a fork of a threaded parent.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for chunk, parsed_chunk in zip(
            chunks, pool.map(_parse_chunk, [[f.path for f in c] for c in chunks])
        ):
            yield from zip(chunk, parsed_chunk)


def _parse_chunk(paths: list[str]) -> list[list[Capture] | Problem]:
    # A worker's PEM cache hands out one bytes object per distinct certificate, and pickle writes
    # an object it has seen once per message: a chunk of 400 captures of one chain carries that
    # chain's DER once, not 400 times.
    return [parse_one_file(path) for path in paths]


def parse_one_file(path: str) -> list[Capture] | Problem:
    """A file's captures, or the Problem that kept it out. Never raises."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return Problem(path, "unreadable", error.strerror or str(error))
    try:
        return read_capture_file(data, path)
    except UnusableFile as error:
        return Problem(path, error.reason, error.detail)
    except Exception as error:  # noqa: BLE001 - one strange file must not stop 100,000 others
        return Problem(path, "unknown-format", f"unexpected {type(error).__name__}: {error}")
