"""The main window: six scene groups, a review list, the preview, errors, scanning and saving.

The window owns the session (the GUI thread is the only one that touches it), the item models
over it, an undo stack of label changes, and the background machinery: the scan worker, one
task thread for the model load, another for file work (folder listing, sidecars: one at a
time, so two saves never race), and the thumbnail pool. What it is made of (widgets, actions,
menus, the browsing and help controllers) is assembled by frame.py.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSignalBlocker, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

from app.tagging.session import SaveReport, Session
from app.ui import appearance, dialogs, frame, guard, learning
from app.ui.actions import ActionId, check_listing
from app.ui.commands import AssignSceneCommand
from app.ui.exporting import ReportExporter
from app.ui.guard import guarded
from app.ui.modelload import ModelLoader, apply_none_threshold, close_quietly, has_open_set
from app.ui.models import PhotoListModel, dropped_folder
from app.ui.opening import FolderLoader
from app.ui.rowkeys import RowKeys
from app.ui.saving import SaveController, report_text
from app.ui.scanning import ScanController
from app.ui.settings import Settings, default_cache_dir
from app.ui.thumbnails import ThumbnailCache
from app.ui.views import PhotoView
from app.ui.welcome import open_user_samples
from app.ui.workers import (
    ClassifierFactory,
    TaskRunner,
    cache_lookup,
    default_classifier_factory,
    settle_heap,
)

if TYPE_CHECKING:
    from app.model.engine import SceneClassifier

log = logging.getLogger("app.ui")


class MainWindow(QMainWindow):
    folder_opened = Signal(object)  # Path, once the photos are listed and sidecars read
    scan_finished = Signal(bool)  # cancelled?
    saved = Signal(object)  # SaveReport
    classifier_changed = Signal(bool)  # a model is loaded (False: it failed)

    def __init__(
        self,
        settings: Settings | None = None,
        classifier_factory: ClassifierFactory | None = None,
        cache_dir: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else Settings()
        self.thumbnails = ThumbnailCache(
            cache_dir if cache_dir is not None else default_cache_dir(), parent=self
        )
        self.model_loader = ModelLoader(classifier_factory or default_classifier_factory, self)
        self.model_loader.loaded.connect(self._classifier_loaded)
        self.model_loader.failed.connect(self._classifier_failed)
        self.file_tasks = TaskRunner(self)  # folders and sidecars, never behind the model
        self.undo_stack = QUndoStack(self)
        self.photos = PhotoListModel(self.thumbnails, self)
        self.session: Session | None = None
        self.classifier: Any = None
        self.classifier_error: str | None = None
        self.messages: list[str] = []  # every error shown to the user (tests read it)
        self.model_loader.warning.connect(self.messages.append)
        self.scan_wanted = False
        self._error_count = 0  # errors listed at the last refresh: a new one opens the dock
        self._discard_on_close = False
        self._shut_down = False  # after shutdown() late results are dropped, nothing starts
        self._active_view: PhotoView | None = None
        self._refresh_timer = QTimer(self, singleShot=True, interval=200)
        self._refresh_timer.timeout.connect(self._refresh_status)
        self.scanner = ScanController(self)
        self.scanner.batching = self.photos.batching
        self.scanner.applied.connect(self._schedule_refresh)
        self.scanner.failed.connect(self._scan_failed)
        self.scanner.finished.connect(self._scan_ended)
        cached = cache_lookup(self.settings) if classifier_factory is None else None
        self.loader = FolderLoader(self.file_tasks, cached, self)
        self.loader.listed.connect(self._folder_listed)
        self.loader.appended.connect(self._folder_appended)
        self.loader.ready.connect(self._folder_ready)
        self.loader.failed.connect(self._folder_failed)
        self.saver = SaveController(self.file_tasks, self)
        self.reports = ReportExporter(self.file_tasks, self, self.show_error)  # File ▸ Export
        self.saver.started.connect(self._save_started)
        self.saver.saved.connect(self._saved)
        self.saver.failed.connect(self._save_failed)
        self.looks = appearance.Follower(lambda: self.settings.color_scheme, self)
        self._reveal: Path | None = None  # a photo to show once its folder is listed
        self.samples_folder: Path | None = None  # where the sample photos were opened from
        self.setAcceptDrops(True)
        frame.assemble(self)  # widgets, actions, menus, toolbar, status bar, controllers
        self.learning = learning.LearningController(  # learn from corrections (after saves)
            self.actions[ActionId.LEARN],
            self.file_tasks,
            lambda: self.classifier,
            lambda: self.session,
            self.is_scanning,
            self.undo_stack,
            self,
        )
        self.saver.saved.connect(self.learning.record)
        self.learning.adopted.connect(self._use_classifier)
        self.learning.status.connect(self.statusBar().showMessage)
        self.learning.error.connect(self.show_error)
        self.learning.failed.connect(self.messages.append)
        self.learning.idle.connect(lambda: self.scan_wanted and self.start_scan())
        self.resize(1400, 900)
        if (geometry := self.settings.geometry()) is not None:
            self.restoreGeometry(geometry)
        if (state := self.settings.window_state()) is not None:
            self.restoreState(state)
        guard.set_reporter(self.show_error)
        self.undo_stack.indexChanged.connect(self._schedule_refresh)
        self.preview.follow(self.photos)  # the shown photo's label and scores stay current
        QApplication.instance().focusChanged.connect(self._focus_changed)
        self.load_classifier()

    # ---------------------------------------------------------------------------------- state
    @property
    def threshold(self) -> float:
        return self.session.threshold if self.session is not None else self.settings.threshold

    def views(self) -> list[PhotoView]:
        return [p.view for p in self.group_panes.values()] + [self.review_pane.view]  # type: ignore[misc]

    def group_count(self, label: str) -> int:
        return self.group_proxies[label].rowCount()

    def dirty_count(self) -> int:
        return self.session.dirty_count() if self.session is not None else 0

    def is_scanning(self) -> bool:
        return self.scanner.is_running()

    def show_error(self, summary: str, details: str = "") -> None:
        """Show an error without blocking the event loop (a modal exec() would stall scans)."""
        self.messages.append(summary)
        self.statusBar().showMessage(summary, 10000)
        dialogs.open_error(self, summary, details)

    # ---------------------------------------------------------------------------------- model
    def load_classifier(self) -> None:
        """Load the model in the background (modelload.py); the status bar says what runs it."""
        self._close_classifier()
        self.classifier_error = None
        self.device_label.setText("Loading model…")
        self.model_loader.load(self.settings.device, self.settings.backend, self.settings.tta)

    @guarded
    def _classifier_loaded(self, classifier: Any) -> None:
        if self._shut_down:  # the window closed while the model loaded: release it, scan nothing
            close_quietly(classifier)
            return
        self._use_classifier(classifier)
        settle_heap()
        if fallbacks := classifier.fallbacks:  # auto passed over a damaged or missing model
            self.messages.extend(fallbacks)  # say so, and which runs
            self.statusBar().showMessage(
                f"{fallbacks[-1]} (running {classifier.device_name})", 15000
            )
        self.classifier_changed.emit(True)
        if self.scan_wanted:
            self.start_scan()

    def _use_classifier(self, classifier: SceneClassifier) -> None:  # loaded, or a head learned
        self.classifier = classifier
        apply_none_threshold(classifier, self.session, self.settings.none_threshold)
        self.device_label.setText(f"{classifier.device_name} · {classifier.model_id}")

    @guarded
    def _classifier_failed(self, message: str) -> None:
        if self._shut_down:
            return
        self.classifier_error = message
        self.device_label.setText("No model")
        self.scan_wanted = False
        self.show_error(
            f"The scene model could not be loaded:\n{message}\n\n"
            "Photos can still be sorted by hand (keys 1–7 or drag and drop) and saved."
        )
        self.classifier_changed.emit(False)

    def _close_classifier(self) -> None:
        self._stop_scan()
        close_quietly(self.classifier)
        self.classifier = None

    # ---------------------------------------------------------------------------------- folders
    @guarded
    def choose_folder(self) -> None:
        if folder := dialogs.choose_folder(self, self.session.folder if self.session else None):
            self.open_folder(folder)

    @guarded
    def open_samples(self) -> None:
        def open_copy(folder: Path) -> None:
            self.samples_folder = folder  # the first launch's introduction stays up over these
            self.open_folder(folder)

        open_user_samples(open_copy, self.show_error)  # a copy, never the app's own

    @guarded
    def open_photo(self, photo: str | os.PathLike[str]) -> bool:
        """A photo from the command line (a file manager's Open With): its folder opens, and
        that photo becomes the current, selected one once it is listed (again once it is
        classified, if nothing else was chosen meanwhile)."""
        photo = Path(os.path.abspath(photo))
        if not self.open_folder(photo.parent):
            return False
        self._reveal = photo
        return True

    def _reveal_photo(self, last: bool) -> None:
        """The photo asked for by open_photo becomes current once listed; one still to be
        classified is only previewed until its scan ends (it then moves to its group), and
        selected then unless the user went elsewhere meanwhile."""
        photo, session = self._reveal, self.session
        rid = session.id_for(photo) if photo is not None and session is not None else None
        if rid is None:
            self._reveal = None
        elif not last and session.records[rid].label is None and self.classifier_error is None:
            self.preview.show_record(session.records[rid])
            self.browser.user_moved = False
        else:
            if not (last and self.browser.user_moved):
                self.browser.reveal(rid)
            self._reveal = None

    @guarded
    def open_folder(self, folder: str | os.PathLike[str], recursive: bool | None = None) -> bool:
        """List the folder (with its subfolders when `recursive`, default: the setting) and
        show it; its sidecars are read next, then what needs the model is classified (all in
        the background, see opening.py). False when nothing happens (not a folder, or the
        user kept unsaved work)."""
        folder = Path(folder)
        if not folder.is_dir():
            self.show_error(f"Not a folder: {folder}")
            return False
        if not self.confirm_unsaved():
            return False
        self._stop_scan()
        self._reveal = None
        self.thumbnails.clear_queue()
        self.undo_stack.clear()
        self.preview.show_record(None)
        self.photos.set_session(None)
        self.session = None
        self.settings.add_recent(folder)
        if folder != self.samples_folder:  # one's own folder: the introduction has done its job
            self.intro.dismiss()
        self.welcome.refresh()
        self.stack.setCurrentWidget(self.tabs)
        self.setWindowTitle(f"{folder.name} (reading…)")  # Qt adds " — Scene Tagger" itself
        self.statusBar().showMessage(f"Reading {folder}…")
        self.loader.open(
            folder,
            self.settings.recursive if recursive is None else recursive,
            self.settings.raw_jpeg,
            threshold=self.settings.threshold,
            naming=self.settings.naming,
            parent=self.settings.parent,
        )
        return True

    @guarded
    def set_listing(self, **change: Any) -> None:
        """View ▸ Include Subfolders, RAW + JPEG as One Photo (settings `recursive`, `raw_jpeg`):
        remembered, and the open folder is read again with it; kept unsaved work undoes it."""
        before = self.settings.update(change)
        folder = self.session.folder if self.session is not None else None
        if folder is not None and not self.open_folder(folder):
            self.settings.update(before)
            check_listing(self.actions, self.settings)

    @guarded
    def _folder_listed(self, session: Session, keys: Any) -> None:
        """Every photo shows now; groups fill in as the sidecars are read."""
        if self._shut_down:
            return
        self._stop_scan()  # a scan of a session being replaced (the same folder opened twice)
        self.session = session
        self.photos.set_session(session, keys)
        with QSignalBlocker(self.threshold_box):
            self.threshold_box.setValue(round(session.threshold * 100))
        self._refresh_status()

    @guarded
    def _folder_appended(self, session: Session, ids: list[int], keys: RowKeys) -> None:
        """The next batch of a folder being listed, its sidecars and cached results read."""
        if self._shut_down or session is not self.session:
            return
        self.photos.append_rows(ids, keys)
        self.statusBar().showMessage(f"Listing {session.folder}: {len(session):,} photos…")
        settle_heap()  # each batch's records out of the collector's reach: no long full GC
        self._schedule_refresh()

    @guarded
    def _folder_ready(self, session: Session) -> None:
        if self._shut_down or session is not self.session:
            return
        self.photos.flush()  # every photo in its list now
        folder = session.folder
        self.statusBar().showMessage(f"{len(session):,} photos in {folder}", 5000)
        settle_heap()
        self._refresh_status()
        self._reveal_photo(last=False)
        self.folder_opened.emit(folder)
        self.start_scan()

    @guarded
    def _folder_failed(self, folder: Path, message: str) -> None:
        if not self._shut_down:
            self.show_error(f"Cannot read {folder}: {message}")

    def confirm_unsaved(self) -> bool:
        """Ask Save/Discard/Cancel when labels are unsaved; True when it is fine to go on."""
        count = self.dirty_count()
        if count == 0:
            return True
        answer = dialogs.ask_unsaved(self, count)
        if answer == QMessageBox.StandardButton.Save:
            report = self.save(synchronous=True)
            return report is not None and report.failed == 0
        return answer == QMessageBox.StandardButton.Discard

    # ---------------------------------------------------------------------------------- scanning
    @guarded
    def start_scan(self) -> bool:
        """Classify the session's photos that need the model (never those labelled by hand)."""
        if self._shut_down or self.session is None or self.scanner.is_running():
            return False
        if self.loader.loading() is not None:
            return False  # sidecars still being read: a photo labelled by hand must not be sent
        if self.classifier is None or self.learning.running:  # loading, or busy learning:
            self.scan_wanted = self.classifier_error is None  # the scan starts when it is done
            if self.classifier_error is not None:
                self.statusBar().showMessage(
                    "No model loaded: photos can be labelled by hand", 5000
                )
            return False
        self.scan_wanted = False
        ids = self.session.to_classify(self.classifier.model_id, has_open_set(self.classifier))
        if not ids:
            self.statusBar().showMessage("Every photo already has a label", 5000)
            self.scan_finished.emit(False)
            return False
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.classify_action.setEnabled(False)
        self.scanner.start(self.classifier, self.session, ids)
        return True

    @guarded
    def cancel_scan(self) -> None:
        if self.scanner.is_running():
            self.scanner.cancel()
            p = self.progress
            p.set_progress(p.done, p.total, p.text + " · cancelling…")

    def _stop_scan(self) -> None:
        """Cancel and wait (opening another folder, closing): late signals are then ignored."""
        self.scanner.stop()

    @guarded
    def _scan_failed(self, message: str) -> None:
        self.show_error(f"Classification stopped: {message}")

    @guarded
    def _scan_ended(self, cancelled: bool) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.classify_action.setEnabled(True)
        s = self.scanner
        done = f"Classified {s.last_total} photos in {s.last_seconds:.1f} s"
        self.statusBar().showMessage("Scan cancelled" if cancelled else done, 8000)
        self.photos.flush()  # every row in its list now
        self._refresh_status()
        self._reveal_photo(last=True)  # classified: the photo opened is now in its group
        self.scan_finished.emit(cancelled)

    # ---------------------------------------------------------------------------------- labels
    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        while new is not None and not isinstance(new, PhotoView):
            new = new.parentWidget()
        if isinstance(new, PhotoView):
            self._active_view = new

    def _assign_from_view(self, view: PhotoView, label: str | None) -> None:
        self._active_view = view
        self.assign_selected(label)

    @guarded
    def assign_selected(self, label: str | None) -> int:
        """Keys 1-6, 7 = Not a scene (0 = automatic): label the selection of the active view (or its current
        photo), one undo step; then the next photo of that list is the selected one."""
        view = self._active_view
        ids = self.browser.targets(view)
        if view is None or not ids:
            self.statusBar().showMessage(
                "Select a photo first (a click, the arrow keys, or Ctrl+2 for Needs review), "
                "then press 1–7",
                6000,
            )
            return 0
        position = self.browser.position(view, ids)
        changed = self.assign(ids, label)
        self.browser.advance(position)
        return changed

    def assign(self, ids: list[int], label: str | None) -> int:
        """Give photos a manual label through the undo stack; returns how many changed."""
        if self.session is None:
            return 0
        command = AssignSceneCommand(self.session, ids, label)
        if command.refused:
            r = self.session.records[command.refused[0]]
            self.statusBar().showMessage(f"{r.path.name}: {r.classify_error}; not labelled", 8000)
        if command.is_noop():
            return 0
        self.undo_stack.push(command)
        return len(command.old)

    @guarded
    def _drop_requested(self, ids: list[int], label: str) -> None:
        self.assign(ids, label)  # the source list moved on to its next photo: show the dropped one
        self._show_preview(self.session.records[ids[0]] if self.session and ids else None)

    # ---------------------------------------------------------------------------------- saving
    @guarded
    def save(self, synchronous: bool = False) -> SaveReport | None:
        """Write sidecars for auto labels at or above the threshold and every manual label, on
        the file task thread (saving.py). `synchronous` (closing, switching folders) waits."""
        if self.session is None:
            return None
        report = self.saver.save(self.session, block=self if synchronous else None)
        if report is not None and report.written == report.failed == report.skipped == 0:
            self.statusBar().showMessage("Nothing to save", 4000)
        return report

    def _save_started(self, count: int) -> None:
        self.save_action.setEnabled(False)
        self.statusBar().showMessage(f"Saving {count} sidecars…")

    @guarded
    def _saved(self, session: Session, report: SaveReport) -> None:
        if self._shut_down:  # the sidecars are written and applied; nothing to show
            return
        self.save_action.setEnabled(True)
        if session is self.session:
            if report.failed:
                self.errors_dock.show()
                self.show_error(
                    f"{report.failed} sidecars could not be written; see the Errors list."
                )
            self.statusBar().showMessage(report_text(report), 8000)
            self._refresh_status()
        self.saved.emit(report)

    @guarded
    def _save_failed(self, message: str) -> None:
        if self._shut_down:
            log.warning("saving failed after the window closed: %s", message)
            return
        self.save_action.setEnabled(True)
        self.show_error(f"Saving failed: {message}")

    # ---------------------------------------------------------------------------------- settings
    @guarded
    def edit_settings(self) -> None:
        dialog = dialogs.SettingsDialog(self.settings, self, self.load_classifier, self.classifier)
        if dialog.exec() == dialogs.QDialog.DialogCode.Accepted:
            self.apply_preferences(dialog.preferences())

    def apply_preferences(self, prefs: dialogs.Preferences) -> None:
        s = self.settings
        device_changed = (prefs.device, prefs.backend, prefs.tta) != (s.device, s.backend, s.tta)
        s.device, s.backend, s.tta = prefs.device, prefs.backend, prefs.tta
        self.settings.naming = prefs.naming
        self.settings.parent = prefs.parent
        self.settings.color_scheme = prefs.color_scheme
        self.looks.set_choice()
        if self.session is not None:
            self.session.naming, self.session.parent = prefs.naming, prefs.parent
        self.threshold_box.setValue(round(prefs.threshold * 100))  # applies it
        if prefs.none_threshold != s.none_threshold:  # "Not a scene" strictness: no rerun
            s.none_threshold = prefs.none_threshold
            apply_none_threshold(self.classifier, self.session, s.none_threshold)
        if device_changed:
            self.load_classifier()

    @guarded
    def _threshold_changed(self, percent: float) -> None:
        self.settings.threshold = percent / 100.0
        if self.session is not None:
            self.session.set_threshold(percent / 100.0)
        for view in self.views():
            view.viewport().update()
        self._schedule_refresh()

    @guarded
    def _sort_changed(self, _index: int) -> None:
        mode = self.sort_box.currentData()
        for proxy in self.group_proxies.values():
            proxy.set_sort_mode(mode)

    # ---------------------------------------------------------------------------------- display
    @guarded
    def _show_preview(self, record: Any) -> None:
        if record is not None:
            self.preview.show_record(record)

    def _schedule_refresh(self, *_: Any) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    @guarded
    def _refresh_status(self) -> None:
        """Title, unsaved count and list counts; coalesced so a scan does not redo it per batch."""
        session = self.session
        dirty = self.dirty_count()
        name = session.folder.name if session is not None and session.folder else ""
        self.setWindowTitle(f"{name}[*]" if name else "")  # the app's name: Qt adds it
        self.setWindowModified(dirty > 0)
        self.unsaved_label.setText(f"{dirty} unsaved" if dirty else "All saved" if session else "")
        self.tabs.setTabText(1, f"Needs review · {self.review_proxy.rowCount()}")
        errors = self.error_proxy.rowCount() + self.unreadable.count()
        self.errors_dock.setWindowTitle(f"Errors · {errors}" if errors else "Errors")
        self.browser.refresh_counts()
        if errors > self._error_count:
            self.errors_dock.show()  # a new problem is never silent
        self._error_count = errors

    # ---------------------------------------------------------------------------------- events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        folder = dropped_folder(event.mimeData())
        if folder is not None:
            event.acceptProposedAction()
            QTimer.singleShot(0, partial(self.open_folder, folder))  # not inside the drag loop

    def close_discarding(self) -> bool:
        """Close without asking about unsaved labels (scripts, screenshots)."""
        self._discard_on_close = True
        return self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        try:
            if not (self._discard_on_close or self._shut_down) and not self.confirm_unsaved():
                event.ignore()
                return
            self.settings.save_window(self.saveGeometry(), self.saveState())
            self.settings.sync()
            self.shutdown()
        except Exception as exc:
            guard.report_exception(exc, "closing")
        event.accept()

    def shutdown(self) -> None:
        """Stop every background job and release the model; safe to call twice (closeEvent,
        then aboutToQuit). Results that arrive later (the model, a folder) are dropped."""
        self._shut_down = True
        self.loader.cancel()
        self.scan_wanted = False
        self._stop_scan()
        self.thumbnails.clear_queue()
        self.thumbnails.wait(5000)
        self.file_tasks.wait(30000)
        self.model_loader.forget()
        self.model_loader.wait(30000)
        self._close_classifier()
        self.scanner.shutdown()
        guard.set_reporter(None)
