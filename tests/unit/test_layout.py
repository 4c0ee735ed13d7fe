"""The package layout: no import cycles, modules of a readable size, no flat leftovers."""

from __future__ import annotations

import ast
from pathlib import Path

import gcdedup

PACKAGE = Path(gcdedup.__file__).resolve().parent
MAX_LINES = 600
#: Modules still over the limit, owned by other work (each to be split, then removed here).
#: Modules allowed past 600 lines, each for the reason given in its docstring.
OVERSIZE_ALLOWED = {"gcdedup.store.dynamodb.store"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph() -> dict[str, set[str]]:
    """module -> the gcdedup modules it imports at run time (TYPE_CHECKING blocks left out).

    Imports inside functions count too: a cycle through a deferred import is still
    a cycle in the design. ``from package import name`` counts as importing the
    submodule ``package.name`` when there is one, else the package.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if _in_type_checking(node, parents):
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                # The nearest gcdedup module that holds the target.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("gcdedup") and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycles() -> None:
    assert _cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_modules_are_at_most_600_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert set(over) <= OVERSIZE_ALLOWED, over


def test_the_analysis_is_a_package_and_nothing_is_left_flat() -> None:
    assert (PACKAGE / "analysis" / "__init__.py").is_file()
    assert (PACKAGE / "sources" / "__init__.py").is_file()
    assert sorted(PACKAGE.glob("analysis_*.py")) == []
    assert not (PACKAGE / "analysis.py").exists()
    assert not (PACKAGE / "sources.py").exists()
    assert not (PACKAGE / "_scan.py").exists()


def test_the_library_has_no_screen_code() -> None:
    # The CLI renders; nothing outside gcdedup.cli imports Rich or Typer, or names a
    # CLI flag in a table header.
    graph_modules = _modules()
    for name, path in graph_modules.items():
        if name.startswith("gcdedup.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & {"rich", "typer"}, name
    analysis = "\n".join(p.read_text() for p in (PACKAGE / "analysis").glob("*.py"))
    assert "class Table" not in analysis and "--csv" not in analysis
