"""The architecture's rules (CONVENTIONS.md, Layout), checked on the import graph.

Every import counts, at module level or inside a function: a function-level import does not
dodge a rule.

- No import cycle between modules.
- `lettering.core` imports no domain package.
- carriers/ and kakao_fallback/ import only `lettering.core` from lettering/.
- A package's tables are its own: other packages call its `service`, never its `models` or
  `repository`, except the reads and writes declared in `DECLARED` (key rotation).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP_PACKAGES = ("lettering", "carriers", "kakao_fallback", "campaigns")
PRIVATE = {"models", "repository"}
CORE = "lettering.core"

# Modules allowed to reach another package's private module, and which: key rotation re-encrypts
# and re-indexes every package's number columns through each package's repository declaration.
DECLARED: Mapping[str, frozenset[str]] = {
    "lettering.keyring.repository": frozenset(
        {
            "lettering.optout.repository",
            "lettering.calls.repository",
            "lettering.webhook.repository",
            "campaigns.repository",
            "kakao_fallback.repository",
        }
    ),
}


# Import cycles tolerated for the time being: none.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def first_party_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for top in TOP_PACKAGES for p in sorted((root / top).rglob("*.py"))}


def imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """Every name imported anywhere in the file (`from a import b` gives both a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def import_graph(modules: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {first-party module it imports: line}."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for line, name in imported_names(path, module):
            if name.split(".")[0] not in TOP_PACKAGES:
                continue
            target = resolve(name)
            if target is not None and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def owner(module: str) -> str:
    """'lettering.webhook.auth' -> 'lettering.webhook'; 'carriers.kt' -> 'carriers'."""
    parts = module.split(".")
    if parts[0] == "lettering" and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0]


def is_private(module: str) -> bool:
    return module.rpartition(".")[2] in PRIVATE


def violations(graph: Mapping[str, Mapping[str, int]], modules: Mapping[str, Path]) -> list[str]:
    def where(module: str, line: int) -> str:
        return (
            f"{modules[module].relative_to(ROOT) if modules[module].is_relative_to(ROOT) else module}:{line}"
        )

    problems: list[str] = [
        f"import cycle: {' <-> '.join(c)}" for c in cycles(graph) if tuple(c) not in KNOWN_CYCLES
    ]
    for module, edges in sorted(graph.items()):
        for target, line in sorted(edges.items()):
            at = where(module, line)
            if module.startswith(CORE + ".") or module == CORE:
                if not (target == CORE or target.startswith(CORE + ".") or target == "lettering"):
                    problems.append(f"{at}: core imports the domain module {target}")
            if module.split(".")[0] in ("carriers", "kakao_fallback") and target.split(".")[0] == "lettering":
                if not (target == CORE or target.startswith(CORE + ".")):
                    problems.append(f"{at}: {owner(module)} imports {target}; it may use only lettering.core")
            if is_private(target) and owner(target) != owner(module):
                if target not in DECLARED.get(module, frozenset()):
                    problems.append(f"{at}: imports {target}, private to {owner(target)}")
    return problems


def test_the_code_keeps_the_layering_rules() -> None:
    modules = first_party_modules()
    assert violations(import_graph(modules), modules) == []


def test_every_declared_exception_is_still_needed() -> None:
    graph = import_graph(first_party_modules())
    for module, targets in DECLARED.items():
        assert targets <= set(graph[module]), f"{module} no longer imports {targets - set(graph[module])}"


# -- the check itself: each rule fails on a throwaway violation -------------------------------


def fake_tree(tmp_path: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {module_name(p, tmp_path): p for p in sorted(tmp_path.rglob("*.py"))}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "lettering/a/service.py": "def f():\n    from lettering.b import service\n",
                "lettering/b/service.py": "from lettering.a import service\n",
            },
            "import cycle: lettering.a.service <-> lettering.b.service",
        ),
        (
            {
                "lettering/core/db.py": "from lettering.calls import service\n",
                "lettering/calls/service.py": "",
            },
            "core imports the domain module lettering.calls.service",
        ),
        (
            {
                "kakao_fallback/relay.py": "import lettering.optout.service\n",
                "lettering/optout/service.py": "",
            },
            "kakao_fallback imports lettering.optout.service; it may use only lettering.core",
        ),
        (
            {
                "lettering/webhook/service.py": "from lettering.calls.models import CallRecord\n",
                "lettering/calls/models.py": "",
            },
            "imports lettering.calls.models, private to lettering.calls",
        ),
        (
            {
                "campaigns/service.py": "from .repository import x\nfrom lettering.calls import repository\n",
                "campaigns/repository.py": "",
                "lettering/calls/repository.py": "",
            },
            "imports lettering.calls.repository, private to lettering.calls",
        ),
    ],
)
def test_each_rule_fails_when_broken(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    modules = fake_tree(tmp_path, files)
    problems = violations(import_graph(modules), modules)
    assert len(problems) == 1
    assert problems[0].endswith(expected)


def test_a_package_may_use_its_own_tables_and_core(tmp_path: Path) -> None:
    modules = fake_tree(
        tmp_path,
        {
            "lettering/calls/service.py": (
                "from lettering.calls.models import CallRecord\nfrom lettering.core import db\n"
            ),
            "lettering/calls/models.py": "",
            "lettering/core/db.py": "",
            "carriers/kt.py": "from lettering.core.db import utcnow\n",
        },
    )
    assert violations(import_graph(modules), modules) == []


# -- all SQL in repositories ---------------------------------------------------------------------

# SQLAlchemy / SQLModel names that build statements, and the calls that run them.
SQL_BUILDERS = frozenset(
    {"select", "update", "delete", "insert", "text", "func", "and_", "or_", "not_", "case", "exists"}
    | {"literal", "bindparam", "union", "tuple_", "cast", "distinct", "desc", "asc", "col", "true", "false"}
)
SQL_RUNNERS = frozenset(
    {"execute", "exec", "scalar", "scalars", "exec_driver_sql", "stream", "stream_scalars"}
)
SQL_PLACES = frozenset({"repository", "models"})  # and lettering.core (the engine, sessions, units)
# Simulators keep their own in-memory state; they are test doubles of the outside world, not packages.
NOT_PACKAGES = ("carriers.simulator", "kakao_fallback.simulator")


def sql_outside_repositories(modules: Mapping[str, Path]) -> list[str]:
    """`file:line: what` for every statement built or run outside a repository, models or core."""
    found: list[str] = []
    for module, path in sorted(modules.items()):
        if module.rpartition(".")[2] in SQL_PLACES or module == CORE or module.startswith(CORE + "."):
            continue
        if module.startswith(NOT_PACKAGES):
            continue
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "sqlalchemy",
                "sqlmodel",
            ):
                found += [
                    f"{shown}:{node.lineno}: imports {a.name}" for a in node.names if a.name in SQL_BUILDERS
                ]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_RUNNERS
            ):
                found.append(f"{shown}:{node.lineno}: .{node.func.attr}()")
    return found


def test_all_sql_is_in_repositories() -> None:
    assert sql_outside_repositories(first_party_modules()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from sqlalchemy import select\n", "lettering/calls/service.py:1: imports select"),
        ("async def f(session):\n    await session.execute(x)\n", "lettering/calls/service.py:2: .execute()"),
        ("from sqlmodel import col\n", "lettering/calls/service.py:1: imports col"),
    ],
)
def test_the_sql_rule_fails_when_broken(tmp_path: Path, text: str, expected: str) -> None:
    modules = fake_tree(tmp_path, {"lettering/calls/service.py": text, "lettering/calls/repository.py": text})
    problems = sql_outside_repositories(modules)
    assert [p.rpartition("calls/")[2] for p in problems] == [expected.rpartition("calls/")[2]]
