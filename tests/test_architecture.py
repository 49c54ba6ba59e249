"""The house rules of docs/architecture.md, checked on every import in the code.

Every ``import`` counts: at module level, inside functions (the CLI's lazy ones) and under
``if TYPE_CHECKING:``. The domain (``workflows``) imports no adapter and not the composition
root; what Chaser says (``notifications``) imports no adapter; the adapters (``integrations``)
do not reach back into the composition root (``chaser``); and no module imports, however
indirectly, one that imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("chaser", "workflows", "notifications", "integrations")
#: package -> the first-party packages it may not import.
FORBIDDEN = {
    "workflows": {"chaser", "integrations", "notifications"},
    "notifications": {"chaser", "integrations"},
    "integrations": {"chaser"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """The first-party modules ``module`` imports, with the line of each import."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolve(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield from _resolve(candidate if candidate in MODULES else base, node.lineno)


def _resolve(name: str, line: int) -> Iterator[tuple[str, int]]:
    """The longest first-party module that ``name`` names (``a.b.C`` is module ``a.b``)."""
    parts = name.split(".")
    while parts:
        dotted = ".".join(parts)
        if dotted in MODULES:
            yield dotted, line
            return
        parts.pop()


GRAPH = {m: sorted({i for i, _ in _imported(m, p)} - {m}) for m, p in MODULES.items()}


def test_it_finds_the_code_it_checks() -> None:
    assert "workflows.replies.apply" in MODULES and "chaser.cli" in MODULES
    assert "workflows.replies.apply" in GRAPH["workflows.replies.intake"]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_room_imports_only_what_is_below_it(package: str) -> None:
    breaches = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
        for m, path in MODULES.items()
        if m.split(".")[0] == package
        for target, line in _imported(m, path)
        if target.split(".")[0] in FORBIDDEN[package]
    ]
    assert breaches == []


def test_there_is_no_import_circle_anywhere() -> None:
    circles = [sorted(c) for c in _strongly_connected(GRAPH) if len(c) > 1]
    assert circles == []


def _strongly_connected(graph: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (no recursion limit to hit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
            elif step not in index:
                index[step] = low[step] = counter
                counter += 1
                stack.append(step)
                on_stack.add(step)
                work.append((step, iter(graph.get(step, ()))))
            elif step in on_stack:
                low[node] = min(low[node], index[step])
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert [c for c in _strongly_connected(graph) if len(c) > 1] == [{"a", "b", "c"}]


def test_the_map_names_only_files_that_exist() -> None:
    """docs/architecture.md is the map of the house: every path it names is real, and each of
    its four 'where to add' answers names a file."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:[\w.-]+/)+(?:[\w.-]+\.\w+)?)`", text))
    assert len(named) > 20
    assert [p for p in sorted(named) if not (ROOT / p).exists()] == []
    where_to_add = text.split("## Where to add")[1].split("\n## ")[0]
    answers = [a for a in where_to_add.split("\n\n") if a.startswith("**")]
    assert len(answers) == 4
    for answer in answers:
        assert re.search(r"`(?:[\w.-]+/)+[\w.-]+\.(?:py|yaml)`", answer), answer[:40]
