"""The project's import graph, read from the source with ``ast`` (nothing is imported).

Every import counts — at module level, inside functions, under ``TYPE_CHECKING`` — and so does every
``importlib.import_module`` call: a constant name is resolved like an import statement; an f-string with a
constant prefix (``f".commands.{name}"``) stands for every module under that prefix; any other argument is
reported as unresolvable, so no import can hide from the checks in ``test_import_graph.py``."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SKIP_TOP = {"tests", "benchmarks", "scripts", "build", "dist", "docs", "samples", "weights"}


@dataclass
class Graph:
    package: str
    modules: dict[str, Path] = field(default_factory=dict)  # module name → file
    packages: set[str] = field(default_factory=set)  # module names that are packages (``__init__.py``)
    edges: dict[str, set[str]] = field(default_factory=dict)  # importer → imported (project modules or top names)
    unresolved: list[str] = field(default_factory=list)  # "module:line: what" for dynamic imports not followed

    def project_edges(self) -> Iterator[tuple[str, str]]:
        for source, targets in self.edges.items():
            for target in targets:
                if target in self.modules:
                    yield source, target


def module_files(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0].startswith(".") or rel.parts[0] in SKIP_TOP or "__pycache__" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join([package, *parts])] = (path, is_package)
    return found


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _deepest_module(name: str, modules: Iterable[str]) -> str:
    """``a.b.c.Name`` → ``a.b.c`` when that is a module (an imported attribute belongs to its module)."""
    known = set(modules)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return parts[0]  # a third-party module: its top-level name (bpy, torch, numpy ...)


def build(root: Path, package: str = "avi_talking") -> Graph:
    files = module_files(root, package)
    graph = Graph(package, {m: p for m, (p, _) in files.items()}, {m for m, (_, pkg) in files.items() if pkg})
    for module, (path, is_package) in files.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(_deepest_module(alias.name, files) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = (_resolve_relative(module, is_package, node.level, node.module) if node.level
                        else node.module or "")
                for alias in node.names:
                    # ``from pkg import sub`` imports the module ``pkg.sub`` when there is one
                    targets.add(_deepest_module(f"{base}.{alias.name}", files))
            elif isinstance(node, ast.Call) and _is_import_module(node):
                targets.update(_dynamic_targets(graph, module, is_package, node, files))
        targets.discard(module)
        graph.edges[module] = targets
    return graph


def _is_import_module(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"import_module", "__import__"}


def _dynamic_targets(graph: Graph, module: str, is_package: bool, node: ast.Call,
                     files: dict[str, tuple[Path, bool]]) -> set[str]:
    arg = node.args[0] if node.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return {_deepest_module(_absolute(module, is_package, arg.value), files)}
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        prefix = _absolute(module, is_package, str(arg.values[0].value))
        matches = {m for m in files if m.startswith(prefix) and m != module}
        if matches:
            return matches
    graph.unresolved.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return set()


def _absolute(module: str, is_package: bool, name: str) -> str:
    level = len(name) - len(name.lstrip("."))
    if not level:
        return name
    rest = name[level:]
    base = _resolve_relative(module, is_package, level, None)
    return f"{base}.{rest}" if rest else base


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    for start in sorted(nodes):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def collapse(graph: Graph, depth_of: dict[str, int]) -> dict[str, set[str]]:
    """The graph between packages: a module counts as its package cut ``depth_of[top]`` names below the root
    (e.g. ``{"core": 2}``: ``avi_talking.core.stage2.synth`` → ``avi_talking.core.stage2``)."""
    def group(name: str) -> str:
        parts = name.split(".")
        depth = depth_of.get(parts[1], 1) if len(parts) > 1 else 0
        return ".".join(parts[: 1 + depth])

    out: dict[str, set[str]] = {}
    for source, target in graph.project_edges():
        a, b = group(source), group(target)
        if a != b:
            out.setdefault(a, set()).add(b)
    return out
