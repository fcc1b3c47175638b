"""The dependency rules of docs/architecture.md, checked on the source of app/, training/ and
bench/ (tools.archgraph reads every import with `ast`, at module level and inside functions:
a lazy import is still a dependency; imports under `if TYPE_CHECKING:` never run).

1. No import cycle among the modules of app/, training/ and bench/.
2. Rooms import only downward (ALLOWED): ui and cli -> personal -> cache; ui, cli, personal,
   tagging, cache -> model -> photos. The top-level modules (defaults, priority, userdirs)
   are facts every room may import, and import no room. One named exception: the CLI opens
   the window (app.cli.main imports app.ui.main inside a function).
3. training uses the app's core, never app.ui or app.cli; bench may import anything.
4. Nothing in app/ imports training or torchvision; PySide6 only under app/ui/.
5. The diagram in docs/architecture.md is the one tools.archgraph draws from the code today.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

from tools import archgraph
from tools.archgraph import PACKAGES, Import, all_imports, room

FORBIDDEN_IN_APP = ("training", "torchvision")
QT_ROOTS = ("PySide6", "shiboken6")
QT_HOME = "app.ui"
CORE = {"app.personal", "app.tagging", "app.cache", "app.model", "app.photos"}
# room -> the rooms it may import (besides itself and the shared top-level modules)
ALLOWED: dict[str, set[str]] = {
    "app.__main__": {"app.cli"},
    "app.ui": CORE,
    "app.cli": CORE,
    "app.personal": {"app.cache", "app.model", "app.photos"},
    "app.tagging": {"app.model", "app.photos"},
    "app.cache": {"app.model", "app.photos"},
    "app.model": {"app.photos"},
    "app.photos": set(),
    "training": CORE,
}
SHARED = {"app.defaults", "app.priority", "app.userdirs"}  # importable by every room
# (importer module, target room, where): the CLI's launcher opens the window
EXCEPTIONS = {("app.cli.main", "app.ui", "function")}


def import_cycles(imports: list[Import], packages: tuple[str, ...] = PACKAGES) -> list[list[str]]:
    """Each cycle among the packages' modules (a strongly connected component of more than one
    module, or a module importing itself), through imports that run."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.where != "type-checking" and imp.target.split(".")[0] in packages:
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
    """Imports in app/ that break rule 4 (type-checking imports included: they are still a
    dependency of the source)."""
    bad = []
    for imp in imports:
        if imp.importer.split(".")[0] != "app":
            continue
        root = imp.target.split(".")[0]
        in_ui = imp.importer == QT_HOME or imp.importer.startswith(QT_HOME + ".")
        if root in FORBIDDEN_IN_APP or (root in QT_ROOTS and not in_ui):
            bad.append(imp)
    return bad


# --- the rules, on the real tree ------------------------------------------------------------


def wrong_way(imports: list[Import]) -> list[str]:
    """Imports that break rules 2 and 3 (type-checking ones too: still a dependency of the
    source)."""
    bad = []
    for imp in imports:
        if imp.target.split(".")[0] not in ("app", "training"):
            continue
        a, b = room(imp.importer), room(imp.target)
        if a == b or a == "bench" or b in SHARED or (imp.importer, b, imp.where) in EXCEPTIONS:
            continue
        if a in SHARED or b not in ALLOWED.get(a, set()):
            bad.append(str(imp))
    return bad


@pytest.fixture(scope="module")
def app_imports() -> list[Import]:
    imports = all_imports(REPO, PACKAGES)
    assert len(imports) > 500  # the walk really saw app, training and bench
    assert {room(i.importer) for i in imports} >= {*ALLOWED, "bench"} - {"app.__main__"}
    return imports


def test_no_import_cycles_in_app_training_or_bench(app_imports: list[Import]) -> None:
    assert import_cycles(app_imports) == []


def test_every_room_imports_only_the_rooms_below_it(app_imports: list[Import]) -> None:
    assert wrong_way(app_imports) == []


def test_every_room_of_app_is_stated(app_imports: list[Import]) -> None:
    """A new package under app/ gets its line in ALLOWED (and in docs/architecture.md)."""
    rooms = {room(i.importer) for i in app_imports if i.importer.startswith("app.")}
    assert rooms - set(ALLOWED) - SHARED == set()


def test_the_diagram_in_the_docs_is_the_codes() -> None:
    """docs/architecture.md shows the graph `python -m tools.archgraph` draws today."""
    doc = archgraph.DOC.read_text(encoding="utf-8")
    assert archgraph.rendered(doc, all_imports(REPO, PACKAGES)) == doc, (
        "run python -m tools.archgraph and commit docs/architecture.md"
    )


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


def test_an_import_up_the_house_is_refused(tmp_path: Path) -> None:
    root = fake_tree(
        tmp_path,
        {
            "app/photos/imaging.py": "from app.model.scenes import INPUT_SIZE\n",
            "app/model/scenes.py": "from app import defaults\n",
            "app/defaults.py": "X = 1\n",
            "app/cache/library.py": "def f():\n    from app.tagging import session\n",
            "app/cli/main.py": "def run_window():\n    from app.ui import main\n",
            "app/cli/tag.py": "from app.ui import window\n",
            "app/tagging/session.py": "from app.photos import imaging\n",
            "app/ui/main.py": "from app.cli import common\n",
            "app/ui/window.py": "",
        },
    )
    assert wrong_way(all_imports(root, ("app",))) == [
        "app.cache.library:2 imports app.tagging.session (function level)",
        "app.cli.tag:1 imports app.ui.window (module level)",
        "app.photos.imaging:1 imports app.model.scenes (module level)",
        "app.ui.main:1 imports app.cli (module level)",
    ]
