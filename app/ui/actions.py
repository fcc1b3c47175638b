"""The window's actions, by name: one table says what each does (text, shortcut, tip, the
window method it runs), one function makes the QActions, others place them in menus and on
the toolbar. The pattern of Picard's `ui/mainwindow/actions.py`: an enum-keyed registry, so a
menu, a test or a shortcut reaches an action by its id instead of a shared attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any

from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar, QWidget

from app.model.scenes import CLASSES


class ActionId(Enum):
    OPEN = "open"
    SAMPLES = "samples"
    SAVE = "save"
    EXPORT_REPORT = "export-report"
    QUIT = "quit"
    UNDO = "undo"
    REDO = "redo"
    SETTINGS = "settings"
    CLASSIFY = "classify"
    CANCEL = "cancel"
    SUBFOLDERS = "subfolders"
    RAW_JPEG = "raw_jpeg"
    LEARN = "learn"
    AUTO_LABEL = "auto-label"
    BUILDINGS = "buildings"
    FOREST = "forest"
    GLACIER = "glacier"
    MOUNTAIN = "mountain"
    SEA = "sea"
    STREET = "street"


SCENE_ACTIONS: dict[str, ActionId] = {c: ActionId(c) for c in CLASSES}
Shortcut = QKeySequence.StandardKey | str | None


@dataclass(frozen=True)
class ActionSpec:
    text: str
    run: Callable[[Any], None]  # called with the window (a checkable one: window, checked)
    shortcut: Shortcut = None
    tip: str = ""
    checkable: bool = False


def _scene(label: str | None) -> Callable[[Any], None]:
    return lambda window: window.assign_selected(label)


REGISTRY: dict[ActionId, ActionSpec] = {
    ActionId.OPEN: ActionSpec(
        "&Open Folder…", lambda w: w.choose_folder(), QKeySequence.StandardKey.Open
    ),
    ActionId.SAMPLES: ActionSpec("Open the &Sample Photos", lambda w: w.open_samples()),
    ActionId.SAVE: ActionSpec("&Save Labels", lambda w: w.save(), QKeySequence.StandardKey.Save),
    ActionId.EXPORT_REPORT: ActionSpec(
        "&Export Report…",
        lambda w: w.reports.export(w.session),
        tip="Write the open folder's labels, confidences, sources and scores as a CSV table "
        "(what `classify --format csv` prints)",
    ),
    ActionId.QUIT: ActionSpec("&Quit", lambda w: w.close(), QKeySequence.StandardKey.Quit),
    ActionId.SETTINGS: ActionSpec(
        "Se&ttings…", lambda w: w.edit_settings(), QKeySequence.StandardKey.Preferences
    ),
    ActionId.CLASSIFY: ActionSpec(
        "&Classify Remaining",
        lambda w: w.start_scan(),
        "F5",
        "Classify photos that have no automatic label yet (or failed)",
    ),
    ActionId.CANCEL: ActionSpec("Cancel Scan", lambda w: w.cancel_scan(), "Esc"),
    ActionId.LEARN: ActionSpec(
        "&Learn from My Corrections",
        lambda w: w.learning.learn(),
        tip="Fit a personal model on the photos labelled by hand, show whether it helps, "
        "offer to re-score the others (app/ui/learning.py)",
    ),
    ActionId.SUBFOLDERS: ActionSpec(
        "Include &Subfolders",
        lambda w, checked: w.set_listing(recursive=checked),
        tip="Open folders with the photos of all their subfolders (reopens the current one)",
        checkable=True,
    ),
    ActionId.RAW_JPEG: ActionSpec(
        "&RAW + JPEG as One Photo",
        lambda w, checked: w.set_listing(raw_jpeg="one" if checked else "separate"),
        tip="Show a camera's RAW + JPEG pair (IMG.CR2 + IMG.JPG) as one photo: the JPEG is "
        "classified, the label goes into both sidecars (reopens the current folder)",
        checkable=True,
    ),
    ActionId.AUTO_LABEL: ActionSpec("0  Automatic label", _scene(None), "0"),
    **{
        SCENE_ACTIONS[label]: ActionSpec(f"{n}  {label}", _scene(label), str(n))
        for n, label in enumerate(CLASSES, 1)
    },
}


def check_listing(actions: dict[ActionId, QAction], settings: Any) -> None:
    """The View menu's listing toggles show the settings (app.ui.settings), silently."""
    for action_id, checked in (
        (ActionId.SUBFOLDERS, settings.recursive),
        (ActionId.RAW_JPEG, settings.raw_jpeg == "one"),
    ):
        with QSignalBlocker(actions[action_id]):
            actions[action_id].setChecked(checked)


