"""Packaging as a user's machine meets it: dependencies as lower bounds (security fixes and a
fresh certifi bundle install freely), exact pins only in the constraints file `make` uses, no
cap on the Python version, and the LICENSE file the metadata promises."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements() -> list[Requirement]:
    listed = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]
    return [Requirement(text) for text in listed]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_dependencies_are_lower_bounds_and_constraints_pin_each_exactly():
    pins = _pins()
    for requirement in _requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert operators == {">="}, f"{requirement}: a lower bound only, no pin or cap"
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{requirement.name} has no exact pin in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {requirement}"


def test_make_installs_with_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    assert installs and all("-c constraints.txt" in line for line in installs)


def test_requires_python_has_no_upper_cap_and_admits_3_11_to_3_13():
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(PROJECT["requires-python"])
    assert {spec.operator for spec in allowed} == {">="}
    assert all(version in allowed for version in ("3.11.2", "3.12.0", "3.13.0", "3.14.0"))


def test_the_license_file_is_the_license_the_metadata_names():
    named = PROJECT["license"]["text"]
    text = (ROOT / "LICENSE").read_text()
    assert text.splitlines()[0] == f"{named} License"
    assert metadata.metadata("certcensus")["License"] == named  # what pip shows
