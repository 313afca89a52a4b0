"""The committed constraints file pins every dependency within pyproject's ranges, and the
packages whose internals we use carry an upper bound, so a fresh install is the tested one."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent.parent
INTERNALS_USED = {
    "graphql-core",
    "strawberry-graphql",
    "sqlalchemy",
    "asyncpg",
    "pgserver",
    "pgqueuer",
}


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return [Requirement(line) for line in lines]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"constraints.txt: {line!r} is not an exact pin"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for requirement in _requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement}"
        )


def test_packages_whose_internals_we_use_have_an_upper_bound() -> None:
    bounded = {
        canonicalize_name(requirement.name)
        for requirement in _requirements()
        if any(spec.operator in {"<", "<=", "=="} for spec in requirement.specifier)
    }
    assert bounded >= INTERNALS_USED, f"no upper bound: {sorted(INTERNALS_USED - bounded)}"
