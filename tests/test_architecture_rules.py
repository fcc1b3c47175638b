"""The dependency rules of docs/architecture.md, checked on the source with `ast`.

Every `import` and `from … import` statement in app/ is read, at module level and inside
functions (a lazy import is still a dependency). Three rules:

1. No import cycle among app modules. Module-level and function-level imports both count
   (the old app.model.scenes <-> app.model.networks cycle ran through a function); imports under
   `if TYPE_CHECKING:` do not, since they never run.
2. Nothing in app/ imports `training` or `torchvision`.
3. Nothing outside app/ui/ imports PySide6 (or shiboken6).

Resolution: `import app.x.y` depends on app.x.y; `from app import x` on app.x when x is a
module of the tree, else on the package app; relative imports resolve against the importing
module's package. A dependency on a module does not add one on its parent packages (their
__init__ files hold docstrings only).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

FORBIDDEN_IN_APP = ("training", "torchvision")
QT_ROOTS = ("PySide6", "shiboken6")
QT_HOME = "app.ui"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. app.ui.window
    target: str  # the dotted module it depends on
    line: int
    where: str  # "module", "function" or "type-checking"

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.target} ({self.where} level)"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file for every module of the package under `root`."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.Module):
    """(import node, where) for every import, walking into functions, classes and blocks."""

    def walk(node: ast.AST, where: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, where
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "function" if where == "module" else where)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "type-checking")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), where)
            else:
                yield from walk(child, where)

    yield from walk(tree, "module")


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node, where in _statements(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = []
            for alias in node.names:
                sub = f"{stem}.{alias.name}"
                targets.append(sub if sub in known else stem)
        found += [Import(module, t, node.lineno, where) for t in dict.fromkeys(targets)]
    return found


def all_imports(root: Path, package: str = "app") -> list[Import]:
    modules = module_names(root, package)
    known = set(modules)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, known)]


def import_cycles(imports: list[Import], package: str = "app") -> list[list[str]]:
    """Each cycle among the package's modules (a strongly connected component of more than one
    module, or a module importing itself), through imports that run."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.where != "type-checking" and imp.target.split(".")[0] == package:
            graph.setdefault(imp.importer, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
            if len(component) > 1 or v in graph[v]:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def forbidden_imports(imports: list[Import]) -> list[Import]:
    """Imports that break rules 2 and 3 (type-checking imports included: they are still a
    dependency of the source)."""
    bad = []
    for imp in imports:
        root = imp.target.split(".")[0]
        in_ui = imp.importer == QT_HOME or imp.importer.startswith(QT_HOME + ".")
        if root in FORBIDDEN_IN_APP or (root in QT_ROOTS and not in_ui):
            bad.append(imp)
    return bad


# --- the rules, on the real tree ------------------------------------------------------------


@pytest.fixture(scope="module")
def app_imports() -> list[Import]:
    imports = all_imports(REPO)
    assert len(imports) > 50  # the walk really saw the app
    return imports


def test_app_has_no_import_cycles(app_imports: list[Import]) -> None:
    assert import_cycles(app_imports) == []


def test_app_never_imports_training_or_torchvision_and_qt_stays_in_ui(
    app_imports: list[Import],
) -> None:
    assert [str(imp) for imp in forbidden_imports(app_imports)] == []


def test_the_networks_do_not_import_the_contract_back(app_imports: list[Import]) -> None:
    assert [
        i
        for i in app_imports
        if i.importer == "app.model.networks" and i.target == "app.model.scenes"
    ] == []


def test_importing_the_contract_does_not_load_torch() -> None:
    """The window shows before torch's seconds-long import: the contract, imaging and the
    device helpers must not pull torch (or the networks) in when they are imported."""
    code = (
        "import sys, app.model.scenes, app.photos.imaging, app.model.devices\n"
        "print(sorted({'torch', 'app.model.networks', 'PySide6'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- the checker catches what it should, on small fake trees --------------------------------


def fake_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    for folder in [tmp_path / "app", *(tmp_path / "app").rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    """The shape this project had: the contract re-exported the networks lazily, and the
    networks imported the contract at module level."""
    root = fake_tree(
        tmp_path,
        {
            "app/model/scenes.py": "def __getattr__(name):\n    from app.model import networks\n",
            "app/model/networks.py": "from app.model.scenes import NUM_CLASSES\n",
            "app/model/engine.py": "from app.model import scenes\n",
        },
    )
    assert import_cycles(all_imports(root)) == [["app.model.networks", "app.model.scenes"]]


def test_relative_imports_and_longer_cycles_are_found(tmp_path: Path) -> None:
    root = fake_tree(
        tmp_path,
        {
            "app/a.py": "from . import b\n",
            "app/b.py": "from .ui import c\n",
            "app/ui/c.py": "from ..a import thing\n",
            "app/d.py": "import app.d\n",
        },
    )
    assert import_cycles(all_imports(root)) == [["app.a", "app.b", "app.ui.c"], ["app.d"]]


def test_type_checking_imports_and_package_attributes_make_no_cycle(tmp_path: Path) -> None:
    root = fake_tree(
        tmp_path,
        {
            "app/__init__.py": "VERSION = '1'\n",
            "app/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app import b\n",
            "app/b.py": "from app import a, VERSION\n",
        },
    )
    imports = all_imports(root)
    assert import_cycles(imports) == []
    assert {(i.importer, i.target, i.where) for i in imports if i.importer != "app.a"} == {
        ("app.b", "app.a", "module"),
        ("app.b", "app", "module"),
    }


def test_training_torchvision_and_qt_outside_ui_are_refused(tmp_path: Path) -> None:
    root = fake_tree(
        tmp_path,
        {
            "app/loader.py": "def load():\n    import training.models\n",
            "app/vision.py": "from torchvision.models import vgg16\n",
            "app/core.py": "from PySide6.QtCore import QObject\n",
            "app/ui/window.py": "from PySide6.QtWidgets import QMainWindow\nimport shiboken6\n",
            "app/fine.py": "import torch\nfrom app.ui import window\n",
        },
    )
    bad = [str(imp) for imp in forbidden_imports(all_imports(root))]
    assert bad == [
        "app.core:1 imports PySide6.QtCore (module level)",
        "app.loader:2 imports training.models (function level)",
        "app.vision:1 imports torchvision.models (module level)",
    ]


MAX_LINES = 600  # the house limit: a module past it holds more than one noun


def test_no_module_is_over_the_house_limit() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for folder in ("app", "training")
        for p in (REPO / folder).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these (over {MAX_LINES} lines): {long}"
