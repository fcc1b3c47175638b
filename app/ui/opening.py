"""Opening a folder: list it and read its sidecars in batches off the GUI thread, showing each
batch as it comes.

A folder of 100,000 photos takes seconds to list and more to read the sidecars of (one lookup
per photo). So the file task thread walks the tree in batches of BATCH photos (and reads their
sidecars); the first batch becomes the session (`listed`: the window shows those photos and
their thumbnails at once), each later batch is appended to it (`appended`: the count grows
while the user scrolls), and `ready` says the folder is complete, which is when a scan may
start (a photo labelled by hand must never be sent to the model). Every batch is its own task
on the one file thread, so a save queued meanwhile waits at most one batch; the next batch is
listed while the GUI thread shows the last one. A folder opened
while another is still loading makes the first one's late batches fall on the floor.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QListWidget, QStatusBar

from app import defaults, priority
from app.photos.formats import Entry
from app.photos.listing import ListingError
from app.tagging.batches import CacheLookup, folder_entries, read_batch
from app.tagging.record import PhotoRecord
from app.tagging.session import Session
from app.ui.guard import guarded
from app.ui.rowkeys import RowKeys, records_keys, row_keys
from app.ui.workers import TaskRunner

BATCH = 1000  # photos listed (and their sidecars read) per task
FIRST_BATCH_S = 0.25  # the first batch stops early when listing is slow: photos show first


class FolderLoader(QObject):
    listed = Signal(object, object)  # Session with the first batch, its RowKeys
    appended = Signal(object, object, object)  # Session, the new ids, their RowKeys
    ready = Signal(object)  # Session: every photo listed, every sidecar read
    failed = Signal(object, str)  # folder, why it could not be listed
    # Session, [app.photos.listing.ListingError]: folders met by this batch that could not be
    # read (permission denied…); also kept in session.listing_errors
    unreadable = Signal(object, object)

    def __init__(
        self, tasks: TaskRunner, cached: CacheLookup | None = None, parent: QObject | None = None
    ) -> None:
        """`cached(paths)`: results the cache already holds for those photos (model id, the
        predictions), run on the file thread with each batch; None = no cache."""
        super().__init__(parent)
        self.tasks = tasks
        self.cached = cached
        self._current: tuple[Path, int] | None = None  # the folder being loaded, its number
        self._number = 0

    def loading(self) -> Path | None:
        return self._current[0] if self._current is not None else None

    def cancel(self) -> None:
        self._current = None

    def open(
        self,
        folder: Path,
        recursive: bool,
        raw_jpeg: str = defaults.RAW_JPEG,
        **session_options: Any,
    ) -> None:
        """`raw_jpeg` "one": each RAW + JPEG pair is one photo (formats.pair_raw_jpeg)."""
        self._number += 1
        ticket = (folder, self._number)
        self._current = ticket
        errors: list[ListingError] = []  # filled on the file thread as the walk meets them
        walk = _Walk(folder_entries(folder, recursive, raw_jpeg, errors), errors)
        cached = self.cached

        def first_batch() -> tuple[Session, RowKeys, bool, list[ListingError]]:
            _, entries, more, unreadable = walk.take(FIRST_BATCH_S)
            session = Session.from_entries(folder, entries, cached, **session_options)
            session.dirty_count()  # primes the count the status bar asks for
            # the GUI thread only swaps them in
            return session, row_keys(session), more, unreadable

        self.tasks.submit(
            first_batch,
            lambda result: self._listed(ticket, walk, *result),
            lambda message: self._failed(ticket, message),
        )

    @guarded
    def _listed(
        self,
        ticket: tuple[Path, int],
        walk: _Walk,
        session: Session,
        keys: RowKeys,
        more: bool,
        unreadable: list[ListingError],
    ) -> None:
        if ticket != self._current:
            return
        if more:  # the file thread lists the next batch while this one is shown
            self._submit(ticket, walk, session)
        self.listed.emit(session, keys)
        self._unreadable(session, unreadable)
        if not more:
            self._ready(session)

    def _unreadable(self, session: Session, unreadable: list[ListingError]) -> None:
        if unreadable:
            session.listing_errors.extend(unreadable)
            self.unreadable.emit(session, unreadable)

    def _submit(self, ticket: tuple[Path, int], walk: _Walk, session: Session) -> None:
        naming, cached = session.naming, self.cached

        def batch() -> tuple[list[PhotoRecord], RowKeys, bool, list[ListingError]]:
            # Everything per photo happens here; the GUI thread only appends the lists.
            start, entries, more, unreadable = walk.take(None)
            records = read_batch(entries, start, naming, cached)
            return records, records_keys(records, session.threshold), more, unreadable

        self.tasks.submit(
            batch,
            lambda result: self._batch(ticket, walk, session, *result),
            lambda message: self._failed(ticket, message),
        )

    @guarded
    def _batch(
        self,
        ticket: tuple[Path, int],
        walk: _Walk,
        session: Session,
        records: list[PhotoRecord],
        keys: RowKeys,
        more: bool,
        unreadable: list[ListingError],
    ) -> None:
        if ticket != self._current:
            return
        if more:
            self._submit(ticket, walk, session)
        ids = session.add_records(records)  # raises if a batch came out of order
        self.appended.emit(session, ids, keys)
        self._unreadable(session, unreadable)
        if not more:
            self._ready(session)

    def _ready(self, session: Session) -> None:
        self._current = None
        self.ready.emit(session)

    @guarded
    def _failed(self, ticket: tuple[Path, int], message: str) -> None:
        if ticket != self._current:
            return
        self._current = None
        self.failed.emit(ticket[0], message)


class _Walk:
    """The folder's entries and how many were taken: used on the file thread only, one batch
    task after the other, so each batch knows the ids its photos will get, and the folders
    its part of the walk could not read."""

    def __init__(self, entries: Iterator[Entry], errors: list[ListingError]) -> None:
        self.entries, self.count = entries, 0
        self.errors, self.reported = errors, 0

    def take(self, seconds: float | None) -> tuple[int, list[Entry], bool, list[ListingError]]:
        entries, more = _take(self.entries, seconds)
        start, self.count = self.count, self.count + len(entries)
        unreadable, self.reported = self.errors[self.reported :], len(self.errors)
        return start, entries, more, unreadable


def _take(walk: Iterator[Entry], seconds: float | None) -> tuple[list[Entry], bool]:
    """Up to BATCH photos from the walk (fewer when `seconds` run out); and whether more may
    follow."""
    photos: list[Entry] = []
    deadline = time.monotonic() + seconds if seconds is not None else None
    for photo in itertools.islice(walk, BATCH):
        priority.pause()  # the walk runs Python per file: the window's repaints go first
        photos.append(photo)
        if deadline is not None and len(photos) % 50 == 0 and time.monotonic() > deadline:
            return photos, True
    return photos, len(photos) == BATCH


class UnreadableFolders(QObject):
    """Folders the listing could not read (permission denied, an I/O error), shown in the
    Errors dock above the photos' errors (the window counts them in its title when the folder
    is ready) and in the status bar, never as an empty-looking folder. Cleared when the next
    folder is listed; a late batch of an earlier folder never comes (FolderLoader drops it)."""

    def __init__(self, loader: FolderLoader, view: QListWidget, status: QStatusBar) -> None:
        """Connect after the window's own slots: the status line it leaves when the folder is
        ready is followed by this one."""
        super().__init__(view)
        self.view, self.status = view, status
        loader.listed.connect(self.clear)
        loader.unreadable.connect(self.add)
        loader.ready.connect(self.remind)

    def count(self) -> int:
        return self.view.count()

    @guarded
    def clear(self, *_: Any) -> None:
        self.view.clear()
        self.view.hide()

    @guarded
    def add(self, _session: Session, errors: list[ListingError]) -> None:
        lines = [f"Cannot list {e.folder}: {e.reason}" for e in errors]
        self.view.addItems(lines)
        self.view.show()
        self.status.showMessage(self.summary())

    def summary(self) -> str:
        n = self.view.count()
        more = f" (and {n - 1} more: see Errors)" if n > 1 else ""
        return f"{self.view.item(0).text()}{more}" if n else ""

    @guarded
    def remind(self, session: Session) -> None:
        """The folder is ready: its photo count, and what could not be read, stay in view."""
        if self.view.count():
            self.status.showMessage(f"{len(session):,} photos listed; {self.summary()}")
