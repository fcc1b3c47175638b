"""The window's actions, by name: one table says what each does (text, shortcut, tip, icon,
the window method it runs), one function makes the QActions, others place them in menus and on
the toolbar. The pattern of Picard's `ui/mainwindow/actions.py`: an enum-keyed registry, so a
menu, a test or a shortcut reaches an action by its id instead of a shared attribute. Help ▸
Keyboard Shortcuts lists what the menus built from it hold, with LIST_KEYS (keys the photo
lists handle themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any

from PySide6.QtCore import QSignalBlocker, QSize, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QPalette,
    QPixmap,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QMenu,
    QMenuBar,
    QStyle,
    QToolBar,
    QToolButton,
    QWidget,
)

from app.model.openset import NONE, OUTCOMES


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
    FIND = "find"
    LOUPE = "loupe"
    SHOW_SCENES = "show-scenes"
    SHOW_REVIEW = "show-review"
    ZOOM_IN = "zoom-in"
    ZOOM_OUT = "zoom-out"
    GUIDE = "guide"
    SHORTCUTS = "shortcuts"
    ABOUT = "about"
    BUILDINGS = "buildings"
    FOREST = "forest"
    GLACIER = "glacier"
    MOUNTAIN = "mountain"
    SEA = "sea"
    STREET = "street"
    NONE = "none"  # "Not a scene" (app.model.openset.NONE)


SCENE_ACTIONS: dict[str, ActionId] = {c: ActionId(c) for c in OUTCOMES}
Shortcut = QKeySequence.StandardKey | str | None
SP = QStyle.StandardPixmap
Icon = tuple[str, QStyle.StandardPixmap]  # a freedesktop theme icon, the style's stand-in


@dataclass(frozen=True)
class ActionSpec:
    text: str
    run: Callable[[Any], None]  # called with the window (a checkable one: window, checked)
    shortcut: Shortcut = None
    tip: str = ""
    checkable: bool = False
    icon: Icon | None = None
    # The shortcut works only among the photos (the lists, the larger preview), so the same key
    # still presses a focused button or types into a text box (Space).
    among_photos: bool = False


def _scene(label: str | None) -> Callable[[Any], None]:
    return lambda window: window.assign_selected(label)


REGISTRY: dict[ActionId, ActionSpec] = {
    ActionId.OPEN: ActionSpec(
        "&Open Folder…",
        lambda w: w.choose_folder(),
        QKeySequence.StandardKey.Open,
        icon=("document-open", SP.SP_DialogOpenButton),
    ),
    ActionId.SAMPLES: ActionSpec("Open the &Sample Photos", lambda w: w.open_samples()),
    ActionId.SAVE: ActionSpec(
        "&Save Labels",
        lambda w: w.save(),
        QKeySequence.StandardKey.Save,
        "Write the labels into the photos' XMP sidecars",
        icon=("document-save", SP.SP_DialogSaveButton),
    ),
    ActionId.EXPORT_REPORT: ActionSpec(
        "&Export Report…",
        lambda w: w.reports.export(w.session),
        tip="Write the open folder's labels, confidences, sources and scores as a CSV table "
        "(what `classify --format csv` prints)",
        icon=("document-export", SP.SP_FileIcon),
    ),
    ActionId.QUIT: ActionSpec(
        "&Quit",
        lambda w: w.close(),
        QKeySequence.StandardKey.Quit,
        icon=("application-exit", SP.SP_DialogCloseButton),
    ),
    ActionId.SETTINGS: ActionSpec(
        "Se&ttings…",
        lambda w: w.edit_settings(),
        "Ctrl+,",  # Qt's Preferences key is unbound on Linux; GNOME and macOS (⌘,) use this
        icon=("preferences-system", SP.SP_FileDialogDetailedView),
    ),
    ActionId.CLASSIFY: ActionSpec(
        "&Classify Remaining",
        lambda w: w.start_scan(),
        "F5",
        "Classify photos that have no automatic label yet (or failed)",
        icon=("view-refresh", SP.SP_BrowserReload),
    ),
    ActionId.CANCEL: ActionSpec(
        "Cancel Scan",
        lambda w: w.cancel_scan(),
        "Esc",
        icon=("process-stop", SP.SP_BrowserStop),
    ),
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
    ActionId.AUTO_LABEL: ActionSpec(
        "0  Automatic label",
        _scene(None),
        "0",
        "Give the selected photos back to the model, then go on to the next photo",
    ),
    **{
        SCENE_ACTIONS[label]: ActionSpec(
            f"{n}  {'Not a scene' if label == NONE else label}",
            _scene(label),
            str(n),
            f"Label the selected photos {'Not a scene' if label == NONE else label}, then go on "
            "to the next photo",
        )
        for n, label in enumerate(OUTCOMES, 1)
    },
    ActionId.FIND: ActionSpec(
        "&Find Photos…",
        lambda w: w.browser.focus_find(),
        QKeySequence.StandardKey.Find,
        "Show only the photos whose name or scene matches (is:manual, is:review…)",
        icon=("edit-find", SP.SP_FileDialogContentsView),
    ),
    ActionId.LOUPE: ActionSpec(
        "&Larger Preview",
        lambda w: w.browser.toggle_loupe(),
        "Space",
        "The current photo as large as the window allows (Space again: back to the grid)",
        icon=("zoom-in", SP.SP_TitleBarMaxButton),
        among_photos=True,
    ),
    ActionId.SHOW_SCENES: ActionSpec(
        "Scene &Groups", lambda w: w.browser.show_list(0), "Ctrl+1", "The six scene groups"
    ),
    ActionId.SHOW_REVIEW: ActionSpec(
        "Needs &Review",
        lambda w: w.browser.show_list(1),
        "Ctrl+2",
        "The photos the model is unsure about, the first one selected: press 1–7 to work "
        "through them",
    ),
    ActionId.ZOOM_IN: ActionSpec(
        "L&arger Thumbnails", lambda w: w.browser.zoom(1), QKeySequence.StandardKey.ZoomIn
    ),
    ActionId.ZOOM_OUT: ActionSpec(
        "S&maller Thumbnails", lambda w: w.browser.zoom(-1), QKeySequence.StandardKey.ZoomOut
    ),
    ActionId.GUIDE: ActionSpec(
        "&User's Guide",
        lambda w: w.help.show_guide(),
        QKeySequence.StandardKey.HelpContents,
        icon=("help-contents", SP.SP_MessageBoxQuestion),
    ),
    ActionId.SHORTCUTS: ActionSpec(
        "&Keyboard Shortcuts", lambda w: w.help.show_shortcuts(), "Ctrl+/"
    ),
    ActionId.ABOUT: ActionSpec(
        "&About Scene Tagger",
        lambda w: w.help.show_about(),
        icon=("help-about", SP.SP_MessageBoxInformation),
    ),
}

# Keys the photo lists and the larger preview handle themselves (Qt's list view, loupe.py,
# findbox.py): not actions, listed beside them in Help ▸ Keyboard Shortcuts.
LIST_KEYS: tuple[tuple[str, str], ...] = (
    ("← → ↑ ↓", "The next photo in that direction (with Shift: extend the selection)"),
    ("Home, End", "The first, the last photo of the list"),
    ("Ctrl+A", "Select every photo of the list"),
    ("Ctrl+click, Shift+click", "Add a photo, a run of photos to the selection"),
    ("Double click", "The photo larger (as Space)"),
    ("Drag onto a group", "Give the dragged photos that scene (from Needs review: via the tab)"),
    ("Tab", "The next group"),
    ("← → (larger preview)", "The previous, the next photo of the list"),
    ("Esc, Return (larger preview)", "Back to the grid"),
    ("Esc (find box)", "Clear it; again: back to the photos"),
)


# Stand-ins drawn as black ink (Fusion's arrows, window buttons, lists): inked in the palette's
# text colour, so they show on a dark ground too. The others are in colour.
MONOCHROME = {
    SP.SP_ArrowBack,
    SP.SP_ArrowForward,
    SP.SP_TitleBarMaxButton,
    SP.SP_FileDialogDetailedView,
    SP.SP_FileDialogContentsView,
    SP.SP_DialogCloseButton,
}


def theme_icon(icon: Icon, style: QStyle, palette: QPalette | None = None) -> QIcon:
    """The desktop theme's icon, else the style's stand-in (so icons show without a theme)."""
    name, fallback = icon
    if QIcon.hasThemeIcon(name):
        return QIcon.fromTheme(name)
    standard = style.standardIcon(fallback)
    if palette is None or fallback not in MONOCHROME:
        return standard
    return inked(standard, palette.color(QPalette.ColorRole.WindowText))


def inked(icon: QIcon, color: QColor, sides: tuple[int, ...] = (16, 20, 24)) -> QIcon:
    """`icon` read as ink on paper, redrawn in `color`: the darker a pixel, the more of
    `color` (white and transparent pixels stay clear); disabled: the same, faint."""
    out = QIcon()
    for side in sides:
        source = icon.pixmap(side, side).toImage()
        if source.isNull():
            continue
        source = source.convertToFormat(QImage.Format.Format_ARGB32)
        for mode, strength in ((QIcon.Mode.Normal, 1.0), (QIcon.Mode.Disabled, 0.35)):
            image = QImage(source.size(), QImage.Format.Format_ARGB32)
            for y in range(source.height()):
                for x in range(source.width()):
                    pixel = source.pixelColor(x, y)
                    ink = pixel.alphaF() * (1.0 - pixel.lightnessF()) * strength
                    c = QColor(color)
                    c.setAlphaF(min(1.0, ink))
                    image.setPixelColor(x, y, c)
            out.addPixmap(QPixmap.fromImage(image), mode)
    return out


UNDO_ICONS = {
    ActionId.UNDO: ("edit-undo", SP.SP_ArrowBack),
    ActionId.REDO: ("edit-redo", SP.SP_ArrowForward),
}


def refresh_icons(actions: dict[ActionId, QAction], widget: QWidget) -> None:
    """Every action's icon again, for the widget's style and the application's palette (light
    or dark now: a widget's own palette may not have heard of a change yet)."""
    style, palette = widget.style(), QGuiApplication.palette()
    for action_id, spec in REGISTRY.items():
        if spec.icon is not None:
            actions[action_id].setIcon(theme_icon(spec.icon, style, palette))
    for action_id, icon in UNDO_ICONS.items():
        actions[action_id].setIcon(theme_icon(icon, style, palette))


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
        if spec.among_photos:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setToolTip(spec.tip or spec.text.replace("&", ""))
        action.setCheckable(spec.checkable)
        action.triggered.connect(partial(_run, spec, window, action))
        actions[action_id] = action
    undo = undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
    undo.setProperty("label", "&Undo")  # its text names the step: "Undo Mark 1 photo as sea"
    redo = undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcut(QKeySequence(QKeySequence.StandardKey.Redo))
    redo.setProperty("label", "&Redo")
    actions[ActionId.UNDO], actions[ActionId.REDO] = undo, redo
    refresh_icons(actions, window)
    return actions


