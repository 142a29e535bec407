"""The package reads as the pipeline: each stage imports only from the stages before it.

``allocator/`` holds one subpackage per stage, in this order (a module may import from its own
stage and from earlier ones, never from a later one), with the shared base modules first:

    errors, version, numbers, log  <  inputs  <  build  <  engine  <  plan  <  explain
    <  verification  <  report  <  pipeline  <  tools  <  cli

Every import counts, including those inside functions (a lazy import is still a dependency) and
those under ``TYPE_CHECKING``. The facade ``allocator/__init__.py`` and ``__main__`` may import
anything; no module imports the facade. Inside the package there is no import cycle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "allocator"
LAYERS = [
    ("errors", "version", "numbers", "log"),
    ("inputs",),
    ("build",),
    ("engine",),
    ("plan",),
    ("explain",),
    ("verification",),
    ("report",),
    ("pipeline",),
    ("tools",),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
FACADE = {"allocator", "allocator.__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "data" not in p.relative_to(PACKAGE).parts}


def _imports(name: str, path: Path) -> set[str]:
    """Every allocator module ``name`` imports (absolute, resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "allocator")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "allocator":
                continue
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from allocator.engine import lp`
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        graph[name] = {m for m in _imports(name, path) if m in mods and m != name}
    return graph


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return RANK.get(parts[1]) if len(parts) > 1 else None


def test_every_module_belongs_to_a_layer():
    unplaced = [m for m in _modules() if m not in FACADE and _layer(m) is None]
    assert not unplaced, f"modules outside the layers: {unplaced}"


def test_a_stage_imports_only_from_stages_before_it():
    bad = []
    for mod, deps in _graph().items():
        if mod in FACADE:
            continue
        for dep in deps:
            if dep == "allocator":
                bad.append(f"{mod} imports the facade `allocator`")
            elif _layer(dep) is not None and _layer(dep) > _layer(mod):
                bad.append(f"{mod} (layer {LAYERS[_layer(mod)][0]}) imports {dep} (layer {LAYERS[_layer(dep)][0]})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = {m: {d for d in deps if d not in FACADE and not graph_is_package(d)} for m, deps in _graph().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state and m not in FACADE:
            visit(m, [])
    assert not cycles, "\n".join(cycles)


def graph_is_package(module: str) -> bool:
    path = PACKAGE.parent / Path(*module.split("."))
    return (path / "__init__.py").exists()


@pytest.mark.parametrize("layer", [names[0] for names in LAYERS[1:]])
def test_each_stage_is_a_subpackage(layer):
    assert (PACKAGE / layer / "__init__.py").exists()


def test_the_benchmark_child_imports_allocator_only_when_timed():
    """``tools/bench.py`` runs itself as each path's child process and times the import of allocator:
    no module-level import of allocator may come before that (it would hide the import time)."""
    tree = ast.parse((PACKAGE / "tools" / "bench.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.split(".")[0] == "allocator"], names
