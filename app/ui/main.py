"""`python -m app [FOLDER]`: the application object, the icon, logging, then the main window."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app import priority
from app.model import scenes
from app.ui import guard
from app.ui.compat import binding_problem
from app.ui.platform_check import display_problem
from app.ui.window import ClassifierFactory, MainWindow
from app.userdirs import APP_NAME, DISPLAY_NAME


def app_icon() -> QIcon:
    icons = scenes.resources_dir() / "icons"
    icon = QIcon()
    for name in ("scene-tagger.svg", "scene-tagger-256.png", "scene-tagger-64.png"):
        if (icons / name).is_file():
            icon.addFile(str(icons / name))
    return icon


SWITCH_INTERVAL_S = 0.001


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_NAME)  # Wayland matches the window to scene-tagger.desktop
    app.setWindowIcon(app_icon())
    # The window's paint and model calls each take the interpreter back from the scan's and
    # the listing's threads; at the default 5 ms switch interval a repaint with hundreds of
    # such calls waited seconds behind a busy Python thread (docs/window_scan.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    priority.set_gui_thread()  # and long loops in other threads step aside for its work
    return app  # type: ignore[return-value]


def run_gui(
    folder: Path | None = None,
    classifier_factory: ClassifierFactory | None = None,
    recursive: bool = False,
    photo: Path | None = None,
) -> int:
    """Open the window and run until it closes.

    With a folder, that folder is scanned; with a photo (a file manager's Open With), its folder,
    with that photo selected. Without either, a first run (no recent folders) opens the bundled
    sample photos with an introduction above them, so the app shows and says what it does at
    once; later runs show the welcome page (what it does, the recent folders, the samples, Open
    Folder).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problem = binding_problem() or display_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    app = make_app()
    guard.install_excepthook()
    window = MainWindow(classifier_factory=classifier_factory)
    # QApplication.exit() (or a quit that closes no window) must still stop the scan thread:
    # a QThread destroyed while running aborts the process.
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    if photo is not None:
        window.open_photo(photo)
    elif folder is not None:
        window.open_folder(Path(folder), recursive=recursive or None)
    elif not window.settings.recent_folders:
        window.open_samples()
        if not window.settings.introduced:
            window.intro.show()
    return int(app.exec())
