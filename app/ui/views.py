"""Views and the delegate: icon grids with a scene badge, one pane per scene group.

Every cell has the same size (uniform item sizes, batched layout), so a view of thousands lays
out without asking the model for pixels; the delegate paints the thumbnail (or placeholder), the
name, and a badge such as "sea 97 %", "✎ sea · manual" or "⚠ error".
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app import priority
from app.model.openset import NONE, OUTCOMES
from app.tagging.session import PhotoRecord
from app.ui.models import RecordRole
from app.ui.proxies import _RecordProxy
from app.ui.thumbnails import GRID_SIDE

SCENE_COLORS = {
    "buildings": QColor("#8d6e63"),
    "forest": QColor("#2e7d32"),
    "glacier": QColor("#4fc3f7"),
    "mountain": QColor("#7e57c2"),
    "sea": QColor("#1565c0"),
    "street": QColor("#616161"),
    NONE: QColor("#455a64"),
}
NONE_TITLE = "Not a scene"  # how the window names openset.NONE ("none of these scenes")


def outcome_title(label: str | None) -> str | None:
    return NONE_TITLE if label == NONE else label


ERROR_COLOR = QColor("#c62828")
REVIEW_COLOR = QColor("#f9a825")
MANUAL_MARK = "✎"


def cell_size(side: int) -> QSize:
    """A grid cell for thumbnails of `side` pixels: the picture (4:3), the name and the badge."""
    return QSize(side + 16, side * 3 // 4 + 48)


CELL = cell_size(GRID_SIDE)
THUMB_SIDES = (64, 256, 16)  # the size slider: smallest, largest, step


def badge_text(r: PhotoRecord) -> str:
    """What the badge says; also used by tests and the preview pane."""
    if r.source == "manual":
        return f"{MANUAL_MARK} {outcome_title(r.label)} · manual"
    if r.label is None:
        return "⚠ error" if r.error else "…"
    if r.label == NONE:  # its confidence is a scene's, which the model set aside
        return NONE_TITLE
    conf = f" {r.confidence * 100:.0f} %" if r.confidence is not None else ""
    return f"{r.label}{conf}"


class PhotoDelegate(QStyledItemDelegate):
    """Paints a cell; sizeHint is a constant, so layout never touches the photo."""

    def __init__(self, threshold_of: Any = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.threshold_of = threshold_of  # () -> float, for the "needs review" outline
        self.cell = CELL  # every cell's size (the thumbnail-size slider changes it)
        self._fonts: tuple[QFont, QFont] | None = None  # badge fonts, made once

    def _badge_fonts(self, base: QFont) -> tuple[QFont, QFont]:
        if self._fonts is None:
            plain = QFont(base)
            plain.setPointSizeF(max(7.0, base.pointSizeF() * 0.9))
            bold = QFont(plain)
            bold.setBold(True)
            self._fonts = (plain, bold)
        return self._fonts

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return self.cell

    def paint(
        self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        r: PhotoRecord | None = index.data(RecordRole)
        if r is None:
            return
        rect: QRect = option.rect.adjusted(3, 3, -3, -3)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = option.palette
        if option.state & QStyle.StateFlag.State_Selected:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.Highlight))
            p.drawRoundedRect(rect, 6, 6)
        # thumbnail, centred in the image area
        img_area = QRect(rect.left() + 4, rect.top() + 4, rect.width() - 8, rect.height() - 48)
        pix: QPixmap | None = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull():
            scaled = pix.size().scaled(img_area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(img_area.center())
            p.drawPixmap(target, pix)
        # file name
        text_color = pal.color(
            QPalette.ColorRole.HighlightedText
            if option.state & QStyle.StateFlag.State_Selected
            else QPalette.ColorRole.Text
        )
        p.setPen(text_color)
        name_rect = QRect(rect.left() + 4, img_area.bottom() + 2, rect.width() - 8, 18)
        name = option.fontMetrics.elidedText(
            r.display_name, Qt.TextElideMode.ElideMiddle, name_rect.width()
        )
        p.drawText(name_rect, Qt.AlignmentFlag.AlignCenter, name)
        self._paint_badge(
            p, r, QRect(rect.left() + 4, name_rect.bottom() + 2, rect.width() - 8, 20)
        )
        p.restore()

    def _paint_badge(self, p: QPainter, r: PhotoRecord, area: QRect) -> None:
        text = badge_text(r)
        plain, bold = self._badge_fonts(p.font())
        p.setFont(bold if r.source == "manual" else plain)
        width = min(area.width(), p.fontMetrics().horizontalAdvance(text) + 14)
        pill = QRect(0, 0, width, area.height())
        pill.moveCenter(area.center())
        if r.label is None:
            color = ERROR_COLOR if r.error else QColor(150, 150, 150)
        else:
            color = SCENE_COLORS.get(r.label, QColor(100, 100, 100))
        p.setBrush(color)
        threshold = self.threshold_of() if self.threshold_of else None
        unsure = threshold is not None and r.label is not None and r.needs_review(threshold)
        p.setPen(QPen(REVIEW_COLOR, 2) if unsure else Qt.PenStyle.NoPen)
        p.drawRoundedRect(pill, 9, 9)
        p.setPen(QColor("white"))
        p.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        if r.error and r.label is not None:  # labelled (e.g. by hand) but something went wrong
            dot = QRect(area.right() - 12, area.top() + 4, 12, 12)
            p.setBrush(ERROR_COLOR)
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(dot)


class PhotoView(QListView):
    """An icon grid of photos; keys 1-6 ask for a scene, 7 for "Not a scene", 0 for the automatic label."""

    assign_requested = Signal(object)  # a scene name, or None for "back to automatic"
    activated_record = Signal(object)  # PhotoRecord | None, the current photo

    def __init__(
        self, delegate: PhotoDelegate, accept_drops: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setGridSize(delegate.cell)
        self.setSpacing(0)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setItemDelegate(delegate)
        # setMovement() above also set dragEnabled and the *viewport's* acceptDrops from
        # `movement != Static`; the drop lands on the viewport, so its flag is the one that
        # matters (setAcceptDrops on the view itself does not reach it).
        self.setDragEnabled(True)
        self.setAcceptDrops(accept_drops)
        self.viewport().setAcceptDrops(accept_drops)
        self.setDropIndicatorShown(accept_drops)
        self.setDragDropMode(
            QAbstractItemView.DragDropMode.DragDrop
            if accept_drops
            else QAbstractItemView.DragDropMode.DragOnly
        )
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

    # Painting and laying out 100,000 rows call into Python for each delegate paint and each
    # index (rowCount): other threads' long loops wait meanwhile (app.priority).
    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        with priority.gui_work():
            super().paintEvent(event)

    def timerEvent(self, event: Any) -> None:  # noqa: N802 - Qt override (batched layout)
        with priority.gui_work():
            super().timerEvent(event)

    def updateGeometries(self) -> None:  # noqa: N802 - Qt override
        with priority.gui_work():
            super().updateGeometries()

    def setModel(self, model: Any) -> None:  # noqa: N802 - Qt override
        super().setModel(model)
        self.selectionModel().currentChanged.connect(self._current_changed)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.activated_record.emit(current.data(RecordRole) if current.isValid() else None)

    def selected_ids(self) -> list[int]:
        model = self.model()
        if not isinstance(model, _RecordProxy):
            return []
        return model.ids(self.selectionModel().selectedIndexes())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_7 and not (
            event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):  # 1-6 the scenes, 7 "Not a scene"
            self.assign_requested.emit(OUTCOMES[key - Qt.Key.Key_1])
            return
        if key == Qt.Key.Key_0 and not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            self.assign_requested.emit(None)
            return
        super().keyPressEvent(event)


class GroupPane(QFrame):
    """A header ("🌊 sea · 42") over a PhotoView of one proxy; the count follows the proxy."""

    def __init__(
        self, title: str, proxy: _RecordProxy, view: PhotoView, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = title
        self.proxy = proxy
        self.view = view
        self.header = QLabel()
        font = self.header.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.header.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(view, 1)
        view.setModel(proxy)
        for sig in (proxy.rowsInserted, proxy.rowsRemoved, proxy.modelReset, proxy.layoutChanged):
            sig.connect(self.update_count)
        self.update_count()

    def count(self) -> int:
        return self.proxy.rowCount()

    def update_count(self, *_: Any) -> None:
        self.header.setText(f"{self.title} · {self.count()}")


class ProgressStrip(QWidget):
    """A progress bar that schedules its repaint (QProgressBar.setValue repaints at once,
    which costs the GUI thread a frame on every update during a scan)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.done, self.total, self.text = 0, 0, ""
        self.setMinimumWidth(300)
        self.setMinimumHeight(self.fontMetrics().height() + 6)

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.done, self.total, self.text = done, total, text
        self.setToolTip(text)
        self.update()

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(360, self.fontMetrics().height() + 6)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        pal = self.palette()
        r = self.rect().adjusted(0, 1, -1, -2)
        p.setPen(pal.color(QPalette.ColorRole.Mid))
        p.setBrush(pal.color(QPalette.ColorRole.Base))
        p.drawRect(r)
        filled = QRect(
            r.left() + 1, r.top() + 1, round((r.width() - 1) * self.fraction()), r.height() - 1
        )
        p.fillRect(filled, pal.color(QPalette.ColorRole.Highlight))
        p.setPen(pal.color(QPalette.ColorRole.Text))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.text)
        p.end()
