"""The window's runtime option: settings dialog, reload on change, status bar, fallback notice."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("onnxruntime")

from PySide6.QtCore import QSettings

from app.model.engine import Classifier
from app.ui import guard
from app.ui.compat import binding_problem
from app.ui.dialogs import Preferences, SettingsDialog
from app.ui.settings import Settings
from app.ui.window import MainWindow

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))


def settings_in(folder: Path) -> Settings:
    return Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))


def test_the_dialog_offers_the_runtime(qtbot: Any, tmp_path: Path) -> None:
    s = settings_in(tmp_path)
    assert s.backend == "auto"
    dialog = SettingsDialog(s)
    qtbot.addWidget(dialog)
    dialog.backend.setCurrentIndex(2)
    assert dialog.preferences().backend == "onnx"
    dialog.backend.setCurrentIndex(3)
    assert dialog.preferences().backend == "openvino"
    loaded = SimpleNamespace(device_name="CPU, OpenVINO int8", runtime_why="measured faster")
    note = SettingsDialog(s, classifier=loaded)
    qtbot.addWidget(note)
    assert note.runtime_note.text() == "Now: CPU, OpenVINO int8 — measured faster"
    s.backend = "onnx"
    assert settings_in(tmp_path).backend == "onnx"
    s.store.setValue("model/backend", "tensorflow")
    assert s.backend == "auto"


def window(qtbot: Any, tmp_path: Path, card: Path) -> tuple[MainWindow, list[tuple]]:
    asked: list[tuple] = []

    def factory(device: str, backend: str = "auto") -> Classifier:
        asked.append((device, backend))
        return Classifier(card, device="cpu", backend=backend)

    guard.caught.clear()
    win = MainWindow(
        settings=settings_in(tmp_path), classifier_factory=factory, cache_dir=tmp_path / "cache"
    )
    qtbot.addWidget(win)
    return win, asked


def test_changing_the_runtime_reloads_and_the_status_bar_names_it(
    qtbot: Any,
    tmp_path: Path,
    onnx_card: Path,
) -> None:
    win, asked = window(qtbot, tmp_path, onnx_card)
    qtbot.waitUntil(lambda: win.classifier is not None, timeout=30_000)
    assert "ONNX Runtime int8" in win.device_label.text()  # auto on a CPU
    assert win.device_label.text().endswith("/int8")
    with qtbot.waitSignal(win.classifier_changed, timeout=30_000):
        win.apply_preferences(Preferences("auto", 0.8, "ext", "Scene", backend="torch"))
    assert asked[-1] == ("auto", "torch") and "torch" in win.device_label.text()
    win.shutdown()
    assert guard.caught == []


def test_a_fallback_is_said_in_the_status_bar(
    qtbot: Any,
    tmp_path: Path,
    onnx_copy: Path,
) -> None:
    int8 = onnx_copy.parent / "tiny.int8.onnx"
    int8.unlink()
    win, _ = window(qtbot, tmp_path, onnx_copy)
    qtbot.waitUntil(lambda: win.classifier is not None, timeout=30_000)
    assert "ONNX Runtime fp32" in win.device_label.text()
    message = win.statusBar().currentMessage()
    assert str(int8) in message and "falling back to ONNX fp32" in message
    win.shutdown()


def test_flip_tta_is_a_setting_that_reloads_the_model(
    qtbot: Any, tmp_path: Path, onnx_card: Path
) -> None:
    s = settings_in(tmp_path)
    assert s.tta == "none"
    dialog = SettingsDialog(s)
    qtbot.addWidget(dialog)
    dialog.tta.setCurrentIndex(1)
    assert dialog.preferences().tta == "flip"
    asked: list[dict] = []

    def factory(device: str, **named: str) -> Classifier:
        asked.append(named)
        return Classifier(onnx_card, device="cpu", **named)

    guard.caught.clear()
    win = MainWindow(settings=s, classifier_factory=factory, cache_dir=tmp_path / "cache")
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.classifier is not None, timeout=30_000)
    assert asked == [{}] and "flip TTA" not in win.device_label.text()
    with qtbot.waitSignal(win.classifier_changed, timeout=30_000):
        win.apply_preferences(Preferences("auto", 0.8, "ext", "Scene", tta="flip"))
    assert asked[-1] == {"tta": "flip"} and "flip TTA" in win.device_label.text()
    assert settings_in(tmp_path).tta == "flip"
    win.shutdown()
    assert guard.caught == []


def test_the_early_cache_lookup_asks_for_the_tta_model_id(
    tmp_path: Path, photo_folder: Path, capsys: Any
) -> None:
    """Results `classify --tta flip` stored are what the window shows early with flip TTA on,
    and one-pass results are not."""
    from app.cli import main as cli
    from app.ui.workers import cache_lookup

    photos = sorted(photo_folder.glob("*.jpg"))
    time.sleep(2.1)  # the early lookup trusts only settled stat keys (2 s, "racily clean")
    assert cli.main(["classify", "--tta", "flip", str(photo_folder)]) == 0
    capsys.readouterr()
    s = settings_in(tmp_path)
    lookup = cache_lookup(s)
    assert lookup is not None
    model_id, hits = lookup(photos)
    assert not model_id.endswith("+tta-flip") and hits == []
    s.tta = "flip"
    lookup = cache_lookup(s)
    assert lookup is not None
    model_id, hits = lookup(photos)
    assert model_id.endswith("+tta-flip") and len(hits) == len(photos)
