"""Help: the user's guide in a window of the app, Keyboard Shortcuts generated from the menus
the action registry builds, About (version, model and its accuracy, runtime, licences), and the
licence files themselves."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QUrl
from PySide6.QtGui import QKeySequence

from app.model import scenes
from app.ui import help as helpdesk
from app.ui.actions import LIST_KEYS, REGISTRY, ActionId
from app.ui.compat import binding_problem
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))
CARD = scenes.ModelCard.read(scenes.default_card_path())


def test_the_licence_is_mit_and_the_notices_carry_it_verbatim() -> None:
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n") and "Permission is hereby granted" in licence
    notices = helpdesk.notices_path()
    assert notices is not None and notices.parent == scenes.resources_dir()
    text = notices.read_text(encoding="utf-8")
    assert licence.strip() in text  # About ▸ Licences shows the project's own licence too
    for needed in (
        "Qt 6",
        "PySide6",
        "LGPL-3.0",
        "ONNX Runtime",
        "OpenVINO",
        "Pillow",
        "pi-heif",
        "libheif",
        "rawpy",
        "LibRaw",
        "CDDL",
        "NumPy",
        "ImageNet",
        "Intel Image Classification",
        "Data files © Original Authors",
        "samples",
    ):
        assert needed in text, needed
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "MIT"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    assert '"resources/*.md"' in pyproject  # the notices are package data


@pytest.mark.parametrize(
    ("backend", "precision", "expected"),
    [
        ("onnx", "int8", "93.5 % on the 3,000 seg_test photos"),
        ("onnx", "fp32", "93.6 % on the 3,000 seg_test photos"),
        ("openvino", "int8", "93.5 % on the 3,000 seg_test photos"),  # OpenVINO's own record
        ("torch", "fp32", "93.6 % on the 3,000 seg_test photos"),
    ],
)
def test_about_gives_the_accuracy_of_the_precision_that_runs(
    backend: str, precision: str, expected: str
) -> None:
    running = SimpleNamespace(
        card=CARD,
        backend=backend,
        precision=precision,
        model_id=f"{CARD.model_id}/{precision}",
        device_name=f"CPU (2 threads), {backend} {precision}",
    )
    facts = dict(helpdesk.about_facts(running))
    assert facts["Model"].startswith(f"{CARD.model_id}/{precision} ")
    assert facts["Accuracy"].startswith(expected) and "kappa" in facts["Accuracy"]
    assert facts["Runtime"] == f"CPU (2 threads), {backend} {precision}"
    assert "Qt 6." in facts["Software"] and "Python 3." in facts["Software"]


def test_about_reads_the_runtime_through_the_window_s_classifier_stack() -> None:
    """The window's classifier is the engine behind the results cache (and a personal head):
    About still knows it runs ONNX int8, so it gives int8's own measurement."""
    from app.personal.stack import ModelChoice, build_classifier

    with build_classifier(ModelChoice(device="cpu", backend="onnx", precision="int8")) as stack:
        assert type(stack).__name__ != "Classifier"  # a layer in front of the engine
        assert (stack.backend, stack.precision) == ("onnx", "int8")
        facts = dict(helpdesk.about_facts(stack))
    assert facts["Accuracy"].startswith("93.5 % on the 3,000 seg_test photos")


def test_about_without_a_model_names_the_bundled_one_and_why() -> None:
    facts = dict(helpdesk.about_facts(None, "model card not found"))
    assert facts["Model"].startswith(CARD.model_id)
    assert facts["Runtime"] == "none: model card not found"
    personal = SimpleNamespace(card=CARD, backend="onnx", precision="int8",
                               model_id=f"{CARD.model_id}/int8+personal.3", device_name="CPU")  # fmt: skip
    assert "personal model" in dict(helpdesk.about_facts(personal))["Accuracy"]


