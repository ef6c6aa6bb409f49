"""The house's import graph: no cycle, no upward import, each room used only by the rooms above it.

Every import is read from the source (``ast``), including those inside functions, so a late import
cannot hide a cycle. A module is a node; ``from a.b import c`` is an edge to ``a.b.c`` when that is
a module, else to ``a.b``. (Python also runs a package's ``__init__`` before any of its modules; the
packages' ``__init__`` files here hold docstrings, ``infrastructure.http``'s a re-export of
``create_app``, so those implicit edges are left out.)
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "infrastructure", "scripts")

#: Floors, lowest first: a module may import its own floor and those below, never one above.
FLOORS = ("domain", "projections", "infrastructure", "scripts")

#: The rooms of ``infrastructure``, and the rooms each may import (besides itself, settings, files).
ROOMS: dict[str, set[str]] = {
    "eventstore": set(),
    "access": {"eventstore"},
    "readmodels": {"eventstore"},
    "samples": {"eventstore", "access"},
    "audit": {"eventstore", "access", "readmodels"},
    "http": {"eventstore", "access", "readmodels", "audit"},
    "cli": {"eventstore", "access", "readmodels", "audit", "samples", "http"},
}
SHARED = {"settings", "files"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in modules else base)
    return {t for t in targets if t in modules and t != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "infrastructure" and len(parts) > 1 else None


def test_the_graph_is_read_from_every_import_even_inside_a_function() -> None:
    graph = _graph()
    # cli.bench's door to scripts/bench is a subprocess, not an import; case_build's imports are
    # all at the top now, and this shows a function-level import is read: replay's in cli.reports.
    assert "infrastructure.readmodels.errors" in graph["infrastructure.readmodels.case_build"]
    assert any(m.startswith("infrastructure.audit") for m in graph["infrastructure.cli.reports"])
    assert len(graph) > 90


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = _graph()
    graph["infrastructure.eventstore.store"] = graph["infrastructure.eventstore.store"] | {
        "infrastructure.eventstore.application"
    }
    assert any("infrastructure.eventstore.store" in c for c in _cycles(graph))


def test_there_is_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_no_floor_imports_a_floor_above_it() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if FLOORS.index(target.split(".")[0]) > FLOORS.index(module.split(".")[0])
    ]
    assert upward == []


def test_each_room_imports_only_the_rooms_below_it() -> None:
    wrong = []
    for module, targets in _graph().items():
        room = _room(module)
        if room is None or room in SHARED:
            continue
        for target in targets:
            other = _room(target)
            if other is None or other == room or other in SHARED:
                continue
            if other not in ROOMS[room]:
                wrong.append(f"{module} ({room}) imports {target} ({other})")
    assert wrong == []


def test_infrastructure_holds_only_rooms_and_shared_modules() -> None:
    loose = {p.stem for p in (ROOT / "infrastructure").glob("*.py")} - {"__init__"}
    rooms = {p.name for p in (ROOT / "infrastructure").iterdir() if (p / "__init__.py").is_file()}
    assert loose == SHARED
    assert rooms == set(ROOMS)


def test_nothing_imports_the_cli_but_the_cli() -> None:
    users = defaultdict(list)
    for module, targets in _graph().items():
        for target in targets:
            if target.startswith("infrastructure.cli.") and not module.startswith("infrastructure.cli"):
                users[target].append(module)
    # The operators' script runs the CLI's main as a whole program.
    assert dict(users) == {"infrastructure.cli.main": ["scripts.rebuild_projections"]}


def test_the_cli_common_module_imports_no_command_group() -> None:
    graph = _graph()
    assert {t for t in graph["infrastructure.cli.common"] if t.startswith("infrastructure.cli.")} == {
        "infrastructure.cli.text"
    }
