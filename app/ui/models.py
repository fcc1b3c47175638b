"""Item models over a Session: one list model for every photo, proxies for the views.

As in TagGUI, the list model's UserRole returns the domain record (app.tagging.session.PhotoRecord) and
the display roles derive from it; grouping by scene, the review list and the error list are
QSortFilterProxyModels over the same rows, so thousands of photos cost one model. The model
never decodes: decoration starts as a placeholder and a thumbnail job fills it in later.
"""

from __future__ import annotations

import contextlib
import json
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QPainter, QPixmap

from app.model.scenes import CLASSES
from app.tagging.session import PhotoRecord, Session
from app.tagging.session_io import display_path
from app.ui.rowkeys import RowKeys, fill_keys, records_keys, row_keys
from app.ui.thumbnails import GRID_SIDE, ThumbnailCache

MIME_TYPE = "application/x-scene-tagger-photo-ids"

RecordRole = Qt.ItemDataRole.UserRole
LabelRole = RecordRole + 1
ConfidenceRole = RecordRole + 2
SourceRole = RecordRole + 3
ErrorRole = RecordRole + 4
DirtyRole = RecordRole + 5
ReviewRole = RecordRole + 6
PathRole = RecordRole + 7

AnyIndex = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()  # the invalid index: a list's parent


def placeholder(side: int = GRID_SIDE) -> QPixmap:
    pix = QPixmap(side, side * 3 // 4)
    pix.fill(QColor(0, 0, 0, 0))
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(128, 128, 128, 60))
    p.drawRoundedRect(pix.rect().adjusted(2, 2, -2, -2), 6, 6)
    p.end()
    return pix


def encode_ids(session: Session | None, ids: Iterable[int]) -> QByteArray:
    return QByteArray(json.dumps({"session": id(session), "ids": list(ids)}).encode())


def decode_ids(session: Session | None, data: QMimeData) -> list[int] | None:
    """Row ids dragged from this very session; None for anything else (another window, stale)."""
    if session is None or not data.hasFormat(MIME_TYPE):
        return None
    try:
        payload = json.loads(bytes(data.data(MIME_TYPE).data()).decode())
        ids = [int(i) for i in payload["ids"]]
    except (ValueError, KeyError, TypeError):
        return None
    if payload.get("session") != id(session) or not all(0 <= i < len(session) for i in ids):
        return None
    return ids


FLUSH_CHUNK = 100  # held rows moved per pass of the event loop
ARRIVAL_CHUNK = 1000  # rows appended by a listing that join the lists per pass


