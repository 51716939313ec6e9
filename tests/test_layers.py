"""The layout is the architecture (CONTRIBUTING.md): optrun.core (the
pipeline) imports nothing above it, optrun.config (the file format, user
files) only the core, optrun.commands the two below; the CLI and the public
API sit on top. Imports inside functions count too, and no two modules
import each other, directly or round a longer loop."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "optrun"

# layer -> the layers its modules may import
ALLOWED = {
    "core": {"core"},
    "config": {"core", "config"},
    "engine": {"core", "config", "engine"},
    "commands": {"core", "config", "engine", "commands"},
    "top": {"core", "config", "engine", "commands", "top"},
}
# optrun.plots draws a run's files (rebuilding its problem for a landscape)
# and the engine draws them when a run ends: the two are one layer
PACKAGE_LAYER = {"core": "core", "config": "config", "engine": "engine", "plots": "engine", "commands": "commands"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return PACKAGE_LAYER.get(parts[1], "top") if len(parts) > 1 else "top"


def imports(path: Path) -> set[str]:
    """The optrun modules ``path`` imports, at the top or inside functions."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in known and name != here}


GRAPH = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_graph_is_read():
    assert "optrun.core.runner" in GRAPH["optrun.engine.record"]
    assert "optrun.core.registry" in GRAPH["optrun.core.problems"]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer(m) != "top"))
def test_layers_import_only_downwards(module):
    # (the package root, `optrun`, holds __version__ and loads its public
    # names lazily; every `import optrun.x` runs it anyway)
    above = sorted(name for name in GRAPH[module] if name != "optrun" and layer(name) not in ALLOWED[layer(module)])
    assert not above, f"{module} ({layer(module)}) imports {above}"


def test_no_import_cycles():
    # A package's __init__ importing its own submodules (to register the
    # built-ins), which import names from the package, is how Python packages
    # work, not a cycle between two parts of the design: edges from a module
    # to a package that contains it are left out.
    def edges(module: str) -> set[str]:
        return {name for name in GRAPH[module] if not module.startswith(name + ".")}

    cycles, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for name in sorted(edges(module)):
            if state.get(name) == "open":
                cycles.append(stack[stack.index(name) :] + [name])
            elif name not in state:
                visit(name, stack + [name])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
