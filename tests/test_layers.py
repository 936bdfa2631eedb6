"""The package's import graph: each part imports only from its own layer or those below, and no parts import each other.

A part is a sub-package (`engine`, `storage`, ...) or a top-level module (`app`, `config`, ...). Every import counts:
at module top, inside a function (a local import that dodges a cycle is still the cycle) and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mcp_browsa"

# Lowest first. A part may import its own layer and any layer below; never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors"),
    (
        "models",
        "validation",
        "events",
        "netpolicy",
        "masking",
        "durations",
        "remote_endpoints",
    ),  # foundation: plain data and pure rules
    ("config", "logsetup"),
    ("crypto", "storage"),  # storage: the only part that speaks SQL
    ("browser", "llm", "webhooks", "idempotent_calls", "key_admin"),
    ("workspace_secrets",),
    ("engine",),
    ("identities", "sessions", "live"),  # live: watching and taking over a running browser
    ("app",),  # composes everything below into one lifespan
    ("server", "surface", "jobs_text"),
    ("tools", "auth", "http_sessions"),  # tools register on the server; auth reads the server's request state
    ("http", "stdio"),
    ("cli", "__main__"),
)
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def _module_name(path: Path) -> tuple[str, str]:
    """The dotted module name of a file, and the package its relative imports resolve against."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    name = ".".join(parts)
    return name, name.rsplit(".", 1)[0]


def _imported(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = package.split(".")
        base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
    # `from mcp_browsa import engine` names a part, not the package root.
    return [f"{base}.{a.name}" for a in node.names] if node.module is None or base == "mcp_browsa" else [base]


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "mcp_browsa":
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1] if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").exists() else "__init__"


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importer part, imported part) -> where, as "file:line"."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        name, package = _module_name(path)
        source = _part(name)
        assert source is not None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _imported(node, package):
                dest = _part(target)
                if dest is not None and dest != source:
                    edges[(source, dest)].append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return edges


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_every_part_has_a_layer() -> None:
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert parts - set(LAYER_OF) == set(), "place the new part in LAYERS"


def test_no_upward_imports() -> None:
    upward = [
        f"{a} (layer {LAYER_OF[a]}) imports {b} (layer {LAYER_OF[b]}) at {', '.join(where)}"
        for (a, b), where in sorted(import_edges().items())
        if LAYER_OF[b] > LAYER_OF[a]
    ]
    assert upward == []


def test_no_cycles_between_parts() -> None:
    edges = import_edges()
    cycles = _cycles(edges)
    described = [" -> ".join(c) + "  (" + "; ".join(edges[(c[-2], c[-1])]) + ")" for c in cycles]
    assert described == []


def test_the_check_sees_local_and_type_checking_imports() -> None:
    """Positive control: a local import and a TYPE_CHECKING import both count as edges."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mcp_browsa.app import Browsa\n"
        "def f():\n    from ..engine import jobs\n"
    )
    tree = ast.parse(code)
    found = [t for node in ast.walk(tree) for t in _imported(node, "mcp_browsa.storage")]
    assert {_part(t) for t in found} == {None, "app", "engine"}  # None: `typing`, outside the package


@pytest.mark.parametrize("edges", [{("a", "b"): ["x:1"], ("b", "a"): ["y:2"]}])
def test_a_cycle_is_found(edges: dict[tuple[str, str], list[str]]) -> None:
    assert _cycles(edges) == [["a", "b", "a"]]
