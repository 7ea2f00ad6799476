"""The harness' layout holds: no import circle between its modules, no process started outside the
launcher, no schema string outside the records module, and no import of the harness from the tasks or the
backends (they are the harness' inputs, never its users). Read from the source with ``ast``: nothing is
imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

HARNESS = ROOT / "harness"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(HARNESS.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The harness modules ``path`` imports, at any depth of its code (lazy imports inside functions
    count: a circle through them still ties the modules together); ``TYPE_CHECKING`` blocks too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from harness.bench import plan` imports harness.bench.plan (a module) or a name of it
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    # a package's __init__ is not the modules under it: an edge to a package is an edge to its __init__
    return {name: imports(path, known) - {name} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_harness_has_no_import_circle():
    edges = graph()
    assert "harness.bench.command" in edges["harness.cli"]  # the graph is read
    assert cycles(edges) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_launcher_starts_processes():
    starts = re.compile(r"\bimport subprocess\b|\bsubprocess\.|\bPopen\b|os\.(system|exec|spawn|fork)")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in HARNESS.rglob("*.py") if p.name != "launcher.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if starts.search(line)]
    assert found == []


def test_schema_strings_live_in_the_records_module():
    schema = re.compile(r"rnnbench\.[a-z.]+/\d")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in HARNESS.rglob("*.py") if p != HARNESS / "records.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if schema.search(line)]
    assert found == []


def test_tasks_and_backends_never_import_the_harness():
    found = []
    for folder in ("tasks", "backends"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "harness"]
    assert found == []


def test_the_harness_top_level_is_command_packages_and_at_most_eight_modules():
    top = [p.name for p in HARNESS.glob("*.py")]
    assert len(top) <= 8, top
    packages = {p.name for p in HARNESS.iterdir() if (p / "__init__.py").exists()}
    commands = {p.name for p in HARNESS.iterdir() if (p / "command.py").exists()}
    assert packages - commands == {"common"}
