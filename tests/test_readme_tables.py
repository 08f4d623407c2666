"""The README's outcome and exit-status tables say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from certcensus.model import errors
from certcensus.model.outcomes import EXPLANATIONS, OPENSSL_MAX_CERT_LIST, Outcome
from certcensus.watch.check import CRITICAL, OK, UNKNOWN, WARNING

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _table_after(heading: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after the line `heading` starts."""
    rows: list[list[str]] = []
    lines = README[README.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    for line in lines[start + 2 :]:  # the header and the --- line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_the_outcome_table_names_every_outcome_the_code_records_but_ok():
    outcomes = _table_after("| outcome | meaning |")
    names = [row[0].strip("`") for row in outcomes]
    assert sorted(names) == sorted(o.value for o in Outcome if o is not Outcome.OK)
    assert set(EXPLANATIONS) == set(Outcome)
    [too_large] = [row[1] for row in outcomes if row[0] == "`chain-too-large`"]
    assert f"{OPENSSL_MAX_CERT_LIST} bytes (100 KiB" in too_large


def test_the_exit_status_table_lists_every_status_the_code_uses():
    statuses = [row[0] for row in _table_after("## Exit status and errors")]
    documented = {int(code) for cell in statuses for code in cell.split(", ")}
    constants = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert documented == constants | {OK, WARNING, CRITICAL, UNKNOWN}
    assert (errors.EXIT_INTERRUPTED, errors.EXIT_TERMINATED) == (128 + 2, 128 + 15)
