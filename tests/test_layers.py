"""The package's layers: every import goes down the flow, none climbs, none goes in a circle.

mailautoconf/__init__.py lists the layers; this test holds the code to it.
Every import counts, the ones inside functions too: an import deferred to
save start-up time is still a dependency (one such import once made
``config`` and ``deploy`` import each other).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.paths import ROOT

PACKAGE = ROOT / "mailautoconf"

# Lowest first. A module may import from its own layer and the ones before it.
# Folders (or top-level modules) on one line are peers: none imports another.
LAYERS: list[set[str]] = [
    {"model", "names", "problems", "files", "endpoints", "dav", "paccspec", "dnsnames", "dnslookup"},
    {"config", "render"},
    {"clientrules"},
    {"tree"},
    {"pacc"},
    {"reload"},
    {"serve", "deploy", "authoring"},
    {"probe"},
    {"cli"},
    {"__main__"},  # python -m mailautoconf: runs cli
]
VOCABULARY = LAYERS[0]


def room(module: str) -> str:
    """The folder (or, at the top, the module) a dotted module name lives in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def rank(module: str) -> int:
    name = room(module)
    if name == "__init__":
        return -1
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS and to mailautoconf/__init__.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every mailautoconf module ``module`` imports, with the line, wherever the import statement is."""
    return imports_in(path.read_text(encoding="utf-8"), module, path.name == "__init__.py", known)


def imports_in(source: str, module: str, is_package: bool, known: set[str]) -> Iterator[tuple[str, int]]:
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mailautoconf"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if not base.startswith("mailautoconf"):
                continue
            for alias in node.names:
                # `from mailautoconf.render import apple` imports a module; `import Config` a name in one.
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in known else base), node.lineno


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        module: {target for target, _ in imports(module, path, known) if target != module}
        for module, path in found.items()
    }


def test_every_folder_and_top_module_is_in_a_layer() -> None:
    outside = [
        module
        for module in modules()
        if room(module) != "__init__" and not any(room(module) in layer for layer in LAYERS)
    ]
    assert outside == [], "add their folders to LAYERS and to mailautoconf/__init__.py"


def against_layers(module: str, target: str) -> bool:
    """Whether ``module`` importing ``target`` climbs to a later layer or goes sideways to a peer folder."""
    if room(target) == "__init__" or room(module) == room(target):
        return False
    source_rank, target_rank = rank(module), rank(target)
    # The vocabulary's modules may use one another; peers in a later layer may not.
    return target_rank > source_rank or (target_rank == source_rank and source_rank != 0)


def test_no_import_climbs_to_a_later_layer_or_sideways_to_a_peer() -> None:
    found = modules()
    known = set(found)
    wrong = []
    for module, path in found.items():
        for target, line in imports(module, path, known):
            if against_layers(module, target):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from mailautoconf.serve import web\n", "mailautoconf.serve.web"),
        ("def f():\n    from mailautoconf.tree.store import Store\n", "mailautoconf.tree.store"),
        ("from .. import model\n", "mailautoconf.model"),
        ("from . import apple\n", "mailautoconf.render.apple"),
        ("import mailautoconf.cli\n", "mailautoconf.cli"),
    ],
)
def test_imports_are_read_wherever_they_are(source: str, expected: str) -> None:
    # The reader itself: deferred and relative imports are seen, or the rules above prove nothing.
    found = [target for target, _ in imports_in(source, "mailautoconf.render.thunderbird", False, set(modules()))]
    assert found == [expected]


@pytest.mark.parametrize(
    ("module", "target", "wrong"),
    [
        ("mailautoconf.render.apple", "mailautoconf.serve.web", True),  # climbs
        ("mailautoconf.config.loader", "mailautoconf.deploy.resolve", True),  # climbs (the old hidden cycle)
        ("mailautoconf.deploy.nginx", "mailautoconf.serve.web", True),  # sideways, between peers
        ("mailautoconf.serve.web", "mailautoconf.tree.store", False),  # down the flow
        ("mailautoconf.dnsnames", "mailautoconf.names", False),  # within the vocabulary
        ("mailautoconf.probe.fleet", "mailautoconf.probe.run", False),  # within a folder
    ],
)
def test_the_rule(module: str, target: str, wrong: bool) -> None:
    assert against_layers(module, target) is wrong
