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
    assert "core.engine.step" in g["core.engine.loop"]  # module level
    assert "core.vocab.actions" in g["core.safety.policy"]  # inside a function / TYPE_CHECKING
    assert "cli.fakeapi" not in g["cli.demo.policies"]  # `.fakeapi` there is cli.demo's
    assert "cli.demo.fakeapi" in g["cli.demo.policies"] or "cli.demo" in g["cli.demo.policies"]


# The layers of core/, bottom first. A module may import its own layer and the ones below, never
# one above; the package a module lives in is its layer, and the few modules directly in core/ are
# the foundation, except settings, which sits on the model table it checks against.
LAYERS = ["core", "core.vocab", "core.store", "core.x11", "core.model", "core.settings",
          "core.safety", "core.replay", "core.report", "core.engine", "core.batch"]


def layer_of(module: str) -> int:
    if module in LAYERS:  # a layer of one module (core.settings) or a package's __init__
        return LAYERS.index(module)
    return LAYERS.index(module.rsplit(".", 1)[0])


def test_core_imports_only_go_down_the_layers():
    upward = {m: sorted(d for d in deps if d.startswith("core") and layer_of(d) > layer_of(m))
              for m, deps in graph().items() if m.startswith("core")}
    assert {m: d for m, d in upward.items() if d} == {}


def test_every_core_module_has_a_layer_and_few_stay_at_the_top():
    modules = [m for m in graph() if m.startswith("core")]
    for module in modules:
        layer_of(module)  # raises for a package not in LAYERS
    top = sorted(m for m in modules if m.count(".") == 1 and m.split(".")[1] not in
                 ("vocab", "store", "x11", "model", "safety", "replay", "report", "engine",
                  "batch"))
    assert len(top) <= 12, top


def test_the_demo_kit_and_test_fakes_are_not_engine():
    g = graph()
    assert not any(m.startswith("core.demo") for m in g)
    assert "cli.demo.fakeapi" in g and "cli.demo.supplier_form" in g
    assert not (ROOT / "core" / "demo").exists()


def deferred_imports_without_a_reason() -> list[str]:
    """Imports inside functions (core/ and cli/) with no comment saying why: on the block's lines
    or on the line just above the block (a block: import statements one after another)."""
    missing = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for fn in ast.walk(ast.parse(source)):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                bodies = [getattr(node, f, None) for f in ("body", "orelse", "finalbody")]
                bodies += [h.body for h in getattr(node, "handlers", [])]
                for body in filter(lambda b: isinstance(b, list), bodies):
                    block: list[ast.stmt] = []
                    for stmt in [*body, None]:
                        if isinstance(stmt, ast.Import | ast.ImportFrom):
                            block.append(stmt)
                            continue
                        if block:
                            first, last = block[0].lineno, block[-1].end_lineno or 0
                            text = lines[max(first - 2, 0):last]
                            if not any("#" in line for line in text):
                                missing.append(f"{path.relative_to(ROOT)}:{first}")
                        block = []
    return missing


def test_every_import_inside_a_function_says_why():
    assert deferred_imports_without_a_reason() == []
