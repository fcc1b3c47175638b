"""One scan at a time: the worker thread, its late signals, and feeding predictions to the session.

Predictions can arrive faster than the views can follow on a slow machine. They are queued
here and applied in slices of about APPLY_BUDGET_S of GUI-thread work every APPLY_INTERVAL_MS,
so input and painting always get their turn: the event loop never stalls, whatever the scan
rate. Every worker signal carries its scan's number; one from a scan that was stopped (a new
folder opened meanwhile) is dropped.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from app.tagging.session import Session
from app.ui.guard import guarded
from app.ui.workers import ScanJob

APPLY_INTERVAL_MS = 50
APPLY_BUDGET_S = 0.015
# At most this many predictions per slice (1,000 a second): the measured cost leaves out the
# repaints a slice causes, and results from the cache (a moved library: every photo known by
# its content) arrive at ~2,000 a second; 200 a slice stalled the window 120-145 ms.
APPLY_MAX = 50
PROGRESS_INTERVAL_S = 0.2  # a progress display needs no more than five updates a second


def _eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def progress_text(done: int, total: int, errors: int, elapsed: float) -> str:
    """'120/1000 · 45 photos/s · ETA 0:19 · 2 errors'."""
    text = f"{done}/{total}"
    if done and elapsed > 0:
        rate = done / elapsed
        text += f" · {rate:.0f} photos/s · ETA {_eta((total - done) / rate)}"
    if errors:
        text += f" · {errors} errors"
    return text


class ScanController(QObject):
    """Starts, feeds, cancels and ends scans; emits what the window shows."""

    progress = Signal(int, int, str)  # done, total, text
    applied = Signal()  # some predictions reached the session
    failed = Signal(str)  # the scan as a whole stopped (a photo's failure is a Prediction)
    finished = Signal(bool)  # cancelled?

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.model_id: str | None = None
        self.last_total = 0
        self.last_seconds = 0.0
        self._job: ScanJob | None = None
        self._number = 0
        self._ended: bool | None = None  # the worker finished (cancelled?), still applying
        self._done_jobs: list[ScanJob] = []  # kept until their threads have ended
        self._incoming: deque[Any] = deque()  # predictions received, not yet applied
        self._cost = 0.002  # seconds of GUI work per prediction, measured as we go
        self._last_progress = 0.0
        # the window's PhotoListModel.batching: list moves follow a scan at their own pace
        self.batching: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self._timer = QTimer(self, interval=APPLY_INTERVAL_MS)
        self._timer.timeout.connect(self._apply_some)

    def is_running(self) -> bool:
        """True from start() until the last prediction is applied (or stop())."""
        return self._job is not None

    @property
    def job(self) -> ScanJob | None:
        """The running scan's thread and worker (None when none runs)."""
        return self._job

    def start(self, classifier: Any, session: Session, ids: list[int]) -> None:
        if self._job is not None:
            raise RuntimeError("a scan is already running")
        self._done_jobs = [j for j in self._done_jobs if j.is_running()]
        self.session, self.model_id = session, classifier.model_id
        self._number += 1
        job = ScanJob(self._number, classifier, _PathsOf(session.records, ids), self)
        job.worker.predictions_ready.connect(self._on_predictions)
        job.worker.progress.connect(self._on_progress)
        job.worker.failed.connect(self._on_failed)
        job.worker.finished.connect(self._on_finished)
        self._job, self._ended, self._last_progress = job, None, 0.0
        self.progress.emit(0, len(ids), f"0/{len(ids)}")
        job.start()

    def cancel(self) -> None:
        """Ask the worker to stop; `finished(True)` follows once it has."""
        if self._job is not None:
            self._job.cancel()

    def stop(self) -> None:
        """Cancel and wait for the thread (a new folder, closing); emits finished(True)."""
        job, self._job, self._ended = self._job, None, None
        self._timer.stop()
        self._incoming.clear()
        if job is not None:
            job.stop()
            self._done_jobs.append(job)
            self.finished.emit(True)

    def shutdown(self) -> None:
        self.stop()
        for job in self._done_jobs:
            job.stop(2000)
        self._done_jobs.clear()

    # ------------------------------------------------------------------------------ worker
    def _current(self, number: int) -> bool:
        return self._job is not None and self._job.number == number

    @Slot(int, object)
    @guarded
    def _on_predictions(self, number: int, predictions: list[Any]) -> None:
        if QThread.currentThread() != self.thread():
            raise RuntimeError("a worker signal arrived outside the GUI thread")
        if self._current(number):
            self._incoming.extend(predictions)
            if not self._timer.isActive():
                self._timer.start()

    @Slot(int, int, int, int)
    @guarded
    def _on_progress(self, number: int, done: int, total: int, errors: int) -> None:
        if not self._current(number):
            return
        now = time.monotonic()
        if done < total and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        assert self._job is not None
        self.progress.emit(
            done, total, progress_text(done, total, errors, now - self._job.started_at)
        )

    @Slot(int, str)
    @guarded
    def _on_failed(self, number: int, message: str) -> None:
        if self._current(number):
            self.failed.emit(message)

    @Slot(int, bool)
    @guarded
    def _on_finished(self, number: int, cancelled: bool) -> None:
        if self._current(number):
            self._ended = cancelled  # its thread ends on its own; never wait for it here
            self._maybe_end()

    # ------------------------------------------------------------------------------ applying
    @guarded
    def _apply_some(self) -> None:
        """Apply as many waiting predictions as fit in the time budget, then yield."""
        if self.session is None or not self._incoming:
            self._timer.stop()
            self._maybe_end()
            return
        n = max(4, min(APPLY_MAX, int(APPLY_BUDGET_S / self._cost)))
        batch = [self._incoming.popleft() for _ in range(min(n, len(self._incoming)))]
        start = time.perf_counter()
        with self.batching():
            self.session.set_predictions(batch, self.model_id)
        if self._job is not None:  # the worker waits when the window falls this far behind
            self._job.worker.applied += len(batch)
        per_item = (time.perf_counter() - start) / len(batch)
        # quick to grow, slow to shrink: one slow slice must not be followed by a bigger one
        self._cost = max(1e-5, per_item, 0.8 * self._cost + 0.2 * per_item)
        self.applied.emit()
        if not self._incoming:
            self._timer.stop()
            self._maybe_end()

    def _maybe_end(self) -> None:
        """The scan is over once the worker finished and every prediction is applied."""
        job, cancelled = self._job, self._ended
        if job is None or cancelled is None or self._incoming:
            return
        self._done_jobs.append(job)  # released at the next scan: not inside its own signal
        self._job, self._ended = None, None
        self.last_total, self.last_seconds = job.total, time.monotonic() - job.started_at
        self.finished.emit(cancelled)


class _PathsOf(Sequence):
    """The paths of some records, read when the scan thread copies them (not on the GUI
    thread: 100,000 of them took it tens of milliseconds)."""

    def __init__(self, records: list[Any], ids: list[int]) -> None:
        self.records, self.ids = records, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self.records[i].path for i in self.ids[k]]
        return self.records[self.ids[k]].path

    def __iter__(self) -> Iterator[Path]:
        records = self.records
        return (records[i].path for i in self.ids)