def among_photos(actions: dict[ActionId, QAction], widgets: list[QWidget]) -> None:
    """Give the actions whose shortcut works only among the photos to those widgets."""
    for action_id, spec in REGISTRY.items():
        if spec.among_photos:
            for widget in widgets:
                widget.addAction(actions[action_id])


def _run(spec: ActionSpec, window: Any, action: QAction, *_: Any) -> None:
    if spec.checkable:
        spec.run(window, action.isChecked())  # type: ignore[call-arg]
    else:
        spec.run(window)


def build_menus(
    bar: QMenuBar, actions: dict[ActionId, QAction], view_toggles: list[QAction]
) -> QMenu:
    """File, Edit, Scene, View, Tools, Help; returns the (empty) Open Recent menu to fill on
    show."""
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
    menu.addAction(a[ActionId.FIND])
    menu.addSeparator()
    menu.addAction(a[ActionId.SETTINGS])
    menu = bar.addMenu("&Scene")
    for label in OUTCOMES:
        if label == NONE:
            menu.addSeparator()
        menu.addAction(a[SCENE_ACTIONS[label]])
    menu.addAction(a[ActionId.AUTO_LABEL])
    menu = bar.addMenu("&View")
    for action_id in (ActionId.SHOW_SCENES, ActionId.SHOW_REVIEW, ActionId.LOUPE):
        menu.addAction(a[action_id])
    menu.addSeparator()
    menu.addAction(a[ActionId.ZOOM_IN])
    menu.addAction(a[ActionId.ZOOM_OUT])
    menu.addSeparator()
    menu.addAction(a[ActionId.SUBFOLDERS])
    menu.addAction(a[ActionId.RAW_JPEG])
    menu.addSeparator()
    for toggle in view_toggles:
        menu.addAction(toggle)
    menu = bar.addMenu("&Tools")
    menu.addAction(a[ActionId.CLASSIFY])
    menu.addAction(a[ActionId.CANCEL])
    menu.addAction(a[ActionId.LEARN])
    menu = bar.addMenu("&Help")
    for action_id in (ActionId.GUIDE, ActionId.SHORTCUTS, ActionId.ABOUT):
        menu.addAction(a[action_id])
    return recent


