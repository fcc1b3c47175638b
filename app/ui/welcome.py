"""The first page: what the app does, open a folder, try the bundled sample photos, or pick a
recent folder; and the first launch's introduction (IntroBar), shown over the sample photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import userdirs
from app.model import scenes
from app.photos import imaging
from app.photos.oserrors import os_reason
from app.ui.settings import Settings

STEPS = (
    "<p>Scene Tagger sorts a folder of photos into six scenes — <b>buildings, forest, glacier, "
    "mountain, sea, street</b> — with a model that runs on this computer.</p>"
    "<ol>"
    "<li><b>Open</b> a folder: its photos appear grouped by scene, each with the model's "
    "confidence.</li>"
    "<li><b>Review</b>: <i>Needs review</i> (Ctrl+2) holds the photos the model is unsure about. "
    "Press 1–6 to give the selected photo a scene, 7 for <i>Not a scene</i> (0 leaves it to the "
    "model), and the next one "
    "is selected; Space shows it larger. Or drag photos onto another group.</li>"
    "<li><b>Save</b> (Ctrl+S): each scene goes as a keyword into an XMP sidecar beside the photo "
    "(<tt>IMG_0001.jpg.xmp</tt>), where digiKam, darktable and Lightroom find it. The photos "
    "themselves are never changed.</li>"
    "</ol>"
)
INTRO = (
    "<b>Welcome to Scene Tagger.</b> These are sample photos, sorted by the model into six "
    "scenes. Correct one by dragging it onto another group, or select it and press 1–6 (7: not "
    "a scene; 0 gives it back to the model); <i>Needs review</i> holds those the model is unsure about; Space "
    "shows a photo larger. <b>Save</b> (Ctrl+S) writes each scene as a keyword into an XMP "
    "sidecar beside the photo, where digiKam, darktable and Lightroom find it; the photos "
    "themselves are never changed."
)


def samples_dir() -> Path | None:
    """The bundled sample photos, when the package ships some. Never opened as they are (the
    app's own folder is read-only once installed): `user_samples` copies them."""
    folder = scenes.resources_dir() / "samples"
    return folder if folder.is_dir() and imaging.list_photos(folder) else None


def open_user_samples(open_folder: Callable[[Path], Any], show_error: Callable[[str], Any]) -> None:
    """Open the user's copy of the sample photos (in the user data folder, made on first use:
    saving them never writes into the app's own folder), or say why it cannot be."""
    bundled = samples_dir()
    if bundled is None:
        show_error("The sample photos are not installed.")
        return
    try:
        folder = userdirs.sample_photos(bundled)
    except OSError as exc:
        show_error(f"The sample photos cannot be copied to {userdirs.data_dir()}: {os_reason(exc)}")
        return
    open_folder(folder)


class WelcomePage(QWidget):
    open_requested = Signal(object)  # Path
    browse_requested = Signal()
    samples_requested = Signal()
    guide_requested = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        title = QLabel("<h1>Scene Tagger</h1>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        intro = QLabel(STEPS)
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setWordWrap(True)
        intro.setFixedWidth(620)
        intro.setMinimumHeight(intro.heightForWidth(620))  # a layout would give it one line
        self.open_button = QPushButton("Open a Folder of Photos…")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.browse_requested)
        self.samples_button = QPushButton("Try the Sample Photos")
        self.samples_button.clicked.connect(self.samples_requested)
        self.guide_button = QPushButton("Read the User's Guide (F1)")
        self.guide_button.clicked.connect(self.guide_requested)
        hint = QLabel("You can also drop a folder onto this window.")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(180)
        self.recent.itemActivated.connect(self._open_recent)
        self.recent.itemClicked.connect(self._open_recent)
        self.recent_label = QLabel("Recent folders:")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for w in (
            title,
            intro,
            self.open_button,
            self.samples_button,
            self.guide_button,
            hint,
            self.recent_label,
            self.recent,
        ):
            layout.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        self.recent.setMinimumWidth(480)
        layout.addStretch(2)
        self.refresh()

    def refresh(self) -> None:
        samples = samples_dir()
        self.samples_button.setEnabled(samples is not None)
        self.samples_button.setToolTip(
            str(samples) if samples else "No sample photos are installed"
        )
        self.recent.clear()
        for folder in self.settings.recent_folders:
            item = QListWidgetItem(str(folder))
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            self.recent.addItem(item)
        has_recent = self.recent.count() > 0
        self.recent.setVisible(has_recent)
        self.recent_label.setVisible(has_recent)

    def _open_recent(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(Path(item.data(Qt.ItemDataRole.UserRole)))


class IntroBar(QFrame):
    """The first launch's introduction, above the sample photos, until it is dismissed or a
    folder of one's own is opened (Settings.introduced remembers it)."""

    open_requested = Signal()
    guide_requested = Signal()
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("intro")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.text = QLabel(INTRO)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        open_button = QPushButton("Open Your Own Folder…")
        open_button.clicked.connect(self.open_requested)
        guide_button = QPushButton("User's Guide")
        guide_button.clicked.connect(self.guide_requested)
        close_button = QPushButton("Got It")
        close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.text, 1)
        for button in (open_button, guide_button, close_button):
            row.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    def dismiss(self) -> None:
        if self.isVisible():
            self.hide()
            self.dismissed.emit()
