"""Launching the window: run_gui's guards work on any binding, even one that cannot run it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from app.scenes import ModelError
from app.ui import compat
from app.ui import main as ui_main


def test_run_gui_refuses_a_binding_that_would_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        ui_main, "binding_problem", lambda: "PySide6 X has a bug; install PySide6<6.12"
    )
    assert ui_main.run_gui(None) == 1
    assert "install PySide6<6.12" in capsys.readouterr().err


def test_binding_probe_answers() -> None:
    problem = compat.binding_problem()
    assert problem is None or ("PySide6" in problem and "3.12" in problem)


@pytest.mark.skipif(bool(compat.binding_problem()), reason=str(compat.binding_problem()))
def test_run_gui_opens_a_folder_and_reports_a_missing_model(
    qapp: Any, photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui import settings as settings_module
    from app.ui import window as window_module

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run_gui installs its own

    monkeypatch.setattr(
        settings_module,
        "QSettings",
        lambda *a: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
    )
    monkeypatch.setattr(window_module, "default_cache_dir", lambda: tmp_path / "cache")
    seen: dict[str, Any] = {}

    def broken(device: str) -> Any:
        raise ModelError("model card not found: resources/model_card.json")

    def finish() -> None:
        wins = [
            w for w in QApplication.topLevelWidgets() if isinstance(w, window_module.MainWindow)
        ]
        win = wins[-1]
        if win.session is None or win.classifier_error is None:
            QTimer.singleShot(50, finish)
            return
        seen.update(photos=len(win.session), messages=list(win.messages), title=win.windowTitle())
        win.close_discarding()
        win.deleteLater()

    QTimer.singleShot(50, finish)
    assert ui_main.run_gui(photo_folder, classifier_factory=broken) == 0
    assert seen["photos"] == 6
    assert any("could not be loaded" in m for m in seen["messages"])
    assert photo_folder.name in seen["title"]
