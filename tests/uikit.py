"""Window fixtures shared by the offscreen and the real-display (xcb) UI tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QSettings
from PySide6.QtWidgets import QMessageBox

from app.model.engine import Classifier, ClassifierLayer
from app.ui import dialogs, guard
from app.ui.settings import Settings
from app.ui.window import MainWindow

SCAN_TIMEOUT = 60_000


class Recording(ClassifierLayer):
    """A real Classifier that remembers which photos it was asked about (and can be slowed)."""

    def __init__(self, inner: Classifier, delay: float = 0.0) -> None:
        super().__init__(inner)
        self.delay, self.seen = delay, []

    def classify_paths(self, paths: Any, progress: Any = None, cancel: Any = None) -> Any:
        self.seen.extend(Path(p) for p in paths)
        for pred in self.inner.classify_paths(paths, progress=progress, cancel=cancel):
            if self.delay:
                time.sleep(self.delay)
            yield pred


@pytest.fixture
def make_window(
    qtbot: Any, tmp_path: Path, tiny_card: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Build windows with their own settings file and cache; dialogs never block."""
    monkeypatch.setattr(
        dialogs, "ask_unsaved", lambda parent, count: QMessageBox.StandardButton.Discard
    )
    guard.caught.clear()
    made: list[MainWindow] = []

    def make(delay: float = 0.0, factory: Any = None) -> MainWindow:
        classifiers: list[Recording] = []

        def default_factory(device: str) -> Recording:
            clf = Recording(Classifier(card=tiny_card, device="cpu", batch_size=16), delay)
            classifiers.append(clf)
            return clf

        settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        win = MainWindow(
            settings=settings,
            classifier_factory=factory or default_factory,
            cache_dir=tmp_path / "cache",
        )
        win.classifiers = classifiers  # type: ignore[attr-defined]
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.shutdown()
    assert guard.caught == [], f"a slot raised: {guard.caught!r}"


def open_and_scan(qtbot: Any, win: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(win.scan_finished, timeout=SCAN_TIMEOUT):
        assert win.open_folder(folder)


def proxy_index(win: MainWindow, label: str, rid: int) -> QModelIndex:
    proxy = win.group_proxies[label]
    return proxy.mapFromSource(win.photos.index(rid))
