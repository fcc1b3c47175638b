"""Dialogs: preferences, the unsaved-changes question. Only ui/ shows dialogs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QWidget,
)

from app import defaults
from app.defaults import BACKENDS, NAMINGS
from app.ui.settings import DEVICES, Settings


@dataclass(frozen=True)
class Preferences:
    device: str
    threshold: float
    naming: str
    parent: str
    backend: str = defaults.BACKEND
    tta: str = defaults.TTA
    color_scheme: str = "system"
    none_threshold: float | None = None  # None: the model card's


class SettingsDialog(QDialog):
    """Device, runtime, TTA, review threshold, sidecar naming and keyword parent."""

    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        on_personal_reset: Callable[[], None] | None = None,
        classifier: Any = None,
    ) -> None:
        """`classifier` (the window's SceneClassifier, when loaded): shown under Runtime with
        why it runs (its runtime_why: auto's measured reason, or "asked for")."""
        runtime_note = (
            f"Now: {classifier.device_name} — {classifier.runtime_why}" if classifier else ""
        )
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.device = QComboBox()
        for d, text in zip(
            DEVICES, ("Automatic (GPU when available)", "CPU", "CUDA GPU"), strict=True
        ):
            self.device.addItem(text, d)
        self.device.setCurrentIndex(DEVICES.index(settings.device))
        self.backend = QComboBox()
        for b, text in zip(
            BACKENDS,
            (
                "Automatic (torch on a GPU; on a CPU the fastest measured)",
                "torch",
                "ONNX Runtime (CPU)",
                "OpenVINO (CPU)",
            ),
            strict=True,
        ):
            self.backend.addItem(text, b)
        self.backend.setCurrentIndex(BACKENDS.index(settings.backend))
        self.runtime_note = QLabel(runtime_note)
        self.runtime_note.setWordWrap(True)
        self.runtime_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tta = QComboBox()
        for t, text in zip(
            defaults.TTAS, ("One pass", "Also the mirror image (twice the time)"), strict=True
        ):
            self.tta.addItem(text, t)
        self.tta.setCurrentIndex(defaults.TTAS.index(settings.tta))
        self.tta.setToolTip("Flip: average the scores of each photo and its left-right mirror")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 100.0)
        self.threshold.setDecimals(0)
        self.threshold.setSuffix(" %")
        self.threshold.setValue(round(settings.threshold * 100))
        self.threshold.setToolTip(
            "Automatic labels below this confidence need review and are not saved"
        )
        self.none_threshold = QDoubleSpinBox()
        self.none_threshold.setRange(0.0, 2.0)
        self.none_threshold.setDecimals(2)
        self.none_threshold.setSingleStep(0.01)
        self.none_threshold.setSpecialValueText("Model default")  # shown at 0.00
        self.none_threshold.setValue(settings.none_threshold or 0.0)
        self.none_threshold.setToolTip(
            "A photo farther than this from every scene the model knows (its open-set score, "
            'a cosine distance) is "Not a scene" and gets no keyword. Lower is stricter; '
            "2.00 never says it. The model's default calls about 1 % of scene photos so."
        )
        self.naming = QComboBox()
        for n, text in zip(
            NAMINGS, ("IMG_0001.jpg.xmp (darktable, digiKam)", "IMG_0001.xmp (Adobe)"), strict=True
        ):
            self.naming.addItem(text, n)
        self.naming.setCurrentIndex(NAMINGS.index(settings.naming))
        self.naming.setToolTip(
            "Name of new sidecars; an existing sidecar of either name is updated"
        )
        self.parent_keyword = QLineEdit(settings.parent)
        self.parent_keyword.setToolTip(
            "Hierarchical keywords are written as Parent|scene (e.g. Scene|sea)"
        )
        from app.ui.appearance import CHOICES

        self.color_scheme = QComboBox()
        for key, text in CHOICES.items():
            self.color_scheme.addItem(text, key)
        self.color_scheme.setCurrentIndex(list(CHOICES).index(settings.color_scheme))
        self.color_scheme.setToolTip("Light or dark; by default as the desktop is")
        form = QFormLayout(self)
        form.addRow("Device", self.device)
        form.addRow("Runtime", self.backend)
        if runtime_note:
            form.addRow("", self.runtime_note)
        form.addRow("Test-time augmentation", self.tta)
        form.addRow("Review threshold", self.threshold)
        form.addRow("Not a scene beyond", self.none_threshold)
        form.addRow("New sidecar name", self.naming)
        form.addRow("Keyword parent", self.parent_keyword)
        form.addRow("Appearance", self.color_scheme)
        from app.ui.learning import personal_row

        self.personal = personal_row(self, on_personal_reset)
        form.addRow("Personal model", self.personal)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def preferences(self) -> Preferences:
        return Preferences(
            device=str(self.device.currentData()),
            threshold=self.threshold.value() / 100.0,
            naming=str(self.naming.currentData()),
            parent=self.parent_keyword.text().strip() or defaults.PARENT,
            backend=str(self.backend.currentData()),
            tta=str(self.tta.currentData()),
            color_scheme=str(self.color_scheme.currentData()),
            none_threshold=self.none_threshold.value() or None,
        )


def ask_unsaved(parent: QWidget, count: int) -> QMessageBox.StandardButton:
    """Save / Discard / Cancel for `count` unsaved labels."""
    what = f"{count} photo" + ("s have" if count != 1 else " has")
    return QMessageBox.question(
        parent,
        "Unsaved labels",
        f"{what} labels that are not saved in their sidecars yet.\nSave them before continuing?",
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save,
    )


def open_error(parent: QWidget, summary: str, details: str = "") -> None:
    """An error box that does not block the event loop (a modal exec() would stall scans)."""
    box = QMessageBox(
        QMessageBox.Icon.Critical, "Scene Tagger", summary, QMessageBox.StandardButton.Ok, parent
    )
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


def choose_folder(parent: QWidget, start: Path | None) -> Path | None:
    """File ▸ Open: the folder the user picked (starting at `start`, else home), or None."""
    folder = QFileDialog.getExistingDirectory(
        parent, "Open a folder of photos", str(start or Path.home())
    )
    return Path(folder) if folder else None