def build_toolbar(actions: dict[ActionId, QAction], extra: list[QWidget]) -> QToolBar:
    """Open, Save, Undo, Redo, Classify, Larger Preview | the widgets in `extra` | Settings,
    Help."""
    bar = QToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setIconSize(QSize(20, 20))
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for action_id in (ActionId.OPEN, ActionId.SAVE, ActionId.UNDO, ActionId.REDO):
        bar.addAction(actions[action_id])
    bar.addAction(actions[ActionId.CLASSIFY])
    bar.addAction(actions[ActionId.LOUPE])
    bar.addSeparator()
    for widget in extra:
        bar.addWidget(widget)
    bar.addSeparator()
    bar.addAction(actions[ActionId.SETTINGS])
    bar.addAction(actions[ActionId.GUIDE])
    # icons alone (their tooltips name them): "?" as everywhere; Undo and Redo, whose text
    # names the step ("Undo Mark 1 photo as sea") and would make the toolbar jump
    for action_id in (ActionId.GUIDE, ActionId.UNDO, ActionId.REDO):
        button = bar.widgetForAction(actions[action_id])
        if isinstance(button, QToolButton):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    return bar


def fill_recent_menu(menu: QMenu, settings: Any, open_folder: Callable[[Any], Any]) -> None:
    """File ▸ Open Recent, filled from the settings each time it is about to show."""
    menu.clear()
    for folder in settings.recent_folders:
        menu.addAction(str(folder), partial(open_folder, folder))
    if menu.isEmpty():
        menu.addAction("(none)").setEnabled(False)
