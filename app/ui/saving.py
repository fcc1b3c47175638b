"""Saving a folder's labels: plan on the GUI thread, write on the file task thread, apply back.

The session's plan is a frozen snapshot (app.tagging.session_io.SaveItem), so the writing (a temp file and
an fsync per sidecar) runs on the window's single file-task thread — the same thread that
lists folders, so two writes never race — while the window keeps painting and the user keeps
labelling. A label changed during the save stays pending (Session.apply_saved keeps it).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QWidget

from app.tagging.session import SaveReport, Session
from app.tagging.session_io import SaveItem, execute_save
from app.ui.guard import guarded
from app.ui.workers import TaskRunner


class SaveController(QObject):
    started = Signal(int)  # sidecars to write
    saved = Signal(object, object)  # Session, SaveReport (after apply_saved)
    failed = Signal(str)  # the save as a whole could not run (a file's failure is in the report)

    def __init__(self, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.running = False

    def save(self, session: Session, block: QWidget | None = None) -> SaveReport | None:
        """Plan and start writing; None when nothing started or it runs on. With `block` (a
        window that is closing or switching folders), wait for the report in a local event
        loop with that widget disabled, and return it."""
        if self.running:
            return None
        items = session.plan_save()
        if not items:
            return SaveReport(errors=[])
        self.running = True
        self.started.emit(len(items))
        result: list[SaveReport | None] = []
        loop = QEventLoop() if block is not None else None

        def finish(report: SaveReport | None) -> None:
            result.append(report)
            if loop is not None:
                loop.quit()

        self.tasks.submit(
            partial(write_sidecars, session, items),
            lambda outcomes: finish(self._done(session, outcomes)),
            lambda message: finish(self._failed(message)),
        )
        if loop is None or block is None:
            return None
        block.setEnabled(False)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            if not result:
                loop.exec()
        finally:
            QApplication.restoreOverrideCursor()
            block.setEnabled(True)
        return result[0] if result else None

    @guarded
    def _done(self, session: Session, outcomes: list[Any]) -> SaveReport:
        self.running = False
        report = session.apply_saved(outcomes)
        self.saved.emit(session, report)
        return report

    @guarded
    def _failed(self, message: str) -> None:
        self.running = False
        self.failed.emit(message)


def write_sidecars(session: Session, items: list[SaveItem]) -> list[Any]:
    """On the file task thread: reads only plain values of the session, changes none."""
    return execute_save(items, naming=session.naming, parent=session.parent, root=session.folder)


def report_text(report: SaveReport) -> str:
    """'Saved 12 sidecars, 1 kept their manual label, 2 failed (see Errors)'."""
    text = f"Saved {report.written} sidecars"
    if report.skipped:
        text += f", {report.skipped} kept their manual label"
    if report.failed:
        text += f", {report.failed} failed (see Errors)"
    return text
