"""The first page: open a folder, try the bundled sample photos, or pick a recent folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
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

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        title = QLabel("<h1>Scene Tagger</h1>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        intro = QLabel(
            "Sorts a folder of photos into buildings, forest, glacier, mountain, sea and street,\n"
            "lets you correct it (drag photos between groups, or press 1–6), and saves the\n"
            "scene as a keyword in each photo's XMP sidecar. Photos themselves are never modified."
        )
        intro.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton("Open a Folder of Photos…")
        self.open_button.clicked.connect(self.browse_requested)
        self.samples_button = QPushButton("Try the Sample Photos")
        self.samples_button.clicked.connect(self.samples_requested)
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
