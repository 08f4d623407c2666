"""`--save-pem DIR`: each distinct chain as one PEM file named by its chain id."""

from __future__ import annotations

from pathlib import Path

from certcensus.census.model import Census


def save_chains_as_pem(census: Census, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for target in census.targets:
        for chain in target.chains:
            path = directory / f"{chain.chain_id}.pem"
            path.write_text("".join(info.pem for info in chain.certificates))
            written.append(path)
    return written
