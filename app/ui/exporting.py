"""File ▸ Export Report…: the open folder as a CSV table (path, label, confidence, source, the
six scores, error), written by the core's report writer (app.tagging.report), the very one
`classify --format csv` uses, on the window's file task thread."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

from app.photos.oserrors import os_reason
from app.tagging import report
from app.ui.workers import TaskRunner


class ReportExporter(QObject):
    exported = Signal(object, str)  # the file; the line the status bar shows
    failed = Signal(str)  # why, in words fit to show

    def __init__(
        self, tasks: TaskRunner, window: QMainWindow, show_error: Callable[[str], None]
    ) -> None:
        """Its dialog opens over `window`, whose status bar says where the report went;
        `show_error` shows why one could not be written."""
        super().__init__(window)
        self.tasks = tasks
        self.dialog_parent = window
        self.exported.connect(lambda _path, text: window.statusBar().showMessage(text, 10000))
        self.failed.connect(show_error)

    def export(self, session: Any, path: str | os.PathLike[str] | None = None) -> None:
        """Ask where (unless `path`), take the rows now, in the GUI thread that owns the
        session (what the window shows, corrections not saved yet included), and write the
        file in the background."""
        if session is None:
            self.failed.emit("Open a folder first: the report lists the open folder's photos.")
            return
        path = Path(path) if path else ask_report_path(self.dialog_parent, session.folder)
        if path is None:
            return
        rows = report.rows_for_session(session)

        def write() -> int:
            try:
                report.write_report_file(path, rows, "csv")
            except OSError as exc:
                raise OSError(f"The report cannot be written to {path}: {os_reason(exc)}") from None
            return len(rows)

        def done(n: int) -> None:
            self.exported.emit(path, f"Report of {n} photos written to {path}")

        self.tasks.submit(write, done, self.failed.emit)


def ask_report_path(parent: QWidget, folder: Path | None) -> Path | None:
    """The save dialog, proposing `<folder>/<folder name> scenes.csv`."""
    start = (folder / f"{folder.name} scenes.csv") if folder is not None else Path.home()
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export Report", str(start), "CSV table (*.csv);;All files (*)"
    )
    if not path:
        return None
    path = Path(path)
    return path if path.suffix else path.with_suffix(".csv")
