"""Launching the window: run_gui's guards work on any binding, even one that cannot run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from app.model.scenes import ModelError
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


@pytest.mark.skipif(bool(compat.binding_problem()), reason=str(compat.binding_problem()))
def test_make_app_names_the_desktop_entry(qapp: Any) -> None:
    from app.cli.desktop import ENTRY_NAME

    app = ui_main.make_app()
    assert f"{app.desktopFileName()}.desktop" == ENTRY_NAME == "scene-tagger.desktop"


QUIT_MID_SCAN = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from app.model.engine import Classifier, ClassifierLayer
    from app.ui import main as ui_main
    from app.ui.window import MainWindow

    card, folder, how = sys.argv[1:4]

    class Slow(ClassifierLayer):
        def classify_paths(self, paths, progress=None, cancel=None):
            for pred in self.inner.classify_paths(paths, progress=progress, cancel=cancel):
                time.sleep(0.2)
                yield pred

    ui_main.make_app()  # timers need the application; run_gui reuses it
    seen = {}

    def poll():
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if not wins or wins[0].scanner.job is None:
            QTimer.singleShot(20, poll)
            return
        seen["win"], seen["job"] = wins[0], wins[0].scanner.job
        QApplication.quit() if how == "quit" else QApplication.exit(0)

    QTimer.singleShot(20, poll)
    QTimer.singleShot(60_000, lambda: QApplication.exit(3))  # no scan ever started
    rc = ui_main.run_gui(
        Path(folder),
        classifier_factory=lambda device: Slow(Classifier(card=card, device="cpu", batch_size=2)),
    )
    job = seen.get("job")
    if job is None:
        sys.exit(f"no scan started (run_gui returned {rc})")
    print(json.dumps({"rc": rc, "thread_running": job.is_running(),
                      "cancelled": job.cancel_event.is_set(),
                      "scanning": seen["win"].is_scanning()}))
    """
)


@pytest.mark.skipif(bool(compat.binding_problem()), reason=str(compat.binding_problem()))
@pytest.mark.parametrize("how", ["quit", "exit"])
def test_quitting_mid_scan_cancels_and_joins_the_scan(
    how: str, tiny_card: Path, photo_folder: Path, tmp_path: Path
) -> None:
    """QApplication.quit() (or exit(), which closes no window) while a scan runs: the scan is
    cancelled and its thread joined through aboutToQuit, so the process ends cleanly."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1", HOME=str(tmp_path))
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", QUIT_MID_SCAN, str(tiny_card), str(photo_folder), how],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Destroyed while thread" not in proc.stderr
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "thread_running": False, "cancelled": True, "scanning": False}
