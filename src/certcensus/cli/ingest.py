"""`certcensus ingest`: captures people already have -> the store, optionally vs a baseline."""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from typing import Any

import click

from certcensus.certs.compare import diff_chains
from certcensus.certs.info import describe_certificate, short_name
from certcensus.cli.command import Command
from certcensus.cli.options import db_option
from certcensus.ingest.baseline import baseline_chains, compare_with_baseline, copy_different_files
from certcensus.ingest.capture import REASONS, UnusableFile
from certcensus.ingest.filenames import escaped_name
from certcensus.ingest.files import read_capture_file
from certcensus.ingest.pipeline import DEFAULT_MAX_FILE_SIZE, IngestResult, ingest_paths
from certcensus.model.errors import InputError, UsageError
from certcensus.store import open_store

# Files named per reason in the text report; --json lists them all.
EXAMPLES_PER_REASON = 5
FILES_PER_GROUP = 10


def parse_size(text: str) -> int:
    """`10485760`, `10M`, `10MiB`, `512k` -> bytes (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not match:
        raise UsageError(f"--max-file-size {text!r} is not a size like 10M or 512k")
    return int(match[1]) * 1024 ** " kmg".index((match[2] or " ").lower())


def chains_in_file(path: str) -> list[tuple[bytes, ...]]:
    """The chains of one capture file (a baseline, or a side of `diff`)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(DEFAULT_MAX_FILE_SIZE * 10)
        chains = baseline_chains(read_capture_file(data, path))
    except OSError as error:
        raise InputError(f"{escaped_name(path)}: {error.strerror or error}") from None
    except UnusableFile as error:
        raise InputError(
            f"{escaped_name(path)}: {REASONS[error.reason]} {error.detail}".strip()
        ) from None
    if not chains:
        raise InputError(f"{escaped_name(path)}: no certificate chain in the file")
    return chains


@click.command(cls=Command)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
@click.option(
    "--target",
    default=None,
    help="Record every capture under this target "
    "(default: what the file says, else its folder's name).",
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="The expected chain (any format ingest reads); count captures that match it.",
)
@click.option(
    "--copy-different",
    "copy_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Copy the files whose chain differs from --baseline into this folder.",
)
@click.option(
    "--max-file-size",
    default="10M",
    show_default=True,
    metavar="SIZE",
    help="Skip (and list) files larger than this.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes parsing files (default: one per core).",
)
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON on stdout.")
def ingest(paths, db_path, target, baseline_path, copy_dir, max_file_size, jobs, as_json):
    """Read saved captures into the store: `openssl s_client` output, PEM, DER, PKCS#7, or
    certcensus JSON, from files and folders (recursively), detected by content.

    \b
    Examples:
      certcensus ingest captures/ --target mail.example.com:25
      certcensus ingest captures/ --baseline expected.pem --copy-different odd/
    """
    if copy_dir and not baseline_path:
        raise UsageError("--copy-different needs --baseline")
    limit = parse_size(max_file_size)
    baseline = chains_in_file(baseline_path) if baseline_path else None
    store = open_store(db_path)
    try:
        result = ingest_paths(paths, store, target=target, max_file_size=limit, jobs=jobs)
    finally:
        store.close()
    comparison = compare_with_baseline(result, baseline) if baseline else None
    copied = copy_different_files(comparison, copy_dir) if comparison and copy_dir else []
    if as_json:
        click.echo(json.dumps(_ingest_to_dict(result, comparison, copied, baseline), indent=2))
    else:
        _print_ingest(result, comparison, copied, copy_dir, baseline)
    sys.exit(0 if result.observations else 1)


def _ingest_to_dict(result: IngestResult, comparison, copied, baseline) -> dict:
    data: dict[str, Any] = {
        "run_id": result.run_id,
        "files_read": result.files_read,
        "observations": result.observations,
        "leaf_only": sum(c.count for c in result.captures if c.leaf_only),
        "targets": result.targets,
        "problems": [p.to_dict() for p in result.problems],
    }
    if comparison is not None:
        data["baseline"] = comparison.to_dict()
        reference = baseline[0]
        for group in data["baseline"]["different_groups"]:
            if not group["leaf_only"]:
                group["diff"] = diff_chains(reference, result.chains[group["chain"]]).to_dict()
        data["copied"] = [escaped_name(path) for path in copied]
    return data


def _print_ingest(result: IngestResult, comparison, copied, copy_dir, baseline) -> None:
    leaf_only = sum(c.count for c in result.captures if c.leaf_only)
    click.echo(
        f"Ingested {result.observations} observation(s) from {result.files_read} file(s)"
        + (f" ({leaf_only} leaf-only)" if leaf_only else "")
        + (f" into run {result.run_id}" if result.run_id else "")
        + (f"; target(s): {', '.join(result.targets)}" if result.targets else "")
    )
    if result.problems:
        click.echo(f"Skipped {len(result.problems)} file(s):")
        by_reason = defaultdict(list)
        for problem in result.problems:
            by_reason[problem.reason].append(problem)
        for reason, problems in sorted(by_reason.items(), key=lambda item: -len(item[1])):
            click.echo(f"  {reason} ({len(problems)}): {REASONS[reason]}")
            for problem in problems[:EXAMPLES_PER_REASON]:
                click.echo(
                    f"    {escaped_name(problem.path)}"
                    + (f": {problem.detail}" if problem.detail else "")
                )
            if len(problems) > EXAMPLES_PER_REASON:
                click.echo(
                    f"    ... and {len(problems) - EXAMPLES_PER_REASON} more (--json lists all)"
                )
    if comparison is None:
        return
    names = " / ".join(short_name(describe_certificate(chain[0])) for chain in baseline)
    click.echo(f"Baseline: {names} ({len(baseline)} chain(s))")
    click.echo(f"  {comparison.matching} capture(s) match the baseline chain")
    click.echo(f"  {comparison.different} capture(s) have a different chain")
    if comparison.leaf_matching or comparison.leaf_different:
        click.echo(f"  leaf-only captures: {comparison.leaf_matching} leaf match(es), "
                   f"{comparison.leaf_different} different leaf")  # fmt: skip
    for group in comparison.groups:
        if group.leaf_only:
            title = f"leaf {group.key.removeprefix('leaf:')[:16]} (leaf-only captures)"
        else:
            title = f"chain {group.key[:16]}: {diff_chains(baseline[0], result.chains[group.key]).summary}"
        click.echo(f"\n{group.captures} capture(s) with {title}")
        for path in group.files[:FILES_PER_GROUP]:
            click.echo(f"    {escaped_name(path)}")
        if len(group.files) > FILES_PER_GROUP:
            click.echo(f"    ... and {len(group.files) - FILES_PER_GROUP} more file(s)")
    if copy_dir:
        click.echo(f"\nCopied {len(copied)} file(s) to {escaped_name(copy_dir)}")