class PhotoListModel(QAbstractListModel):
    """All photos of the session, one row per record (row == record id).

    `keys_changed(ids)` tells the group lists which records changed (before dataChanged), so
    they move those rows without scanning the others.

    Besides the records it keeps, per row, the few values the proxies filter and sort on
    (label, needs review, has error, confidence key, name key), refreshed whenever the session
    reports a change. The proxies read those lists directly, so filtering and sorting
    thousands of rows costs list lookups, not data() calls.
    """

    keys_changed = Signal(object)  # sorted ids whose label/review/error/confidence keys changed

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.thumbnails = thumbnails
        self._placeholder = placeholder()
        self.labels: list[str | None] = []
        self.review: list[bool] = []
        self.errors: list[bool] = []
        self.conf_keys: list[float] = []
        self.name_keys: list[str] = []
        self._batching = 0
        self._held: set[int] = set()  # changed ids whose moves between lists wait (batching)
        self._hold_timer = QTimer(self, singleShot=True)
        self._hold_timer.timeout.connect(self._flush_some)
        self.released = 0  # rows the lists know of; those appended after wait (append_rows)
        self._arrival_timer = QTimer(self, singleShot=True)
        self._arrival_timer.timeout.connect(lambda: self._flush_arrivals(ARRIVAL_CHUNK))
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)

    # ------------------------------------------------------------------------------ session
    def set_session(self, session: Session | None, keys: RowKeys | None = None) -> None:
        """Show `session`; `keys` = row_keys(session) computed beforehand (in the worker that
        listed a big folder: half a second of Python for 100,000 photos)."""
        self.beginResetModel()
        if self.session is not None:
            self.session.on_change = None
        self._held.clear()  # a pending flush then finds nothing to move
        self._arrival_timer.stop()
        self.released = len(session) if session is not None else 0
        self.session = session
        if keys is None:
            keys = row_keys(session)
        self.labels, self.review, self.errors = keys.labels, keys.review, keys.errors
        self.conf_keys, self.name_keys = keys.conf_keys, keys.name_keys
        if session is not None:
            session.on_change = self.records_changed
        self.endResetModel()

    def append_rows(self, ids: list[int], keys: RowKeys | None = None) -> None:
        """Show records just appended to the session (ids continue the rows); `keys` =
        records_keys of those records, computed beforehand (in the worker that listed them)."""
        s = self.session
        if not ids or s is None:
            return
        first, last = ids[0], ids[-1]
        assert first == len(self.labels), "appended ids must continue the rows"
        if keys is None:
            keys = records_keys(s.records[first : last + 1], s.threshold)
        self.beginInsertRows(QModelIndex(), first, last)
        self.labels += keys.labels
        self.review += keys.review
        self.errors += keys.errors
        self.conf_keys += keys.conf_keys
        self.name_keys += keys.name_keys
        self.endInsertRows()
        # The lists take arrivals every hold_ms, not every batch: each insertion makes a view
        # lay out all its rows again (a folder of 100,000 listed in 100 batches did it 100 times).
        if not self._arrival_timer.isActive():
            self._arrival_timer.start(self.hold_ms())

    def _flush_arrivals(self, chunk: int) -> None:
        """Put the arrived rows in the lists: `chunk` of them, the rest at the next pass of the
        event loop (ARRIVAL_CHUNK from the timer: tens of thousands at once stalled it)."""
        self._arrival_timer.stop()
        first = self.released
        self.released = min(len(self.labels), first + chunk)
        if self.released < len(self.labels):
            self._arrival_timer.start(0)
        if self.released > first:
            self.keys_changed.emit(list(range(first, self.released)))

    def record(self, row: int) -> PhotoRecord | None:
        s = self.session
        return s.records[row] if s is not None and 0 <= row < len(s.records) else None

    def _update_keys(self, ids: Iterable[int]) -> None:
        if self.session is not None:
            fill_keys(self.session.records, ids, self, self.session.threshold)

    @contextlib.contextmanager
    def batching(self) -> Iterator[None]:
        """Changes made inside (a scan's predictions) move rows between the lists at most every
        hold_ms: each move makes a list view lay its rows out again (0.2 s of interpreter calls
        per 100,000 rows), which 20 applications a second kept doing for the whole scan. Rows
        repaint with their new label at once; a change made outside moves everything held."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1

    def hold_ms(self) -> int:
        return 250 + len(self.labels) // 40  # 2.75 s for 100,000 photos

    def flush(self) -> None:
        """Move the rows of the held changes now (a scan's end, a change by the user, the end
        of a listing); the rows that arrived meanwhile join their lists from now on."""
        self._flush_arrivals(ARRIVAL_CHUNK)
        self._hold_timer.stop()
        if self._held:
            held, self._held = sorted(self._held), set()
            self.keys_changed.emit(held)

    def _flush_some(self) -> None:
        """The hold is over: move FLUSH_CHUNK rows per pass of the event loop (every move is a
        row signal each view handles), the rest at the next pass."""
        held = sorted(self._held)
        chunk, rest = held[:FLUSH_CHUNK], held[FLUSH_CHUNK:]
        self._held = set(rest)
        if rest:
            self._hold_timer.start(0)
        if chunk:
            self.keys_changed.emit(chunk)

    def records_changed(self, ids: list[int], roles: list[int] | None = None) -> None:
        """One dataChanged per run of consecutive rows (a batch of 50 predictions is one signal)."""
        if not ids:
            return
        ordered = sorted(set(ids))
        self._update_keys(ordered)
        known = ordered[: bisect_left(ordered, self.released)]  # the rest join on arrival
        if self._batching:
            self._held.update(known)
            if known and not self._hold_timer.isActive():
                self._hold_timer.start(self.hold_ms())
        else:
            if self._held:
                self._held.update(known)
                known = sorted(self._held)
            self._held.clear()
            self._hold_timer.stop()
            if known:
                self.keys_changed.emit(known)
        start = prev = ordered[0]
        for i in [*ordered[1:], None]:
            if i is not None and i == prev + 1:
                prev = i
                continue
            self.dataChanged.emit(self.index(start), self.index(prev), roles or [])
            if i is not None:
                start = prev = i

    @Slot(object, int)
    def _thumbnail_ready(self, path: str, side: int) -> None:
        if side != GRID_SIDE or self.session is None:
            return
        rid = self.session.id_for(path)
        if rid is not None:
            idx = self.index(rid)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    # ------------------------------------------------------------------------------ Qt API
    def rowCount(self, parent: AnyIndex = ROOT) -> int:
        return 0 if parent.isValid() else len(self.labels)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.record(index.row())
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return r.display_name
        if role == RecordRole:
            return r
        if role == Qt.ItemDataRole.DecorationRole:
            pix = self.thumbnails.get(r.path, GRID_SIDE) if self.thumbnails is not None else None
            return pix if pix is not None else self._placeholder
        if role == LabelRole:
            return r.label
        if role == ConfidenceRole:
            return r.confidence
        if role == SourceRole:
            return r.source
        if role == ErrorRole:
            return r.error
        if role == DirtyRole:
            return self.session.is_dirty(r) if self.session is not None else False
        if role == ReviewRole:
            return self.session is not None and r.needs_review(self.session.threshold)
        if role == PathRole:
            return os.fspath(r.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(r, self.session.folder if self.session is not None else None)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def mimeData(self, indexes: Any) -> QMimeData:
        data = QMimeData()
        ids = sorted({i.row() for i in indexes if i.isValid()})
        data.setData(MIME_TYPE, encode_ids(self.session, ids))
        return data

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction


def tooltip(r: PhotoRecord, folder: Path | None = None) -> str:
    """Path (a RAW + JPEG pair: both), the subfolder (for a folder opened with its
    subfolders), label, error."""
    lines = [display_path(f) for f in r.files]
    if folder is not None and r.path.parent != folder:
        with contextlib.suppress(ValueError):
            lines.append(f"in {display_path(r.path.parent.relative_to(folder))}/")
    if r.label:
        conf = f" {r.confidence:.0%}" if r.confidence is not None else ""
        lines.append(f"{r.label}{conf} ({r.source})")
    if r.error:
        lines.append(f"Error: {r.error}")
    return "\n".join(lines)


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

    def __init__(self, source: PhotoListModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.photos = source
        self.sort_mode = "confidence"
        self._ids: list[int] = []
        self._keys: list[tuple[Any, ...]] = []  # sorted; the last item of a key is its id
        self._key_of: dict[int, tuple[Any, ...]] = {}
        source.modelReset.connect(self.rebuild)
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
        if label not in CLASSES:
            raise ValueError(f"unknown scene {label!r}")
        self.label = label
        super().__init__(source, parent)

    def accepts(self, row: int) -> bool:
        return self.photos.labels[row] == self.label

    def members(self) -> list[int]:
        label = self.label
        return [i for i, x in enumerate(self.photos.labels) if x == label]

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
        return self.photos.review[row]

    def members(self) -> list[int]:
        return [i for i, x in enumerate(self.photos.review) if x]

    def sort_key(self, row: int) -> tuple[Any, ...]:
        """Least sure first."""
        names = self.photos.name_keys
        if self.sort_mode == "name":
            return (names[row], row)
        return (self.photos.conf_keys[row], names[row], row)


class ErrorProxy(_RecordProxy):
    """Every photo with a problem, as one line of text each, for the errors list."""

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


def dropped_folder(data: Any) -> Path | None:
    """A folder from a drag (a dropped photo opens its folder)."""
    if not data.hasUrls():
        return None
    for url in data.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                return path
            if path.is_file():
                return path.parent
    return None
