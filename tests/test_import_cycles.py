"""No import cycle among reflectloop's modules (core, sessions, the TUI), the imports under
``TYPE_CHECKING`` included: the review desk and the command table reach the loop screen through
protocols, the methods type the settings through a protocol of their own, a task file's data spec
gets the task loader handed down."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = ["reflectloop", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(tree: ast.Module):
    """Imports at module level, and inside ``if TYPE_CHECKING:`` (not those inside functions)."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            yield from (n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for top in ("core", "sessions", "tui") for p in (ROOT / top).rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        found = edges.setdefault(name, set())
        for node in top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                # ``from package import submodule`` needs the submodule (the package's own
                # ``__init__`` is a parent's, imported first in any case); any other name, the module.
                targets = [sub if (sub := f"{node.module}.{a.name}") in files else node.module or ""
                           for a in node.names]
            found.update(t for t in targets if t in files)
        found.discard(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_the_detector_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle_in_reflectloop():
    edges = graph()
    assert "reflectloop.tui.screens.loop.screen" in edges["reflectloop.tui.screens.loop"]  # the graph is read
    assert "reflectloop.tui.screens.loop.desk" in edges["reflectloop.tui.screens.loop.screen"]
    assert "reflectloop.core.step.loop" in edges["reflectloop.sessions.service"]
    assert cycles(edges) == []
