"""The scene model, loaded off the GUI thread: the factory runs on its own task thread (torch
or ONNX Runtime take seconds to import), the active personal head is stacked in front of what
it made (app.personal.stack), and the window hears `loaded` (after any `warning`) or `failed`.

A model that arrives after the window closed, or after another load was asked for, is closed
at once and never reaches the window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from app.ui.guard import guarded
from app.ui.workers import ClassifierFactory, TaskRunner, lower_thread_priority

if TYPE_CHECKING:
    from app.model.engine import SceneClassifier


def close_quietly(classifier: Any) -> None:
    close = getattr(classifier, "close", None)
    if close is not None:
        close()


def has_open_set(classifier: Any) -> bool:
    """The model says "none" (its card has an open-set section), through any wrapper."""
    return getattr(classifier, "open_set", None) is not None


def apply_none_threshold(classifier: Any, session: Any, wanted: float | None) -> None:
    """The "Not a scene" strictness (Settings; None = the card's) on the loaded model, and
    every photo's outcome decided again with it from its open-set score: nothing runs again."""
    from app.model import openset

    open_set = getattr(classifier, "open_set", None)  # a personal head's has the person's photos
    if open_set is None:
        return
    classifier.none_threshold = wanted if wanted is not None else open_set.threshold
    if session is None:
        return
    changed = {}
    for r in session.records:
        p = r.prediction
        if p is not None and p.ok:
            [q] = openset.decide([p], open_set, classifier.none_threshold)
            if q.label != p.label:
                changed[r.id] = (q, r.model_id)
    if changed:
        session.swap_predictions(changed)


class ModelLoader(QObject):
    loaded = Signal(object)  # the classifier (a SceneClassifier)
    failed = Signal(str)  # why there is none
    warning = Signal(str)  # e.g. why the active personal model does not run (before `loaded`)

    def __init__(self, factory: ClassifierFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.factory = factory
        self.tasks = TaskRunner(self)
        self._ticket = 0

    def load(self, device: str, backend: str, tta: str = "none") -> None:
        """Start loading; a runtime other than auto and a TTA other than none are passed by
        name, so one-argument factories (tests, older callers) keep working."""
        self._ticket += 1
        ticket, factory = self._ticket, self.factory
        named = {k: v for k, v in (("backend", backend), ("tta", tta)) if v not in ("auto", "none")}

        def make() -> tuple[SceneClassifier, list[str]]:
            from app.personal.stack import build_classifier

            lower_thread_priority()  # the runtime's inference threads start here: they inherit it
            notes: list[str] = []
            clf = build_classifier(factory(device, **named), cache=False, warn=notes.append)
            return clf, notes

        self.tasks.submit(make, lambda c: self._done(ticket, c), lambda m: self._fail(ticket, m))

    def forget(self) -> None:
        """Whatever is loading now is unwanted (the window closes, or loads another)."""
        self._ticket += 1

    def wait(self, msecs: int = 30000) -> bool:
        return self.tasks.wait(msecs)

    @guarded
    def _done(self, ticket: int, made: tuple[SceneClassifier, list[str]]) -> None:
        classifier, notes = made
        if ticket != self._ticket:
            close_quietly(classifier)
            return
        for note in notes:
            self.warning.emit(note)
        self.loaded.emit(classifier)

    @guarded
    def _fail(self, ticket: int, message: str) -> None:
        if ticket == self._ticket:
            self.failed.emit(message)
