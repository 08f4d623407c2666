"""Which ingested captures match a baseline chain, and how the others group.

A full capture matches when its chain (every certificate, in order) is a baseline chain. A
leaf-only capture cannot say that: it matches when its leaf is a baseline chain's leaf, and is
counted apart, never as a matching or differing chain.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from certcensus.ingest.capture import Capture
from certcensus.ingest.filenames import escaped_name
from certcensus.ingest.pipeline import IngestedCapture, IngestResult


@dataclass
class DifferentGroup:
    key: str  # chain id, or "leaf:<sha256>" for leaf-only captures
    leaf_only: bool
    captures: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class BaselineComparison:
    baseline_chain_ids: list[str]
    matching: int = 0
    different: int = 0
    leaf_matching: int = 0
    leaf_different: int = 0
    groups: list[DifferentGroup] = field(default_factory=list)  # largest first
    different_captures: list[IngestedCapture] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {
            "baseline_chains": self.baseline_chain_ids,
            "matching": self.matching,
            "different": self.different,
            "leaf_only_matching": self.leaf_matching,
            "leaf_only_different": self.leaf_different,
            "different_groups": [
                {"chain": g.key.removeprefix("leaf:") if g.leaf_only else g.key,
                 "leaf_only": g.leaf_only, "captures": g.captures,
                 "files": [escaped_name(path) for path in g.files]}
                for g in self.groups
            ],
        }  # fmt: skip


def baseline_chains(captures: list[Capture]) -> list[tuple[bytes, ...]]:
    """The chains a baseline file stands for.

    A PEM/DER/PKCS#7/s_client file: its chain. A census JSON: each target's most common chain
    (the others are what the baseline is meant to catch). Leaf-only captures give their leaf.
    """
    best: dict[str, Capture] = {}
    for capture in captures:
        if not capture.chain:
            continue
        key = (
            capture.target or capture.path if capture.format == "census-json" else repr(id(capture))
        )
        if key not in best or capture.count > best[key].count:
            best[key] = capture
    return [capture.chain for capture in best.values()]


def compare_with_baseline(
    result: IngestResult, baseline: list[tuple[bytes, ...]]
) -> BaselineComparison:
    from certcensus.model.chain import certificate_fingerprint, chain_fingerprint

    chain_ids = {chain_fingerprint(chain) for chain in baseline}
    leaves = {certificate_fingerprint(chain[0]) for chain in baseline}
    comparison = BaselineComparison(sorted(chain_ids))
    groups: dict[str, DifferentGroup] = {}
    for capture in result.captures:
        if capture.chain_id is None:
            continue  # a failed probe from a census JSON: nothing to compare
        if capture.leaf_only:
            if capture.leaf_sha256 in leaves:
                comparison.leaf_matching += capture.count
                continue
            comparison.leaf_different += capture.count
            key = f"leaf:{capture.leaf_sha256}"
        elif capture.chain_id in chain_ids:
            comparison.matching += capture.count
            continue
        else:
            comparison.different += capture.count
            key = capture.chain_id
        group = groups.setdefault(key, DifferentGroup(key, capture.leaf_only))
        group.captures += capture.count
        if capture.path not in group.files[-1:]:
            group.files.append(capture.path)
        comparison.different_captures.append(capture)
    comparison.groups = sorted(groups.values(), key=lambda g: -g.captures)
    return comparison


def copy_different_files(comparison: BaselineComparison, directory: str) -> list[str]:
    """Copy each differing capture's file into `directory`, keeping its path below the argument
    it was found under (so same-named files from different folders do not collide)."""
    copied: dict[str, str] = {}
    for capture in comparison.different_captures:
        if capture.path in copied:
            continue
        destination = os.path.join(directory, capture.relative)
        stem, suffix, number = destination, "", 1
        while os.path.exists(destination):
            number += 1
            base, suffix = os.path.splitext(stem)
            destination = f"{base}.{number}{suffix}"
        os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
        shutil.copy2(capture.path, destination)
        copied[capture.path] = destination
    return list(copied.values())
