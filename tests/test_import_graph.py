"""One direction of imports, checked on the import graph built from the source (tests/import_graph.py):

    version  ←  weights_fetcher  ←  core  ←  addon  ←  cli  ←  the package root (extension entry, composition)

core imports no bpy, no addon and no command line; the fetcher imports nothing of the project but the version;
the add-on never reaches up into the command line; nothing imports in a circle (module level), and core's
sub-packages form no circle either."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from import_graph import Graph, build, collapse, cycles

ROOT = Path(__file__).resolve().parent.parent
P = "avi_talking"


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build(ROOT, P)


def _imports_from(graph: Graph, layer: str) -> list[tuple[str, str]]:
    prefix = f"{P}.{layer}"
    return [(m, t) for m, ts in graph.edges.items() if m == prefix or m.startswith(prefix + ".") for t in ts]


def _in(target: str, *layers: str) -> bool:
    return any(target == f"{P}.{layer}" or target.startswith(f"{P}.{layer}.") for layer in layers)


def test_the_graph_sees_the_whole_package(graph: Graph) -> None:
    assert {f"{P}.core.pipeline.generate", f"{P}.cli.commands.bake", f"{P}.addon.operators",
            f"{P}.weights_fetcher.store", f"{P}.version"} <= set(graph.modules)
    # lazy imports inside functions count: bake's headless Blender part is imported only when it runs
    assert f"{P}.addon.headless" in graph.edges[f"{P}.cli.commands._common"]
    # importlib strings are followed: the CLI loads its sub-commands by name
    assert f"{P}.cli.commands.generate" in graph.edges[f"{P}.cli"]
    assert graph.unresolved == []


def test_core_imports_no_blender_no_addon_and_no_command_line(graph: Graph) -> None:
    bad = [(m, t) for m, t in _imports_from(graph, "core")
           if _in(t, "addon", "cli") or t in {"bpy", "bl_ext", "bmesh", "mathutils", "aud"}]
    assert bad == []


def test_the_fetcher_imports_nothing_of_the_project_but_the_version(graph: Graph) -> None:
    bad = [(m, t) for m, t in _imports_from(graph, "weights_fetcher")
           if t.startswith(P) and not _in(t, "weights_fetcher", "version")]
    assert bad == []


def test_the_version_module_is_a_leaf(graph: Graph) -> None:
    assert not [t for t in graph.edges[f"{P}.version"] if t.startswith(P)]


def test_the_addon_never_reaches_up_into_the_command_line(graph: Graph) -> None:
    assert [(m, t) for m, t in _imports_from(graph, "addon") if _in(t, "cli")] == []


def test_no_module_imports_in_a_circle(graph: Graph) -> None:
    project = {m: {t for t in ts if t in graph.modules} for m, ts in graph.edges.items()}
    assert cycles(project) == []


def test_cores_subpackages_form_no_circle(graph: Graph) -> None:
    packages = collapse(graph, {"core": 2})
    core_only = {a: {b for b in bs if _in(b, "core")} for a, bs in packages.items() if _in(a, "core")}
    assert cycles(core_only) == []


# ---- the checker itself finds what it must ----------------------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_checker_catches_string_imports_lazy_imports_and_circles(tmp_path: Path) -> None:
    _write(tmp_path, {
        "__init__.py": "",
        "version.py": "",
        "core/__init__.py": "",
        "core/a.py": """
            import importlib
            def f():
                return importlib.import_module("..addon.ui", __package__)
            """,
        "core/b.py": "from .c import x\n",
        "core/c.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from .b import y
            def g():
                import bpy
            """,
        "core/d.py": "import importlib\nname = 'x'\nmod = importlib.import_module(name)\n",
        "addon/__init__.py": "",
        "addon/ui.py": "from ..cli import main\n",
        "cli/__init__.py": "",
        "weights_fetcher/__init__.py": "from ..core import b\n",
    })
    graph = build(tmp_path, "pkg")
    assert "pkg.addon.ui" in graph.edges["pkg.core.a"]  # the importlib string, inside a function
    assert "bpy" in graph.edges["pkg.core.c"]
    assert cycles({m: {t for t in ts if t in graph.modules} for m, ts in graph.edges.items()}) == [
        ["pkg.core.b", "pkg.core.c"]]  # the TYPE_CHECKING import closes the circle
    assert graph.unresolved == ["pkg.core.d:3: importlib.import_module(name)"]
    assert "pkg.core.b" in graph.edges["pkg.weights_fetcher"]
    assert "pkg.cli" in graph.edges["pkg.addon.ui"]