def create_actions(window: QWidget, undo_stack: QUndoStack) -> dict[ActionId, QAction]:
    """Every action of the window, parented to it; undo/redo come from the undo stack."""
    actions: dict[ActionId, QAction] = {}
    for action_id, spec in REGISTRY.items():
        action = QAction(spec.text, window)
        action.setObjectName(action_id.value)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        action.setToolTip(spec.tip or spec.text.replace("&", ""))
        action.setCheckable(spec.checkable)
        action.triggered.connect(partial(_run, spec, window, action))
        actions[action_id] = action
    undo = undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
    redo = undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcut(QKeySequence(QKeySequence.StandardKey.Redo))
    actions[ActionId.UNDO], actions[ActionId.REDO] = undo, redo
    return actions


def _run(spec: ActionSpec, window: Any, action: QAction, *_: Any) -> None:
    if spec.checkable:
        spec.run(window, action.isChecked())  # type: ignore[call-arg]
    else:
        spec.run(window)


def build_menus(
    bar: QMenuBar, actions: dict[ActionId, QAction], view_toggles: list[QAction]
) -> QMenu:
    """File, Edit, Scene, View, Tools; returns the (empty) Open Recent menu to fill on show."""
    a = actions
    menu = bar.addMenu("&File")
    menu.addAction(a[ActionId.OPEN])
    menu.addAction(a[ActionId.SAMPLES])
    recent = menu.addMenu("Open &Recent")
    menu.addSeparator()
    menu.addAction(a[ActionId.SAVE])
    menu.addAction(a[ActionId.EXPORT_REPORT])
    menu.addSeparator()
    menu.addAction(a[ActionId.QUIT])
    menu = bar.addMenu("&Edit")
    menu.addAction(a[ActionId.UNDO])
    menu.addAction(a[ActionId.REDO])
    menu.addSeparator()
    menu.addAction(a[ActionId.SETTINGS])
    menu = bar.addMenu("&Scene")
    for label in CLASSES:
        menu.addAction(a[SCENE_ACTIONS[label]])
    menu.addAction(a[ActionId.AUTO_LABEL])
    menu = bar.addMenu("&View")
    menu.addAction(a[ActionId.SUBFOLDERS])
    menu.addAction(a[ActionId.RAW_JPEG])
    menu.addSeparator()
    for toggle in view_toggles:
        menu.addAction(toggle)
    menu = bar.addMenu("&Tools")
    menu.addAction(a[ActionId.CLASSIFY])
    menu.addAction(a[ActionId.CANCEL])
    menu.addAction(a[ActionId.LEARN])
    return recent


def build_toolbar(actions: dict[ActionId, QAction], extra: list[QWidget]) -> QToolBar:
    """Open, Save, Undo, Redo, Classify | the widgets in `extra` | Settings."""
    from PySide6.QtCore import QSize

    bar = QToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setIconSize(QSize(16, 16))
    for action_id in (ActionId.OPEN, ActionId.SAVE, ActionId.UNDO, ActionId.REDO):
        bar.addAction(actions[action_id])
    bar.addAction(actions[ActionId.CLASSIFY])
    bar.addSeparator()
    for widget in extra:
        bar.addWidget(widget)
    bar.addSeparator()
    bar.addAction(actions[ActionId.SETTINGS])
    return bar


def fill_recent_menu(menu: QMenu, settings: Any, open_folder: Callable[[Any], Any]) -> None:
    """File ▸ Open Recent, filled from the settings each time it is about to show."""
    menu.clear()
    for folder in settings.recent_folders:
        menu.addAction(str(folder), partial(open_folder, folder))
    if menu.isEmpty():
        menu.addAction("(none)").setEnabled(False)
