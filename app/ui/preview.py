"""The preview pane: the selected photo larger, its label and source, all six scores as bars;
with nothing selected, a line saying what it will show (no empty score bars)."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QFormLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from app.model.scenes import CLASSES
from app.tagging.session import PhotoRecord
from app.tagging.session_io import display_path
from app.ui.thumbnails import PREVIEW_SIDE, ThumbnailCache
from app.ui.views import SCENE_COLORS, badge_text

EMPTY = (
    "Select a photo to see it here, with the model's score for each scene.\n\n"
    "1–6 give it a scene, 7 says it is none of them, 0 gives it back to the model, Space shows "
    "it larger."
)


class ImageLabel(QLabel):
    """Scales its pixmap to the space it has, keeping the aspect ratio; never past `max_zoom`
    times its own size (a small photo is not blown up into a blur)."""

    def __init__(self, max_zoom: float | None = None) -> None:
        super().__init__()
        self.max_zoom = max_zoom
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(200, 150))
        self.setWordWrap(True)  # the hint shown when no photo is selected
        # Ignored, not Expanding: a label's size hint is its pixmap's size, so the pane would
        # grow to fit each photo and push every group sideways when the selection changes.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._pixmap: QPixmap | None = None

    def set_image(self, pixmap: QPixmap | None, text: str = "") -> None:
        self._pixmap = pixmap
        if pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None:
            room = self.size()
            if self.max_zoom is not None:
                room = room.boundedTo(self._pixmap.size() * self.max_zoom)
            self.setPixmap(
                self._pixmap.scaled(
                    room,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()


class PreviewPane(QWidget):
    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.record: PhotoRecord | None = None
        self._full_title = ""
        self.image = ImageLabel()
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.badge = QLabel()
        self.badge.setWordWrap(True)  # "✎ sea · manual (model said mountain)" may be long
        self.error = QLabel()
        self.error.setWordWrap(True)
        for label in (self.title, self.badge, self.error):
            # a long file name or message is cut (the tooltip has it whole), never widens the pane
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setMinimumWidth(0)
        self.error.setStyleSheet("color: #c62828")
        self.bars: dict[str, QProgressBar] = {}
        self.scores = QWidget()  # hidden while no photo is shown
        form = QFormLayout(self.scores)
        form.setContentsMargins(0, 0, 0, 0)
        for name in CLASSES:
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.bars[name] = bar
            form.addRow(name, bar)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.title)
        layout.addWidget(self.badge)
        layout.addWidget(self.error)
        layout.addWidget(self.scores)
        self._style_bars()
        thumbnails.ready.connect(self._thumbnail_ready)
        self.show_record(None)

    def _style_bars(self) -> None:
        """The bars in the scene colours, on the palette's ground (again when it changes: a
        style sheet reads palette() once, so a dark palette would leave white bars)."""
        pal = self.palette()
        for name, bar in self.bars.items():
            bar.setStyleSheet(
                f"QProgressBar {{ border: 1px solid {pal.mid().color().name()}; border-radius: 3px;"
                f" text-align: center; background: {pal.base().color().name()};"
                f" color: {pal.text().color().name()}; }}"
                f" QProgressBar::chunk {{ background: {SCENE_COLORS[name].name()}; }}"
            )

    def changeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:
            self._style_bars()

    def show_record(self, r: PhotoRecord | None) -> None:
        self.record = r
        self.scores.setVisible(r is not None)
        if r is None:
            self.image.set_image(None, EMPTY)
            self._full_title = ""
            self.title.setText("")
            self.badge.setText("")
            self.error.setText("")
            for bar in self.bars.values():
                bar.setValue(0)
                bar.setFormat("")
            return
        self._full_title = r.display_name
        self._elide_title()
        self.title.setToolTip(display_path(r.path))
        self.badge.setText(
            badge_text(r) + (f" (model said {r.auto_label})" if r.manual and r.auto_label else "")
        )
        self.error.setText(r.error or "")
        self.error.setVisible(bool(r.error))
        scores = r.scores or {}
        for name, bar in self.bars.items():
            value = scores.get(name)
            bar.setValue(round((value or 0.0) * 1000))
            bar.setFormat(f"{value * 100:.1f} %" if value is not None else "–")
        self._load_image()

    def _elide_title(self) -> None:
        width = max(40, self.title.width())
        self.title.setText(
            self.title.fontMetrics().elidedText(
                self._full_title, Qt.TextElideMode.ElideMiddle, width
            )
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide_title()

    def follow(self, photos: Any) -> None:
        """Refresh when the shown photo's row of `photos` changes (not for its thumbnail)."""

        def changed(top: Any, bottom: Any, roles: Any) -> None:
            r = self.record
            mine = r is not None and top.row() <= r.id <= bottom.row()
            if mine and Qt.ItemDataRole.DecorationRole not in roles:
                self.refresh()

        photos.dataChanged.connect(changed)

    def refresh(self) -> None:
        self.show_record(self.record)

    def _load_image(self) -> None:
        r = self.record
        if r is None:
            return
        pix = self.thumbnails.get(r.path, PREVIEW_SIDE)
        if pix is not None:
            self.image.set_image(pix)
        else:
            err = self.thumbnails.error(r.path, PREVIEW_SIDE)
            self.image.set_image(None, f"Cannot show this photo:\n{err}" if err else "Loading…")

    @Slot(object, int)
    def _thumbnail_ready(self, path: str, side: int) -> None:
        if side == PREVIEW_SIDE and self.record is not None and os.fspath(self.record.path) == path:
            self._load_image()
