"""The larger preview (Space, or a double click): one photo as large as the window allows, as
Lightroom's loupe and digiKam's preview show it, on a neutral dark ground.

It shows the current photo of the list it was opened from, with its label and where it is in
that list, and takes the review keys itself: 1–7 and 0 label it and go on to the next photo
(through the same path as in the grid), the arrow keys step through the list, Space, Return
or Esc go back to the grid. The picture is decoded at LOUPE_SIDE off the GUI thread by the
thumbnail cache; the next photo's is asked for ahead, so stepping forward shows it at once.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.model.openset import OUTCOMES
from app.tagging.session import PhotoRecord
from app.ui.preview import ImageLabel
from app.ui.thumbnails import ThumbnailCache
from app.ui.views import badge_text

LOUPE_SIDE = 1600  # decoded long side: sharp on a full-HD window, ~30-60 ms for a 24 MP JPEG
MAX_ZOOM = 3.0  # a small photo (the 150 px samples) shown at most 3x its size, not a blur
GROUND = QColor("#262626")  # neutral: colours are judged against grey, not the theme
INK = QColor("#e8e8e8")
HINT = (
    "1–6 label, 7 not a scene, and go on · 0 back to the model · ← → previous / next · "
    "Space, Esc back to the grid"
)

STEPS = {
    Qt.Key.Key_Left: -1,
    Qt.Key.Key_Up: -1,
    Qt.Key.Key_PageUp: -1,
    Qt.Key.Key_Backspace: -1,
    Qt.Key.Key_Right: 1,
    Qt.Key.Key_Down: 1,
    Qt.Key.Key_PageDown: 1,
    Qt.Key.Key_Home: -(10**9),
    Qt.Key.Key_End: 10**9,
}
CLOSERS = (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter)


class Loupe(QWidget):
    closed = Signal()  # back to the grid
    step_requested = Signal(int)  # rows to move in the list (±1, or a large number: first/last)
    assign_requested = Signal(object)  # a scene, or None: back to the automatic label

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loupe")
        self.thumbnails = thumbnails
        self.record: PhotoRecord | None = None
        self.ahead: PhotoRecord | None = None  # the next photo, decoded in advance
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoFillBackground(True)
        pal = self.palette()
        for role, color in (
            (QPalette.ColorRole.Window, GROUND),
            (QPalette.ColorRole.WindowText, INK),
            (QPalette.ColorRole.Text, INK),
        ):
            pal.setColor(role, color)
        self.setPalette(pal)
        self.image = ImageLabel(max_zoom=MAX_ZOOM)
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.caption.setFont(font)
        self.hint = QLabel(HINT)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hint.setStyleSheet("color: #a0a0a0")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.hint)
        thumbnails.ready.connect(self._thumbnail_ready)

    def show_record(
        self, record: PhotoRecord | None, where: str = "", ahead: PhotoRecord | None = None
    ) -> None:
        """Show `record` ("3 of 17 in Needs review" as `where`); ask for `ahead` in advance."""
        self.record, self.ahead = record, ahead
        if record is None:
            self.caption.setText(where or "No photo here")
            self.image.set_image(None, "")
            return
        manual = f" (model said {record.auto_label})" if record.manual and record.auto_label else ""
        parts = [record.display_name, badge_text(record) + manual, where]
        self.caption.setText("   ·   ".join(p for p in parts if p))
        self.caption.setToolTip(os.fspath(record.path))
        self._load_image()
        if ahead is not None:
            self.thumbnails.get(ahead.path, LOUPE_SIDE)  # queued: decoded while this is looked at

    def _load_image(self) -> None:
        r = self.record
        if r is None:
            return
        pix = self.thumbnails.get(r.path, LOUPE_SIDE)
        if pix is not None:
            self.image.set_image(pix)
            return
        # the grid's or the preview's smaller picture meanwhile, so the page is never empty
        for side in (640, 256, 128):
            smaller = self.thumbnails.cached(r.path, side)
            if smaller is not None:
                self.image.set_image(smaller)
                return
        err = self.thumbnails.error(r.path, LOUPE_SIDE)
        self.image.set_image(None, f"Cannot show this photo:\n{err}" if err else "Loading…")

    @Slot(object, int)
    def _thumbnail_ready(self, path: str, side: int) -> None:
        if side == LOUPE_SIDE and self.record is not None and os.fspath(self.record.path) == path:
            self._load_image()

    # ---------------------------------------------------------------------------------- keys
    def event(self, event: QEvent) -> bool:
        # Esc is the window's Cancel Scan shortcut; here it means "back to the grid"
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() in CLOSERS
            and not event.modifiers()
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods:
            super().keyPressEvent(event)
        elif key in CLOSERS:
            self.closed.emit()
        elif key in STEPS:
            self.step_requested.emit(STEPS[Qt.Key(key)])
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_7:  # 7: "Not a scene"
            self.assign_requested.emit(OUTCOMES[key - Qt.Key.Key_1])
        elif key == Qt.Key.Key_0:
            self.assign_requested.emit(None)
        else:
            super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.closed.emit()

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        delta = event.angleDelta().y()
        if delta:
            self.step_requested.emit(-1 if delta > 0 else 1)
