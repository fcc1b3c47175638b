"""The item model over a Session: one list model for every photo.

As in TagGUI, the list model's UserRole returns the domain record (app.tagging.session.PhotoRecord)
and the display roles derive from it; grouping by scene, the review list and the error list are
lists over the same rows (app.ui.proxies), so thousands of photos cost one model. The model
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

from app.tagging.session import PhotoRecord, Session
from app.tagging.session_io import display_path
from app.ui.photofilter import NO_FILTER, PhotoFilter
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
    thousands of rows costs list lookups, not data() calls. `shown[i]` says whether row i
    passes the find box's query (app.ui.photofilter); the scene and review lists show only
    those, the error list shows every error.
    """

    keys_changed = Signal(object)  # sorted ids whose label/review/error/confidence keys changed
    filter_changed = Signal()  # `shown` was recomputed for every row (the find box)

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.thumbnails = thumbnails
        self.thumb_side = GRID_SIDE  # the thumbnails the grid asks for (the size slider)
        self._placeholder = placeholder()
        self.labels: list[str | None] = []
        self.review: list[bool] = []
        self.errors: list[bool] = []
        self.conf_keys: list[float] = []
        self.name_keys: list[str] = []
        self.filter: PhotoFilter = NO_FILTER
        self.shown: list[bool] = []
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
        self.shown = self._matches(range(len(self.labels)))
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
        self.shown += self._matches(range(first, last + 1))
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

    def _update_keys(self, ids: list[int]) -> None:
        if self.session is not None:
            fill_keys(self.session.records, ids, self, self.session.threshold)
            if not self.filter.empty:
                for i, shown in zip(ids, self._matches(ids), strict=True):
                    self.shown[i] = shown

    # ------------------------------------------------------------------------------ find box
    def set_filter(self, query: PhotoFilter) -> None:
        """Show only the photos that match `query` in the scene and review lists."""
        if query == self.filter:
            return
        self.filter = query
        self.shown = self._matches(range(len(self.labels)))
        self.filter_changed.emit()

    def _matches(self, rows: Iterable[int]) -> list[bool]:
        query = self.filter
        if query.empty:
            return [True] * len(rows) if isinstance(rows, range) else [True for _ in rows]
        labels, names, review, errors, conf = (
            self.labels,
            self.name_keys,
            self.review,
            self.errors,
            self.conf_keys,
        )
        return [
            query.matches(names[i], labels[i], conf[i] == 2.0, review[i], errors[i]) for i in rows
        ]

    def shown_count(self) -> int:
        """Photos that pass the find box (every photo when it is empty)."""
        return sum(self.shown) if not self.filter.empty else len(self.shown)

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
        if side != self.thumb_side or self.session is None:
            return
        rid = self.session.id_for(path)
        if rid is not None:
            idx = self.index(rid)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def set_thumb_side(self, side: int) -> None:
        """Ask for thumbnails of `side` pixels from now on (128 or 256: the freedesktop store's
        normal and large sizes, shared with file managers); every row repaints."""
        if side != self.thumb_side:
            self.thumb_side = side
            if self.labels:
                roles = [Qt.ItemDataRole.DecorationRole]
                self.dataChanged.emit(self.index(0), self.index(len(self.labels) - 1), roles)

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
            cache = self.thumbnails
            pix = cache.get(r.path, self.thumb_side) if cache is not None else None
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
