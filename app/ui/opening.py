"""Opening a folder: list it, show it, then read its sidecars in chunks, all off the GUI thread.

A folder of 100,000 photos takes about a second to list and several more to read the
sidecars of (one lookup per photo). So the listing comes first and the window shows every
photo at once (`listed`); the sidecars follow in chunks of CHUNK photos on the same file task
thread, each applied to the session as it arrives (`progress`: the groups fill in from the
sidecars while the user scrolls); `ready` says all sidecars are read, which is when a scan
may start (a photo labelled by hand must never be sent to the model). A folder opened while
another is still loading makes the first one's late results fall on the floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app import imaging
from app.session import Session, read_sidecar_infos
from app.ui.guard import guarded
from app.ui.models import RowKeys, row_keys
from app.ui.workers import TaskRunner

CHUNK = 2000  # sidecars read per task


class FolderLoader(QObject):
    listed = Signal(object, object)  # Session (photos known, sidecars not read yet), RowKeys
    progress = Signal(int, int)  # sidecars read, photos
    ready = Signal(object)  # Session: every sidecar read
    failed = Signal(object, str)  # folder, why it could not be listed

    def __init__(self, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self._current: tuple[Path, int] | None = None  # the folder being loaded, its number
        self._number = 0
        self._pending = 0
        self._read_count = 0

    def loading(self) -> Path | None:
        return self._current[0] if self._current is not None else None

    def cancel(self) -> None:
        self._current = None

    def open(self, folder: Path, recursive: bool, **session_options: Any) -> None:
        self._number += 1
        ticket = (folder, self._number)
        self._current = ticket

        def list_folder() -> tuple[Session, RowKeys]:
            session = Session(
                folder, imaging.list_photos(folder, recursive=recursive), **session_options
            )
            session.dirty_count()  # primes the count the status bar asks for
            return session, row_keys(session)  # the GUI thread only swaps them in

        self.tasks.submit(
            list_folder,
            lambda listed: self._listed(ticket, *listed),
            lambda message: self._failed(ticket, message),
        )

    @guarded
    def _listed(self, ticket: tuple[Path, int], session: Session, keys: RowKeys) -> None:
        if ticket != self._current:
            return
        self.listed.emit(session, keys)
        photos = [(r.id, r.path) for r in session.records]
        chunks = [photos[i : i + CHUNK] for i in range(0, len(photos), CHUNK)]
        self._pending, self._read_count = len(chunks), 0
        if not chunks:
            self._finish(ticket, session)
        naming = session.naming
        for chunk in chunks:
            self.tasks.submit(
                lambda chunk=chunk: read_sidecar_infos(chunk, naming),
                lambda results, ticket=ticket: self._read(ticket, session, results),
                lambda message, ticket=ticket: self._failed(ticket, message),
            )

    @guarded
    def _read(self, ticket: tuple[Path, int], session: Session, results: list[Any]) -> None:
        if ticket != self._current:
            return
        session.take_sidecars(results)
        self._pending -= 1
        self._read_count += len(results)
        self.progress.emit(self._read_count, len(session))
        if self._pending == 0:
            self._finish(ticket, session)

    def _finish(self, ticket: tuple[Path, int], session: Session) -> None:
        self._current = None
        self.ready.emit(session)

    @guarded
    def _failed(self, ticket: tuple[Path, int], message: str) -> None:
        if ticket != self._current:
            return
        self._current = None
        self.failed.emit(ticket[0], message)
