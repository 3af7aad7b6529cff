"""The layout rules of docs/architecture.md, checked on the source: which package may import
which, who may touch a database driver, module sizes, and no import cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_MODULES = ("app", "config")
PACKAGES = ("cli", "handlers", "console", "scheduler", "postprocess", "ai", "db", "monitoring")
OURS = set(TOP_MODULES) | set(PACKAGES)
DRIVERS = {"sqlite3", "sqlite_utils", "psycopg", "psycopg_pool"}
MAX_LINES = 400

# What each part may import of ours (besides itself). The arrows of DESIGN "Stack and layout":
# app -> handlers, console, scheduler -> postprocess -> ai -> db; db imports nothing of ours.
# monitoring (metrics, logs) sits beside postprocess: the scheduler and the HTTP side count
# into it; the AI client reports to it through observers, never an import.
ALLOWED = {
    "db": set(),
    "ai": {"db"},
    "postprocess": {"ai", "db"},
    "monitoring": {"ai", "db"},
    "scheduler": {"postprocess", "monitoring", "ai", "db", "config"},
    "handlers": {"scheduler", "monitoring", "ai", "db", "config"},
    "console": {"scheduler", "monitoring", "ai", "db", "config"},
    "config": set(),
    "app": {"handlers", "console", "scheduler", "postprocess", "monitoring", "ai", "db", "config"},
    "cli": {"app", "scheduler", "postprocess", "monitoring", "ai", "db", "config"},
}


def product_files() -> list[Path]:
    files = [ROOT / f"{name}.py" for name in TOP_MODULES]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return [f for f in files if f.exists()]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module name ``path`` imports (absolute imports; relative ones resolved)."""
    found: set[str] = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def part(module: str) -> str:
    return module.split(".")[0]


GRAPH = {module_name(f): imports_of(f) for f in product_files()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_one_way(module):
    mine = part(module)
    wrong = sorted(
        name
        for name in GRAPH[module]
        if part(name) in OURS and part(name) != mine and part(name) not in ALLOWED[mine]
    )
    assert wrong == [], f"{module} may not import {wrong} (docs/architecture.md)"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_only_db_touches_a_database_driver(module):
    drivers = sorted(name for name in GRAPH[module] if part(name) in DRIVERS)
    if part(module) != "db":
        assert drivers == [], f"{module} imports {drivers}: only db/ may"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if part(m) != "db"))
def test_nothing_outside_db_imports_a_backend_or_a_private_db_module(module):
    inner = sorted(
        name
        for name in GRAPH[module]
        if part(name) == "db"
        and len(name.split(".")) > 1
        and (name.split(".")[1].startswith("_") or name.split(".")[1] in {"sqlite", "postgres"})
    )
    assert inner == [], f"{module} reaches into db: {inner}"


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def test_no_import_cycle():
    modules = set(GRAPH)
    edges = defaultdict(set)
    for module, names in GRAPH.items():
        for name in names:
            # "from pkg import mod" names pkg.mod; "from mod import fn" names mod.fn: keep the
            # longest prefix that is one of our modules.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                edges[module].add(name)
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if seen.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for module in sorted(modules):
        if module not in seen:
            visit(module)
