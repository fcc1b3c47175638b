"""Work off the GUI thread: the scan (a QObject worker in a QThread) and one-off tasks.

Workers get a snapshot (paths, settings values) and talk back only through queued signals
named as events; they never touch widgets, item models or the session. The scan batches its
predictions (every ~100 ms), so a thousand photos are a few dozen signals, not a thousand.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

from app import priority

log = logging.getLogger("app.ui")

BATCH_SECONDS = 0.1  # how often predictions and progress are posted to the GUI thread
# Predictions posted but not yet applied by the GUI thread before the worker waits: results
# from the cache come faster than the window shows them, and a worker racing ahead only
# holds the interpreter the window's painting needs (2 s of showing at its fastest).
MAX_AHEAD = 2000


BACKGROUND_NICE = 10  # a runnable GUI thread gets ~9 times the CPU share of such a thread


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Let the GUI thread win when the CPU is contended: on Linux a thread has its own nice
    value, and the threads it starts from then on inherit it (the model's inference threads,
    the decode pool); elsewhere (or without permission) this quietly does nothing."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        pass


class ScanWorker(QObject):
    """Runs `classifier.classify_paths` over a snapshot of paths; cancellable at every photo."""

    # Every signal carries the scan's number, so a late signal from a scan that was replaced
    # (a new folder opened meanwhile) is recognised and dropped by the window.
    predictions_ready = Signal(int, object)  # scan, list[Prediction] in input order
    progress = Signal(int, int, int, int)  # scan, done, total, errors
    failed = Signal(int, str)  # scan, why the whole scan failed (a photo's failure is a Prediction)
    finished = Signal(int, bool)  # scan, cancelled?

    def __init__(
        self, number: int, classifier: Any, paths: Sequence[Path], cancel: threading.Event
    ) -> None:
        super().__init__()
        self.number = number
        self.classifier = classifier
        self.paths = paths  # copied in run(): 100,000 paths are the scan thread's work
        self.cancel = cancel
        self.posted = 0  # predictions sent to the GUI thread (written here only)
        self.applied = 0  # of those, applied to the session (written by the GUI thread only)

    @Slot()
    def run(self) -> None:
        batch: list[Any] = []
        last_post = time.monotonic()
        paths = list(self.paths)
        counts = [0, len(paths), 0]

        def on_progress(done: int, total: int, errors: int) -> None:
            counts[:] = [done, total, errors]

        def post(force: bool = False) -> None:
            nonlocal batch, last_post
            now = time.monotonic()
            if batch and (force or now - last_post >= BATCH_SECONDS):
                self.predictions_ready.emit(self.number, batch)
                self.progress.emit(self.number, *counts)
                self.posted += len(batch)
                batch = []
                last_post = now

        thread = QThread.currentThread()
        lower_thread_priority()
        try:
            self.progress.emit(self.number, 0, len(paths), 0)
            for pred in self.classifier.classify_paths(
                paths, progress=on_progress, cancel=self.cancel
            ):
                batch.append(pred)
                post()
                priority.pause()  # a flood of cache hits must not hold the window's repaints
                while self.posted - self.applied > MAX_AHEAD and not (
                    self.cancel.is_set() or thread.isInterruptionRequested()
                ):
                    time.sleep(0.02)  # the window is behind: let it catch up
                if thread.isInterruptionRequested():
                    self.cancel.set()
                if self.cancel.is_set():
                    break
            post(force=True)
        except Exception as exc:  # the scan as a whole failed (model closed, device lost)
            log.exception("scan failed")
            post(force=True)
            self.failed.emit(self.number, f"{type(exc).__name__}: {exc}")
        self.finished.emit(self.number, self.cancel.is_set())
        # End the thread's event loop from here: a quit() queued to the GUI thread would never
        # run while the GUI thread is blocked in ScanJob.stop() waiting for this thread.
        thread.quit()


class ScanJob(QObject):
    """Owns one scan's thread and worker; `stop()` cancels and waits (bounded) for the thread."""

    def __init__(
        self, number: int, classifier: Any, paths: Sequence[Path], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.number = number
        self.cancel_event = threading.Event()
        self.worker = ScanWorker(number, classifier, paths, self.cancel_event)
        self.thread = QThread()
        self.thread.setObjectName("scan")
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.started_at = 0.0
        self.total = len(paths)

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()
        self.thread.requestInterruption()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def stop(self, wait_ms: int = 10000) -> bool:
        """Cancel and wait for the thread to end; True when it did."""
        self.cancel()
        if self.thread.isRunning():
            return self.thread.wait(wait_ms)
        return True


class _TaskSignals(QObject):
    done = Signal(int, object)  # task id, result
    failed = Signal(int, str)  # task id, message


class _Task(QRunnable):
    def __init__(self, signals: _TaskSignals, task_id: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.signals, self.task_id, self.fn = signals, task_id, fn

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # shown to the user by the failure callback
            log.warning("background task failed: %s", exc)
            log.debug("background task failed", exc_info=True)
            self.signals.failed.emit(self.task_id, str(exc) or type(exc).__name__)
            return
        self.signals.done.emit(self.task_id, result)


class TaskRunner(QObject):
    """One background thread for file work (load a folder, save sidecars, load the model),
    like Picard's single-thread save pool: two writes never race, results come back queued."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._signals = _TaskSignals(self)
        self._signals.done.connect(self._done)
        self._signals.failed.connect(self._failed)
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[str], None]]] = {}
        self._next = 0

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None],
    ) -> int:
        """Run `fn()` in the background; exactly one callback runs later in this (GUI) thread."""
        self._next += 1
        self._callbacks[self._next] = (on_done, on_failed)
        self.pool.start(_Task(self._signals, self._next, fn))
        return self._next

    def busy(self) -> bool:
        return bool(self._callbacks)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)

    @Slot(int, object)
    def _done(self, task_id: int, result: Any) -> None:
        callbacks = self._callbacks.pop(task_id, None)
        if callbacks:
            callbacks[0](result)

    @Slot(int, str)
    def _failed(self, task_id: int, message: str) -> None:
        callbacks = self._callbacks.pop(task_id, None)
        if callbacks:
            callbacks[1](message)


# device ("auto", "cpu", "cuda") [, backend=("torch", "onnx", "openvino"), tta="flip"] -> a SceneClassifier
ClassifierFactory = Callable[..., Any]


def default_classifier_factory(
    device: str, backend: str = "auto", tta: str = "none"
) -> Any:  # model task thread
    """The bundled model (resources/model_card.json) on the chosen device and runtime, behind
    the results cache (app.cache.library) that `classify` and `tag` share: a photo seen before, by
    any of them, is not classified again. Cache problems are logged, never fatal. The personal
    head goes in front of whatever a factory makes (app.ui.modelload)."""
    from app.personal.stack import ModelChoice, build_classifier

    return build_classifier(
        ModelChoice(device=device, backend=backend, tta=tta),
        personal=False,
        warn=lambda message: log.warning("%s", message),
    )


def cache_lookup(settings: Any) -> Callable[[list[Path]], tuple[str, list[Any]]]:
    """What the default classifier's results cache already knows about some photos, asked on
    the file thread while the folder is listed (the model may still be loading): the model id
    it will most likely run under, from the card alone, and the cached predictions. Working
    the id out may import torch (where a GPU seems present), so it happens on the first call,
    on the file thread, never while the window is built. No id, or a cache problem (a warning
    in the log): no hits."""
    device = None if settings.device == "auto" else settings.device
    backend, tta = settings.backend, settings.tta
    state: dict[str, Any] = {}

    def lookup(paths: list[Path]) -> tuple[str, list[Any]]:
        if not state:
            from app.cache.library import Library
            from app.model import choice
            from app.model.modelid import ModelId

            model_id = choice.expected_model_id(None, backend, "auto", device)
            state["id"] = str(ModelId.parse(model_id).with_tta(tta)) if model_id else ""
            state["library"] = Library(warn=lambda message: log.warning("%s", message))
            state["open_set"] = _open_set(state)
        if not state["id"] or state["open_set"] is False:
            return "", []
        # the stat short cut only: a photo seen before answers at once, nothing is read (a
        # moved or renamed one is found by its content when the scan looks it up)
        hits = state["library"].lookup(paths, state["id"], hash_unknown=False).hits
        open_set = state["open_set"]
        if open_set is None:
            return state["id"], hits
        from app.model import openset  # "none" decided as the model will (kept without a

        # feature: no hit, the scan asks the model)
        threshold = settings.none_threshold or open_set.threshold
        return state["id"], openset.decide(
            [h for h in hits if h.feature is not None], open_set, threshold
        )

    return lookup


def _open_set(state: dict[str, Any]) -> Any:
    """The bundled card's open-set bank (None: the card has none; False: it cannot be read,
    so the cache gives no early answers and the scan asks the model)."""
    from app.model import openset, scenes

    try:
        return openset.OpenSet.from_card(scenes.ModelCard.read(scenes.default_card_path()))
    except scenes.ModelError as exc:
        log.warning("%s", exc)
        return False


def settle_heap() -> None:
    """Move every object alive now (torch, the model, the folder's records) out of the cyclic
    collector's reach: a full collection over the hundreds of thousands of objects torch
    brings takes a few hundred milliseconds, long enough to freeze the window mid-scan."""
    gc.freeze()
