"""The lists the views show, over the one photo model (app.ui.models.PhotoListModel): each
scene's group, "Needs review" and the errors, as sorted lists of record ids.

A QSortFilterProxyModel calls back into Python for every row it filters and every comparison
it sorts; these lists compute membership and order with list comprehensions over the photo
model's per-row keys instead, and follow its changes by ids (see _RecordProxy).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, Qt, Signal

from app.model.openset import OUTCOMES
from app.tagging.session import PhotoRecord
from app.ui.models import ROOT, AnyIndex, PhotoListModel, decode_ids


class _RecordProxy(QAbstractListModel):
    """Base of the group, review and error lists: the rows of the photo model this list shows,
    in display order, as a plain list of record ids.

    A QSortFilterProxyModel calls back into Python for every row it filters and every
    comparison it sorts (a 100,000-photo folder cost ~2.5 million calls and five seconds of a
    frozen window). Here membership and order are computed with list comprehensions and one
    sort over the photo model's per-row keys, and changes from a scan arrive as ids: each is
    removed or inserted at its place (bisect) with the matching row signals, so views keep
    their selection and scroll position. A change to thousands of rows at once (a threshold
    change) recomputes the list, and resets the view only when its rows really changed.
    """

    BULK = 2000  # more changed ids than this: recompute the whole list
    FILTERED = True  # shows only the photos the find box lets through (photos.shown)

    def __init__(self, source: PhotoListModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.photos = source
        self.sort_mode = "confidence"
        self._ids: list[int] = []
        self._keys: list[tuple[Any, ...]] = []  # sorted; the last item of a key is its id
        self._key_of: dict[int, tuple[Any, ...]] = {}
        source.modelReset.connect(self.rebuild)
        if self.FILTERED:
            source.filter_changed.connect(self.refilter)
        source.keys_changed.connect(self._source_changed)
        source.dataChanged.connect(self._source_data_changed)
        self.rebuild()

    # ------------------------------------------------------------------ what, in which order
    def accepts(self, row: int) -> bool:  # pragma: no cover - overridden
        return True

    def members(self) -> list[int]:
        return [i for i in range(self.photos.released) if self.accepts(i)]

    def sort_key(self, row: int) -> tuple[Any, ...]:
        """Most sure first, then by name; by name alone in "name" mode. Unique (ends in row)."""
        names = self.photos.name_keys
        if self.sort_mode == "name":
            return (names[row], row)
        return (-self.photos.conf_keys[row], names[row], row)

    def set_sort_mode(self, mode: str) -> None:
        """'confidence' (most sure first in groups) or 'name'."""
        self.sort_mode = mode
        self.rebuild()

    def refilter(self) -> None:
        self._bulk_update()

    def rebuild(self) -> None:
        self.beginResetModel()
        self._fill(sorted(self.sort_key(i) for i in self.members()))
        self.endResetModel()

    def _fill(self, keys: list[tuple[Any, ...]]) -> None:
        self._keys = keys
        self._ids = [k[-1] for k in keys]
        self._key_of = {k[-1]: k for k in keys}

    # ------------------------------------------------------------------ following the photos
    def _source_changed(self, ids: list[int]) -> None:
        new_rows = [i for i in ids if i not in self._key_of]
        if len(new_rows) == len(ids) and new_rows:  # only arrivals (a folder listed in batches)
            self._insert_runs(sorted(self.sort_key(i) for i in new_rows if self.accepts(i)))
            return
        if len(ids) > self.BULK:
            self._bulk_update()
            return
        for rid in ids:
            old = self._key_of.get(rid)
            new = self.sort_key(rid) if self.accepts(rid) else None
            if old == new:
                continue  # repainted by the dataChanged that follows
            if old is not None:
                pos = bisect_left(self._keys, old)
                self.beginRemoveRows(QModelIndex(), pos, pos)
                del self._keys[pos], self._ids[pos], self._key_of[rid]
                self.endRemoveRows()
            if new is not None:
                pos = bisect_left(self._keys, new)
                self.beginInsertRows(QModelIndex(), pos, pos)
                self._keys.insert(pos, new)
                self._ids.insert(pos, rid)
                self._key_of[rid] = new
                self.endInsertRows()

    def _insert_runs(self, keys: list[tuple[Any, ...]]) -> None:
        """Insert sorted keys, one row signal per run that lands at the same place."""
        runs: list[tuple[int, list[tuple[Any, ...]]]] = []
        for key in keys:
            pos = bisect_left(self._keys, key)
            if runs and runs[-1][0] == pos:
                runs[-1][1].append(key)
            else:
                runs.append((pos, [key]))
        for pos, run in reversed(runs):  # from the end: earlier positions stay valid
            self.beginInsertRows(QModelIndex(), pos, pos + len(run) - 1)
            self._keys[pos:pos] = run
            self._ids[pos:pos] = [k[-1] for k in run]
            self._key_of.update((k[-1], k) for k in run)
            self.endInsertRows()

    def _bulk_update(self) -> None:
        keys = sorted(self.sort_key(i) for i in self.members())
        if keys == self._keys:
            if keys:
                self.dataChanged.emit(self.index(0), self.index(len(keys) - 1), [])
            return
        self.beginResetModel()
        self._fill(keys)
        self.endResetModel()

    def _source_data_changed(self, top: QModelIndex, bottom: QModelIndex, roles: Any) -> None:
        """Rows to repaint (a new label, a thumbnail), passed on for the rows this list has:
        moves between lists came before, through keys_changed (or wait, batching)."""
        if bottom.row() - top.row() >= self.BULK:
            if self._ids:
                self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1), roles)
            return
        for rid in range(top.row(), bottom.row() + 1):
            key = self._key_of.get(rid)
            if key is not None:
                idx = self.index(bisect_left(self._keys, key))
                self.dataChanged.emit(idx, idx, roles)

    # ------------------------------------------------------------------ mapping
    def sourceModel(self) -> PhotoListModel:
        return self.photos

    def mapToSource(self, index: AnyIndex) -> QModelIndex:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return QModelIndex()
        return self.photos.index(self._ids[index.row()])

    def mapFromSource(self, source: AnyIndex) -> QModelIndex:
        key = self._key_of.get(source.row()) if source.isValid() else None
        return self.index(bisect_left(self._keys, key)) if key is not None else QModelIndex()

    def record_at(self, index: AnyIndex) -> PhotoRecord | None:
        return self.photos.record(self.mapToSource(index).row())

    def id_at(self, row: int) -> int:
        """The record id shown at `row`."""
        return self._ids[row]

    def ids(self, indexes: Iterable[AnyIndex]) -> list[int]:
        return sorted({self._ids[i.row()] for i in indexes if i.isValid()})

    # ------------------------------------------------------------------ Qt API
    def rowCount(self, parent: AnyIndex = ROOT) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        source = self.mapToSource(index)
        return self.photos.data(source, role) if source.isValid() else None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return (
            self.photos.flags(self.mapToSource(index))
            if index.isValid()
            else Qt.ItemFlag.NoItemFlags
        )

    def mimeTypes(self) -> list[str]:
        return self.photos.mimeTypes()

    def mimeData(self, indexes: Any) -> QMimeData:
        return self.photos.mimeData([self.mapToSource(i) for i in indexes])

    def supportedDragActions(self) -> Qt.DropAction:
        return self.photos.supportedDragActions()


class SceneGroupProxy(_RecordProxy):
    """The photos whose effective label is `label`; dropping photos here assigns that label."""

    drop_requested = Signal(object, str)  # ids, label

    def __init__(self, source: PhotoListModel, label: str, parent: Any = None) -> None:
        if label not in OUTCOMES:  # the six scenes and "none" ("Not a scene")
            raise ValueError(f"unknown scene {label!r}")
        self.label = label
        super().__init__(source, parent)

    def accepts(self, row: int) -> bool:
        return self.photos.labels[row] == self.label and self.photos.shown[row]

    def members(self) -> list[int]:
        label, labels, shown = self.label, self.photos.labels, self.photos.shown
        return [i for i, x in enumerate(labels) if x == label and shown[i]]

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        # the empty area of the view (the invalid root index) accepts drops too
        return super().flags(index) | Qt.ItemFlag.ItemIsDropEnabled

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: AnyIndex
    ) -> bool:
        return decode_ids(self.photos.session, data) is not None

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: AnyIndex
    ) -> bool:
        """Photos dropped on this group: ask (via the signal) for them to get this label."""
        if action == Qt.DropAction.IgnoreAction:
            return True
        ids = decode_ids(self.photos.session, data)
        if not ids:
            return False
        if all(self.photos.labels[i] == self.label for i in ids):
            return False  # dropped back where it came from: nothing to do
        self.drop_requested.emit(ids, self.label)
        return True


class ReviewProxy(_RecordProxy):
    """Photos the model is unsure about (below the threshold), failed on, or has not seen."""

    def accepts(self, row: int) -> bool:
        return self.photos.review[row] and self.photos.shown[row]

    def members(self) -> list[int]:
        shown = self.photos.shown
        return [i for i, x in enumerate(self.photos.review) if x and shown[i]]

    def sort_key(self, row: int) -> tuple[Any, ...]:
        """Least sure first."""
        names = self.photos.name_keys
        if self.sort_mode == "name":
            return (names[row], row)
        return (self.photos.conf_keys[row], names[row], row)


class ErrorProxy(_RecordProxy):
    """Every photo with a problem, as one line of text each, for the errors list (whatever the
    find box says: a problem is never hidden)."""

    FILTERED = False

    def accepts(self, row: int) -> bool:
        return self.photos.errors[row]

    def members(self) -> list[int]:
        return [i for i, x in enumerate(self.photos.errors) if x]

    def sort_key(self, row: int) -> tuple[Any, ...]:
        return (self.photos.name_keys[row], row)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            r = self.photos.record(self.mapToSource(index).row())
            return f"{r.display_name}: {r.error}" if r is not None else None
        if role == Qt.ItemDataRole.DecorationRole:
            return None
        return super().data(index, role)
