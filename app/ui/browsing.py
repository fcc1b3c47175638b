"""Moving through the photos the way Lightroom and digiKam users do.

- Keys 1–6 (7: "Not a scene") and 0 act on the selection (or, when nothing is selected, on the current photo);
  then the next photo of the same list becomes the current, selected one, so the keys walk a
  list: "Needs review" empties photo by photo. The arrow keys move (Qt's list view does that).
- Ctrl+1 / Ctrl+2 (or a click on a tab) show the scene groups or "Needs review" with the
  keyboard in that list and its first photo selected, so the next key acts on what is shown.
- Space (or a double click) shows the current photo larger (loupe.py); the same keys work
  there, and Space, Esc or Return go back to the grid.
- The find box (findbox.py) filters the lists; the status bar says how many photos it shows.
- The thumbnail-size slider (remembered), with View ▸ Larger / Smaller Thumbnails.
- reveal(): a photo opened from a file manager becomes the current one of the list it is in.

The controller gets the widgets and a few callables it needs; it never reaches into the
window (the window asks it `targets`, `position` and `advance` around a label change).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, Qt
from PySide6.QtWidgets import QLabel, QSlider, QStackedWidget, QTabWidget

from app.ui.findbox import FindBox
from app.ui.loupe import Loupe
from app.ui.models import PhotoListModel, RecordRole
from app.ui.proxies import _RecordProxy
from app.ui.settings import Settings
from app.ui.views import THUMB_SIDES, GroupPane, PhotoView, cell_size, outcome_title

SCENES_TAB, REVIEW_TAB = 0, 1
SELECT = QItemSelectionModel.SelectionFlag.ClearAndSelect


@dataclass(frozen=True)
class Position:
    """Where a key was pressed: the list, the photos it acts on, and their neighbours in that
    list before the change (ids), so the next photo is known even when they leave the list."""

    view: PhotoView
    ids: list[int]
    after: int | None
    before: int | None


def decode_side(shown: int) -> int:
    """Thumbnails drawn at `shown` px are decoded at 128 or 256 px (the freedesktop store's
    normal and large sizes, shared with file managers)."""
    return 128 if shown <= 128 else 256


class Browser(QObject):
    def __init__(
        self,
        photos: PhotoListModel,
        panes: dict[str, GroupPane],
        review_pane: GroupPane,
        tabs: QTabWidget,
        stack: QStackedWidget,
        loupe: Loupe,
        find_box: FindBox,
        size_slider: QSlider,
        shown_label: QLabel,
        settings: Settings,
        assign: Callable[[str | None], Any],
        message: Callable[[str, int], None],
        active_view: Callable[[], PhotoView | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.photos, self.panes, self.review_pane = photos, panes, review_pane
        self.tabs, self.stack, self.loupe = tabs, stack, loupe
        self.find_box, self.size_slider, self.shown_label = find_box, size_slider, shown_label
        self.settings, self.message, self.active_view = settings, message, active_view
        self.loupe_view: PhotoView | None = None  # the list the loupe steps through
        self.last_group_view: PhotoView | None = None
        self.user_moved = False  # a key or a click among the photos since the last reveal()
        for widget in [*self.views(), *(v.viewport() for v in self.views()), loupe]:
            widget.installEventFilter(self)
        for view in self.views():
            view.doubleClicked.connect(partial(lambda v, _index: self.open_loupe(v), view))
            view.activated_record.connect(partial(self._current_changed, view))
        photos.dataChanged.connect(self._photos_changed)
        photos.filter_changed.connect(self.refresh_counts)
        loupe.closed.connect(self.close_loupe)
        loupe.step_requested.connect(self.step)
        loupe.assign_requested.connect(assign)
        tabs.currentChanged.connect(self._tab_shown)
        find_box.query_changed.connect(photos.set_filter)
        find_box.done.connect(self.focus_list)
        find_box.problem.connect(lambda text: self.message(text, 6000) if text else None)
        low, high, step = THUMB_SIDES
        size_slider.setRange(low, high)
        size_slider.setSingleStep(step)
        size_slider.setPageStep(step * 2)
        size_slider.setValue(settings.thumbnail_size)
        size_slider.valueChanged.connect(self.set_thumbnail_size)
        self.set_thumbnail_size(settings.thumbnail_size)
        shown_label.setVisible(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress):
            self.user_moved = True
        return False

    # ---------------------------------------------------------------------------------- lists
    def views(self) -> list[PhotoView]:
        return [p.view for p in self.panes.values()] + [self.review_pane.view]  # type: ignore[misc]

    def list_name(self, view: PhotoView) -> str:
        if view is self.review_pane.view:
            return "Needs review"
        label = next((label for label, p in self.panes.items() if p.view is view), None)
        return outcome_title(label) or "this list"

    @staticmethod
    def proxy(view: PhotoView) -> _RecordProxy:
        return view.model()  # type: ignore[return-value]

    def index_of(self, view: PhotoView, rid: int | None) -> QModelIndex:
        if rid is None:
            return QModelIndex()
        return self.proxy(view).mapFromSource(self.photos.index(rid))

    def select(self, view: PhotoView, index: QModelIndex) -> None:
        """Make `index` the current, selected photo of `view` and bring it into sight."""
        view.selectionModel().setCurrentIndex(index, SELECT)
        view.scrollTo(index)

    def visible_view(self) -> PhotoView:
        """The list the keyboard should be in: the review list, or the last group used."""
        if self.tabs.currentIndex() == REVIEW_TAB:
            return self.review_pane.view  # type: ignore[return-value]
        active = self.active_view()
        if active is not None and active is not self.review_pane.view:
            return active
        if self.last_group_view is not None:
            return self.last_group_view
        fullest = max(self.panes.values(), key=lambda p: p.count())
        return fullest.view  # type: ignore[return-value]

    def focus_list(self, view: PhotoView | None = None) -> None:
        """Put the keyboard in a list, its current photo selected (the first if none)."""
        view = view or self.visible_view()
        view.setFocus(Qt.FocusReason.OtherFocusReason)
        current = view.currentIndex()
        if not current.isValid() and self.proxy(view).rowCount():
            current = self.proxy(view).index(0)
        if current.isValid() and not view.selectionModel().isSelected(current):
            self.select(view, current)

    def show_list(self, tab: int) -> None:
        """Ctrl+1 / Ctrl+2: the scene groups or "Needs review", with the keyboard in it."""
        if self.loupe_open():
            self.close_loupe()
        if self.stack.currentWidget() is not self.tabs:
            return  # the welcome page: no folder yet
        self.tabs.setCurrentIndex(tab)
        self.focus_list()

    def _tab_shown(self, tab: int) -> None:
        # a click on a tab leaves the keyboard on the tab bar and the active list hidden: a key
        # would act on photos no longer shown, so the keyboard follows into the shown list
        view = self.visible_view()
        if view.isVisible() or tab == REVIEW_TAB:
            self.focus_list(view)

    # ---------------------------------------------------------------------------------- keys
    def targets(self, view: PhotoView | None) -> list[int]:
        """The photos a key acts on: the selection, else the current photo."""
        if view is None:
            return []
        ids = view.selected_ids()
        if ids:
            return ids
        current = view.currentIndex()
        return self.proxy(view).ids([current]) if current.isValid() else []

    def position(self, view: PhotoView, ids: list[int]) -> Position:
        proxy = self.proxy(view)
        rows = sorted(r for r in (self.index_of(view, i).row() for i in ids) if r >= 0)
        if not rows:
            return Position(view, ids, None, None)
        after = proxy.id_at(rows[-1] + 1) if rows[-1] + 1 < proxy.rowCount() else None
        before = proxy.id_at(rows[0] - 1) if rows[0] > 0 else None
        return Position(view, ids, after, before)

    def advance(self, pos: Position) -> None:
        """After a key labelled pos.ids: the photo after them becomes current and selected (or,
        at the end of the list, the last one labelled if it stayed, else the one before)."""
        view = pos.view
        for rid in (pos.after, *reversed(pos.ids), pos.before):
            index = self.index_of(view, rid)
            if index.isValid():
                self.select(view, index)
                return
        view.clearSelection()
        self.message(f"Nothing left in {self.list_name(view)}", 5000)
        if self.loupe_open():
            self.close_loupe()

    def step(self, delta: int) -> None:
        """Move the current photo of the list the loupe (or the keyboard) is in by `delta` rows."""
        view = self.loupe_view if self.loupe_open() else self.active_view()
        if view is None or not self.proxy(view).rowCount():
            return
        count = self.proxy(view).rowCount()
        current = view.currentIndex()
        row = (current.row() if current.isValid() else -1) + delta
        self.select(view, self.proxy(view).index(max(0, min(count - 1, row))))

    # ---------------------------------------------------------------------------------- loupe
    def loupe_open(self) -> bool:
        return self.stack.currentWidget() is self.loupe

    def toggle_loupe(self) -> None:
        if self.loupe_open():
            self.close_loupe()
        else:
            self.open_loupe()

    def open_loupe(self, view: PhotoView | None = None) -> None:
        if self.stack.currentWidget() is not self.tabs:
            return
        view = view or self.active_view() or self.visible_view()
        if not view.isVisible():
            view = self.visible_view()
        current = view.currentIndex()
        if not current.isValid():
            if not self.proxy(view).rowCount():
                self.message("No photo to show larger: pick one first", 4000)
                return
            current = self.proxy(view).index(0)
        self.select(view, current)
        self.loupe_view = view
        self._update_loupe()
        self.stack.setCurrentWidget(self.loupe)
        self.loupe.setFocus(Qt.FocusReason.OtherFocusReason)

    def close_loupe(self) -> None:
        if not self.loupe_open():
            return
        view, self.loupe_view = self.loupe_view, None
        self.stack.setCurrentWidget(self.tabs)
        if view is not None:
            self.focus_list(view)
            if view.currentIndex().isValid():
                view.scrollTo(view.currentIndex())

    def _update_loupe(self) -> None:
        view = self.loupe_view
        if view is None:
            return
        proxy, current = self.proxy(view), view.currentIndex()
        if not current.isValid():
            self.loupe.show_record(None, f"No photo left in {self.list_name(view)}")
            return
        row, count = current.row(), proxy.rowCount()
        ahead = proxy.index(row + 1).data(RecordRole) if row + 1 < count else None
        where = f"{row + 1} of {count:,} in {self.list_name(view)}"
        self.loupe.show_record(current.data(RecordRole), where, ahead)

    def _current_changed(self, view: PhotoView, _record: Any) -> None:
        if view is not self.review_pane.view:
            self.last_group_view = view
        if self.loupe_open() and view is self.loupe_view:
            self._update_loupe()

    def _photos_changed(self, top: Any, bottom: Any, roles: Any) -> None:
        if self.loupe_open() and Qt.ItemDataRole.DecorationRole not in roles:
            record = self.loupe.record
            if record is not None and top.row() <= record.id <= bottom.row():
                self._update_loupe()

    # ---------------------------------------------------------------------------------- find
    def focus_find(self) -> None:
        """Ctrl+F: the find box, its text selected to type over."""
        self.find_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.find_box.selectAll()

    def refresh_counts(self) -> None:
        """ "Showing 12 of 340 photos" while the find box filters, nothing otherwise."""
        photos = self.photos
        filtering = not photos.filter.empty and photos.session is not None
        self.shown_label.setVisible(filtering)
        if filtering:
            total = len(photos.shown)
            self.shown_label.setText(f"Showing {photos.shown_count():,} of {total:,} photos")

    def clear_filter(self) -> None:
        self.find_box.clear()
        self.find_box.apply()

    # ---------------------------------------------------------------------------------- size
    def set_thumbnail_size(self, side: int) -> None:
        """Grid cells for thumbnails drawn `side` px large (the slider; remembered)."""
        low, high, step = THUMB_SIDES
        side = max(low, min(high, round(side / step) * step))
        self.settings.thumbnail_size = side
        cell = cell_size(side)
        for view in self.views():
            delegate = view.itemDelegate()
            delegate.cell = cell  # type: ignore[attr-defined]
            view.setGridSize(cell)
        self.photos.set_thumb_side(decode_side(side))
        self.size_slider.setToolTip(f"Thumbnail size: {side} px")

    def zoom(self, steps: int) -> None:
        """View ▸ Larger / Smaller Thumbnails (Ctrl++ / Ctrl+-)."""
        slider = self.size_slider
        slider.setValue(slider.value() + steps * slider.singleStep())

    # ---------------------------------------------------------------------------------- reveal
    def reveal(self, rid: int) -> bool:
        """Make photo `rid` the current, selected one of the list it is in, shown and focused
        (a photo opened from a file manager). False when no list shows it."""
        if not 0 <= rid < len(self.photos.shown):
            return False
        if not self.photos.shown[rid]:
            self.clear_filter()  # the find box hides it: show everything again
        label = self.photos.labels[rid]
        candidates = []
        if label in self.panes:
            candidates.append((SCENES_TAB, self.panes[label].view))
        candidates.append((REVIEW_TAB, self.review_pane.view))
        for tab, view in candidates:
            index = self.index_of(view, rid)  # type: ignore[arg-type]
            if index.isValid():
                if self.loupe_open():
                    self.close_loupe()
                self.tabs.setCurrentIndex(tab)
                self.select(view, index)  # type: ignore[arg-type]
                view.setFocus(Qt.FocusReason.OtherFocusReason)
                self.user_moved = False
                return True
        return False
