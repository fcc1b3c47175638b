"""The find box on the toolbar: type a name or a scene, or pick a term from its menu, and the
scene groups and "Needs review" show only the photos that match (app.ui.photofilter says what
a query means; the photo model keeps which rows pass).

Ctrl+F comes here; Esc clears the box (a second Esc, or Return or ↓, goes back to the photos).
A query it cannot mean (`is:nothing`) turns the box red and says why, and the lists keep the
last query that worked.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeyEvent
from PySide6.QtWidgets import QLineEdit, QMenu, QStyle, QWidget

from app.model.openset import NONE, OUTCOMES
from app.ui import photofilter
from app.ui.photofilter import ATTRIBUTES, PhotoFilter, QueryError

TYPING_PAUSE_MS = 150  # the lists filter once typing pauses, not at every key


class FindBox(QLineEdit):
    query_changed = Signal(object)  # PhotoFilter
    done = Signal()  # Return, ↓ or a second Esc: back to the photos
    problem = Signal(str)  # a query it cannot mean ("" once it can again)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("find-box")
        self.setPlaceholderText("Find photos (Ctrl+F): name, scene, is:manual…")
        self.setToolTip(photofilter.HELP)
        self.setClearButtonEnabled(True)
        self.setMinimumWidth(320)
        self.query: PhotoFilter = photofilter.NO_FILTER
        self._timer = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._timer.timeout.connect(self.apply)
        self.textChanged.connect(lambda _text: self._timer.start())
        icon = QIcon.fromTheme(
            "edit-find", self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogContentsView)
        )
        self.terms_menu = QMenu(self)
        for name, (meaning, _test) in ATTRIBUTES.items():
            self._term(f"is:{name}", f"Only photos {meaning}  (is:{name})")
        self.terms_menu.addSeparator()
        for scene in OUTCOMES:
            title = "Not a scene" if scene == NONE else scene
            self._term(f"scene:{scene}", f"Only {title}  (scene:{scene})")
        self.terms_menu.addSeparator()
        self.terms_menu.addAction("Show every photo", self.clear)
        menu_action = QAction(icon, "Find terms", self)
        menu_action.setToolTip("Terms you can combine with a name")
        menu_action.triggered.connect(
            lambda: self.terms_menu.popup(self.mapToGlobal(self.rect().bottomLeft()))
        )
        self.addAction(menu_action, QLineEdit.ActionPosition.LeadingPosition)

    def _term(self, term: str, text: str) -> None:
        self.terms_menu.addAction(text, partial(self.add_term, term))

    def add_term(self, term: str) -> None:
        """Add a term from the menu (one of a kind: a new is:/scene: replaces the old one)."""
        kind = term.split(":", 1)[0] + ":"
        words = [w for w in self.text().split() if not w.lstrip("-").startswith(kind)]
        self.setText(" ".join([*words, term]))
        self.apply()
        self.setFocus()

    def apply(self) -> None:
        """Filter by the box's text now (also after the typing pause)."""
        self._timer.stop()
        try:
            query = photofilter.parse(self.text())
        except QueryError as exc:
            self.setStyleSheet("QLineEdit { border: 2px solid #c62828; }")
            self.setToolTip(f"{exc}\n\n{photofilter.HELP}")
            self.problem.emit(str(exc))
            return
        self.setStyleSheet("")
        self.setToolTip(photofilter.HELP)
        self.problem.emit("")
        if query != self.query:
            self.query = query
            self.query_changed.emit(query)

    def event(self, event: QEvent) -> bool:
        # Esc is the window's Cancel Scan shortcut; in this box it clears, then leaves the box
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key == Qt.Key.Key_Escape:
            if self.text():
                self.clear()
                self.apply()
            else:
                self.done.emit()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Down):
            self.apply()
            self.done.emit()
            return
        super().keyPressEvent(event)
