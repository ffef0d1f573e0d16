"""constraints.txt pins every dependency pyproject.toml declares, at a version its range allows,
and `make venv` (so make run, make test and CI) installs with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not name==version"
        assert canonicalize_name(name) not in pinned, f"constraints.txt: {name} pinned twice"
        pinned[canonicalize_name(name)] = version
    return pinned


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        listed.extend(extra)
    return [Requirement(text) for text in listed]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    assert "lettering" not in pinned, "the project itself is not a constraint"
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt (make constraints)"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside pyproject's {requirement}"
        )


def test_the_virtualenv_is_installed_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install [^\n]*-e '\.\[dev\]'", makefile)
    assert installs, "the Makefile installs nothing"
    venv_rule = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "constraints.txt" in venv_rule.splitlines()[0], "the venv is not rebuilt when the pins change"
    assert "-c constraints.txt -e '.[dev]'" in venv_rule
