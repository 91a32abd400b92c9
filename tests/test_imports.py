"""The module graph: core never imports cli, and no core modules import each other in a cycle,
counting every import (module level, inside functions, and under TYPE_CHECKING)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path, package: str) -> set[str]:
    """The claude_cua modules `path` imports, by dotted name (e.g. "core.step")."""
    here = package.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - node.level]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module is None:  # from . import a, b
                found.update(".".join([*target, alias.name]) for alias in node.names)
            else:
                found.add(".".join(target))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names]
            for name in names:
                if name and name.startswith("claude_cua."):
                    found.add(name.removeprefix("claude_cua."))
    return found


def graph() -> dict[str, set[str]]:
    modules = {}
    for folder in ("core", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join(parts)
            package = name if is_package else ".".join(parts[:-1])
            modules[name] = imports_of(path, package + ".x" if is_package else name)
    known = set(modules)
    # `from .x import name` names a module x, or a name inside one: keep only modules.
    return {m: {i if i in known else i.rsplit(".", 1)[0] for i in deps} & known - {m}
            for m, deps in modules.items()}


def test_core_never_imports_cli():
    offenders = {m: sorted(d for d in deps if d.startswith("cli"))
                 for m, deps in graph().items() if m.startswith("core")}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_no_import_cycles_among_core_modules():
    edges = {m: {d for d in deps if d.startswith("core")}
             for m, deps in graph().items() if m.startswith("core")}
    cycles = []

    def visit(node, path):
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycle = [*path[path.index(nxt):], nxt]
                if min(cycle[:-1]) == cycle[0]:  # each cycle once
                    cycles.append(" -> ".join(cycle))
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    assert sorted(set(cycles)) == []


def test_the_graph_sees_imports_of_every_kind():
    g = graph()
    assert "core.step" in g["core.loop"]  # module level
    assert "core.actions" in g["core.policy"]  # inside a function / TYPE_CHECKING
    assert "core.fakeapi" not in g["core.demo.policies"]  # `.fakeapi` there is core.demo's
    assert "core.demo.fakeapi" in g["core.demo.policies"] or "core.demo" in g["core.demo.policies"]
