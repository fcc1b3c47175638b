"""The window's side of learning from corrections (issue 12).

- After each save, the photos now labelled by hand are recorded in the corrections store
  (app.personal.corrections.sync_session) on the file task thread; the action "Learn from my
  corrections (N)" counts them.
- The action runs app.personal.head.learn on its own task thread (features the corrections lack
  are computed there, through the bundled classifier), never on the GUI thread. The report
  shows the before/after figures; an adopted model becomes the window's classifier at once
  (the personal head in front of the runtime; the status bar names its version).
- Then the photos not labelled by hand are re-scored by the personal head from their features
  (computed in the background when this session has none). Those whose label would change are
  listed (old -> new, with confidences) to accept all or the checked ones: one RescoreCommand
  on the undo stack, so one Ctrl+Z restores every previous prediction. A re-score is an
  automatic label from the personal model (its id names the version), never a manual one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.tagging.session import Session
from app.ui.guard import guarded
from app.ui.workers import TaskRunner

if TYPE_CHECKING:
    from app.model.engine import SceneClassifier

log = logging.getLogger("app.ui")


@dataclass(frozen=True)
class Change:
    id: int
    name: str
    old_label: str | None
    old_confidence: float | None
    prediction: Any  # the personal model's Prediction

    def text(self) -> str:
        old = f"{self.old_label or '—'}"
        if self.old_confidence is not None:
            old += f" ({100 * self.old_confidence:.0f} %)"
        p = self.prediction
        return f"{self.name}: {old} → {p.label} ({100 * p.confidence:.0f} %)"


class RescoreCommand(QUndoCommand):
    """Photos take the personal model's predictions (automatic labels); undo puts back the
    predictions and model ids they had. One command for the whole batch."""

    def __init__(self, session: Session, changes: Sequence[Change], model_id: str) -> None:
        n = len(changes)
        super().__init__(f"Re-score {n} photo{'s' if n != 1 else ''} with the personal model")
        self.session = session
        self.new = {c.id: (c.prediction, model_id) for c in changes}
        self.old: dict[int, Any] = {}

    def redo(self) -> None:
        self.old = self.session.swap_predictions(self.new)

    def undo(self) -> None:
        self.session.swap_predictions(self.old)


class RescoreDialog(QDialog):
    """The photos whose label would change; all checked; accept all or the checked ones."""

    def __init__(self, report_lines: list[str], changes: Sequence[Change], parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learned from your corrections")
        self.changes = list(changes)
        layout = QVBoxLayout(self)
        self.report = QLabel("\n".join(report_lines))
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.report)
        self.list = QListWidget()
        for c in self.changes:
            item = QListWidgetItem(c.text())
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        if self.changes:
            layout.addWidget(QLabel(f"Re-scoring would change {len(self.changes)} labels:"))
            layout.addWidget(self.list)
        else:
            layout.addWidget(QLabel("Re-scoring changes no label of this folder."))
            self.list.hide()
        buttons = QDialogButtonBox()
        self.accept_checked = buttons.addButton(
            "Accept Checked", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.accept_all = buttons.addButton("Accept All", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.accept_checked.setEnabled(bool(self.changes))
        self.accept_all.setEnabled(bool(self.changes))
        self.accept_all.clicked.connect(self._check_all)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _check_all(self) -> None:
        for i in range(self.list.count()):
            self.list.item(i).setCheckState(Qt.CheckState.Checked)

    def chosen(self) -> list[Change]:
        return [
            c
            for i, c in enumerate(self.changes)
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]


class ReportDialog(QDialog):
    def __init__(self, lines: list[str], parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learn from my corrections")
        layout = QVBoxLayout(self)
        self.text = QLabel("\n".join(lines))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


# --------------------------------------------------------------------------------------------
# Work off the GUI thread (plain functions: they get snapshots, return values)


def _learn_task(classifier: Any, snapshot: list[tuple[int, Any, Any]]) -> dict[str, Any]:
    """Learn (app.personal.learning, as `learn` does), then re-score the snapshot with an
    adopted head (model task thread)."""
    from app.personal.corrections import Corrections
    from app.personal.learning import learn_from_corrections
    from app.personal.versions import PersonalClassifier, Versions, base_classifier

    base = base_classifier(classifier)
    base.need_features = True  # a results cache classifies again the rows kept without one
    store = Corrections()
    try:
        outcome = learn_from_corrections(store, base.card, Versions(), base)
    finally:
        store.close()
    result: dict[str, Any] = {"report": outcome.report, "version": outcome.version, "rescored": {}}
    if outcome.version is None:
        return result
    clf = PersonalClassifier(base, outcome.learned.head, outcome.version, outcome.learned.none_bank)
    result["classifier"] = clf
    need = [path for _, path, feat in snapshot if feat is None]
    feats = {rid: feat for rid, _, feat in snapshot if feat is not None}
    if need:
        computed = {p.path: p for p in base.classify_paths(need)}
        for rid, path, feat in snapshot:
            p = computed.get(path)
            if feat is None and p is not None and p.ok and p.feature is not None:
                feats[rid] = p.feature
    paths = {rid: path for rid, path, _ in snapshot}
    result["rescored"] = {rid: clf.predict(paths[rid], feat) for rid, feat in feats.items()}
    return result


def _record_task(session: Session) -> int:
    from app.personal.corrections import Corrections, sync_session

    store = Corrections()
    try:
        sync_session(store, session)
        return len(store)
    finally:
        store.close()


def _count_task() -> int:
    from app.personal.corrections import Corrections

    store = Corrections()
    try:
        return len(store)
    finally:
        store.close()


# --------------------------------------------------------------------------------------------


class LearningController(QObject):
    """The learn action's state for one window. It is handed what it uses (the action it
    names, the file task runner, getters for the classifier and the session, whether a scan
    runs, the undo stack, the parent of its dialogs) and tells the window the rest by signals:
    it never reads or sets the window's attributes."""

    learned = Signal(object)  # the result dict of _learn_task (tests wait on it)
    failed = Signal(str)  # why nothing was learned (shown in a report dialog)
    count_changed = Signal(int)
    adopted = Signal(object)  # the classifier with the new personal head: run it from now on
    status = Signal(str, int)  # a status bar message and how long it shows (ms)
    error = Signal(str)  # a problem to show as an error (corrections not recorded)
    idle = Signal()  # learning is over (learned or failed): a scan that waited may start

    def __init__(
        self,
        action: QAction,
        file_tasks: TaskRunner,
        classifier: Callable[[], SceneClassifier | None],
        session: Callable[[], Session | None],
        scanning: Callable[[], bool],
        undo_stack: QUndoStack,
        dialog_parent: QWidget,
    ) -> None:
        super().__init__(dialog_parent)
        self.action, self.file_tasks, self.undo_stack = action, file_tasks, undo_stack
        self.classifier, self.session, self.scanning = classifier, session, scanning
        self.dialog_parent = dialog_parent
        self.count = 0
        self.running = False
        self.dialog: QDialog | None = None
        self.tasks = TaskRunner(self)  # its own thread: a fit never waits behind file work
        file_tasks.submit(_count_task, self._set_count, lambda m: log.warning("%s", m))

    def _set_count(self, n: int) -> None:
        self.count = int(n)
        self.action.setText(f"&Learn from My Corrections ({self.count})")
        self.action.setEnabled(self.count > 0 and not self.running)
        self.count_changed.emit(self.count)

    @guarded
    def record(self, session: Session, _report: Any = None) -> None:
        """After a save: the session's manual labels become corrections (file task thread)."""
        self.file_tasks.submit(
            lambda: _record_task(session),
            self._set_count,
            lambda m: self.error.emit(f"Corrections not recorded: {m}"),
        )

    @guarded
    def learn(self) -> bool:
        if self.running:
            return False
        classifier = self.classifier()
        if classifier is None:
            self.status.emit("No model loaded: nothing to learn with", 5000)
            return False
        if self.scanning():
            self.status.emit("Learning waits for the scan to finish", 5000)
            return False
        session = self.session()
        snapshot = []
        if session is not None:
            for r in session.records:
                if not r.manual:
                    feat = r.prediction.feature if r.prediction is not None else None
                    snapshot.append((r.id, r.path, feat))
        self.running = True
        self.action.setEnabled(False)
        self.status.emit(f"Learning from {self.count} corrections…", 0)
        self.tasks.submit(
            lambda: _learn_task(classifier, snapshot),
            lambda result: self._done(session, result),
            self._failed,
        )
        return True

    @guarded
    def _failed(self, message: str) -> None:
        self.running = False
        self.action.setEnabled(self.count > 0)
        self.status.emit(message, 10000)
        self.dialog = ReportDialog([f"Nothing learned: {message}"], self.dialog_parent)
        self.dialog.open()
        self.failed.emit(message)
        self.idle.emit()

    @guarded
    def _done(self, session: Session | None, result: dict[str, Any]) -> None:
        self.running = False
        self.action.setEnabled(self.count > 0)
        report = result["report"]
        lines = [*report.lines(), report.reason]
        clf = result.get("classifier")
        if clf is not None:
            self.adopted.emit(clf)
        changes = []
        if clf is not None and session is not None and session is self.session():
            for rid, pred in result["rescored"].items():
                r = session.records[rid]
                if r.manual or not pred.ok or pred.label == r.auto_label:
                    continue
                changes.append(Change(rid, r.display_name, r.auto_label, r.auto_confidence, pred))
        if clf is not None:
            dialog = RescoreDialog(lines, changes, self.dialog_parent)
            dialog.accepted.connect(lambda: self.accept(session, dialog.chosen(), clf.model_id))
            self.dialog = dialog
        else:
            self.dialog = ReportDialog(lines, self.dialog_parent)
        self.dialog.open()
        self.status.emit(report.reason, 10000)
        self.learned.emit(result)
        self.idle.emit()

    def accept(self, session: Session | None, changes: Sequence[Change], model_id: str) -> int:
        """Apply re-scores as one undoable step; returns how many photos changed."""
        if not changes or session is None or session is not self.session():
            return 0
        self.undo_stack.push(RescoreCommand(session, changes, model_id))
        return len(changes)


def personal_row(parent: QWidget, on_reset: Callable[[], None] | None = None) -> QWidget:
    """For the settings dialog: the personal model's version, its training set, Reset;
    `on_reset` runs after a reset (the window loads the bundled model again, at once)."""
    from app.personal.versions import VersionError, Versions

    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    label = QLabel()
    reset = QPushButton("Reset to Bundled")
    row.addWidget(label, 1)
    row.addWidget(reset)

    def show() -> None:
        try:
            active = Versions().active()
        except VersionError as exc:
            label.setText(str(exc))
            reset.setEnabled(False)
            return
        if active is None:
            label.setText("Bundled model (no personal model active)")
        else:
            label.setText(
                f"personal.{active.number}: {active.corrections} corrections, "
                f"learned {active.created[:10]}"
            )
        reset.setEnabled(active is not None)

    def do_reset() -> None:
        Versions().reset()
        show()
        if on_reset is not None:
            on_reset()

    reset.clicked.connect(do_reset)
    box.label, box.reset = label, reset  # type: ignore[attr-defined]
    show()
    return box