def test_help_menu_opens_about_licences_shortcuts_and_the_guide(
    qtbot: Any, make_window: Any
) -> None:
    win = make_window()
    menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in menu.actions()] == [
        "&User's Guide",
        "&Keyboard Shortcuts",
        "&About Scene Tagger",
    ]
    qtbot.waitUntil(lambda: win.classifier is not None)
    win.actions[ActionId.ABOUT].trigger()
    about = win.help.open["about"]
    assert about.isVisible() and not about.isModal()
    text = about.text.text()
    assert helpdesk.app_version() in text and win.classifier.model_id in text
    assert win.classifier.device_name in text and "MIT" in text and "LGPL" in text
    about.licences_button.click()
    notices = win.help.open["notices"]
    shown = notices.browser.toPlainText()
    assert "MIT License" in shown and "LibRaw" in shown and "Intel Image Classification" in shown
    win.actions[ActionId.ABOUT].trigger()  # asked again: the same window, raised
    assert win.help.open["about"] is about

    win.actions[ActionId.SHORTCUTS].trigger()
    rows = win.help.open["shortcuts"].texts()
    native = QKeySequence.SequenceFormat.NativeText
    listed = {keys for keys, _ in rows}
    for action_id, spec in REGISTRY.items():  # every shortcut of the registry is listed
        keys = QKeySequence(spec.shortcut).toString(native) if spec.shortcut else ""
        if keys:  # (a standard key unbound on this platform has none to list)
            assert keys in listed, (action_id, keys)
    assert ("Space", "Larger Preview") in rows and ("Ctrl+2", "Needs Review") in rows
    assert ("5", "sea") in rows and ("Ctrl+Z", "Undo") in rows
    assert all((k, w) in rows for k, w in LIST_KEYS)

    win.actions[ActionId.GUIDE].trigger()
    guide = win.help.open["guide"]
    assert guide.path == REPO / "docs" / "user-guide.md"
    assert "Where the tags go" in guide.browser.toPlainText()


def test_the_guide_renders_with_its_pictures_and_section_links(qtbot: Any) -> None:
    path = helpdesk.guide_path()
    assert path == REPO / "docs" / "user-guide.md"  # a checkout reads docs/
    window = helpdesk.DocumentWindow(path, "User's Guide")
    qtbot.addWidget(window)
    doc = window.browser.document()
    anchors, images = set(), []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            anchors.update(fmt.anchorNames())
            if fmt.isImageFormat():
                images.append(fmt.toImageFormat().name())
            it += 1
        block = block.next()
    assert {"where-the-tags-go", "troubleshooting", "keyboard-review"} <= anchors
    assert images and all((path.parent / name).is_file() for name in images)
    links = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        links.update(part.split(")")[0] for part in line.split("](#")[1:])
    assert links and links <= anchors  # every "#section" link of the guide has its heading
    bar = window.browser.verticalScrollBar()
    window.show()
    qtbot.waitExposed(window)
    window._link(QUrl("#troubleshooting"))
    assert bar.value() > 0


def test_github_slugs_match_githubs_anchors() -> None:
    assert helpdesk.github_slug("Where the tags go") == "where-the-tags-go"
    assert helpdesk.github_slug("Formats: JPEG, HEIC & RAW") == "formats-jpeg-heic--raw"
    assert helpdesk.github_slug("The CLI, for batch work") == "the-cli-for-batch-work"


def test_guide_lookup_prefers_the_installed_copy(tmp_path: Path, monkeypatch: Any) -> None:
    fake = tmp_path / "app"
    (fake / "guide").mkdir(parents=True)
    (fake / "guide" / "user-guide.md").write_text("# guide")
    monkeypatch.setattr(helpdesk, "APP_DIR", fake)
    assert helpdesk.guide_path() == fake / "guide" / "user-guide.md"
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path / "bundle"), raising=False)
    (tmp_path / "bundle" / "guide").mkdir(parents=True)
    (tmp_path / "bundle" / "guide" / "user-guide.md").write_text("# bundled")
    assert helpdesk.guide_path() == tmp_path / "bundle" / "guide" / "user-guide.md"
