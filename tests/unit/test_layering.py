"""A package's tables are its own: other packages call its `service`, never its models or repository."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_PACKAGES = ("lettering", "carriers", "kakao_fallback", "campaigns")
PRIVATE = {"models", "repository"}


def owner(module: str) -> str:
    """'lettering.webhook.auth' -> 'lettering.webhook'; 'carriers.kt' -> 'carriers'."""
    parts = module.split(".")
    if parts[0] == "lettering" and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations() -> list[str]:
    problems: list[str] = []
    for top in TOP_PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for line, name in imported_modules(path):
                parts = name.split(".")
                if parts[0] not in TOP_PACKAGES or parts[-1] not in PRIVATE:
                    continue
                target = ".".join(parts[:-1])
                if owner(target + ".x") != owner(module):
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return problems


def test_no_package_reads_another_packages_tables() -> None:
    assert violations() == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from lettering.calls.models import CallRecord\nimport carriers.models\n")
    assert [name for _, name in imported_modules(bad)] == [
        "lettering.calls.models",
        "lettering.calls.models.CallRecord",
        "carriers.models",
    ]
    assert owner("lettering.calls.models") != owner("lettering.webhook.service")
