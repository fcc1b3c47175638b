"""The main window's widgets, actions, menus, toolbar and status bar (its behaviour is window.py).

A mixin so that the arrangement of the window can be read, and changed, apart from what the
window does; every slot it connects is a MainWindow method.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QListView,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QWidget,
)

from app.scenes import CLASSES
from app.ui.models import ErrorProxy, ReviewProxy, SceneGroupProxy
from app.ui.preview import PreviewPane
from app.ui.views import GroupPane, PhotoDelegate, PhotoView, ProgressStrip
from app.ui.welcome import WelcomePage, samples_dir


class WindowLayout:
    """Builds the window's parts; mixed into MainWindow (a QMainWindow)."""

    # provided by MainWindow
    photos: Any
    settings: Any
    thumbnails: Any
    undo_stack: Any

    def _make_view(self, proxy: Any, accept_drops: bool) -> PhotoView:
        view = PhotoView(self.delegate, accept_drops)
        view.assign_requested.connect(partial(self._assign_from_view, view))
        view.activated_record.connect(self._show_preview)
        return view

    def _build_central(self) -> None:
        self.delegate = PhotoDelegate(lambda: self.threshold, self)
        self.group_proxies = {c: SceneGroupProxy(self.photos, c, self) for c in CLASSES}
        self.review_proxy = ReviewProxy(self.photos, self)
        self.error_proxy = ErrorProxy(self.photos, self)
        self.group_panes: dict[str, GroupPane] = {}
        grid_page = QWidget()
        grid = QGridLayout(grid_page)
        grid.setContentsMargins(2, 2, 2, 2)
        for n, label in enumerate(CLASSES):
            proxy = self.group_proxies[label]
            proxy.drop_requested.connect(self._drop_requested)
            pane = GroupPane(f"{n + 1}  {label}", proxy, self._make_view(proxy, accept_drops=True))
            self.group_panes[label] = pane
            grid.addWidget(pane, n // 3, n % 3)
        self.review_pane = GroupPane(
            "Needs review", self.review_proxy, self._make_view(self.review_proxy, False)
        )
        self.threshold_box = QDoubleSpinBox()
        self.threshold_box.setRange(0, 100)
        self.threshold_box.setDecimals(0)
        self.threshold_box.setSuffix(" %")
        self.threshold_box.setPrefix("below ")
        self.threshold_box.setValue(round(self.settings.threshold * 100))
        self.threshold_box.setToolTip(
            "Automatic labels below this confidence need review and are not saved"
        )
        self.threshold_box.valueChanged.connect(self._threshold_changed)
        self.tabs = QTabWidget()
        self.tabs.addTab(grid_page, "Scenes")
        self.tabs.addTab(self.review_pane, "Needs review")
        # a photo dragged out of "Needs review" reaches the groups by hovering the Scenes tab
        self.tabs.tabBar().setChangeCurrentOnDrag(True)
        self.tabs.tabBar().setAcceptDrops(True)
        self.welcome = WelcomePage(self.settings)
        self.welcome.open_requested.connect(self._open_from_welcome)
        self.welcome.browse_requested.connect(self.choose_folder)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

    def _build_docks(self) -> None:
        self.preview = PreviewPane(self.thumbnails)
        dock = QDockWidget("Preview", self)
        dock.setObjectName("preview")
        dock.setWidget(self.preview)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.preview_dock = dock
        self.errors_view = QListView()
        self.errors_view.setModel(self.error_proxy)
        self.errors_view.setUniformItemSizes(True)
        self.errors_view.activated.connect(self._error_activated)
        self.errors_view.clicked.connect(self._error_activated)
        dock = QDockWidget("Errors", self)
        dock.setObjectName("errors")
        dock.setWidget(self.errors_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()  # shown as soon as there is an error to list
        self.errors_dock = dock
        self._error_count = 0

    def _action(
        self, text: str, slot: Callable[..., Any], shortcut: Any = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action(
            "&Open Folder…", self.choose_folder, QKeySequence.StandardKey.Open
        )
        self.samples_action = self._action("Open the &Sample Photos", self.open_samples)
        self.samples_action.setEnabled(samples_dir() is not None)
        self.save_action = self._action("&Save Labels", self.save, QKeySequence.StandardKey.Save)
        self.classify_action = self._action("&Classify Remaining", self.start_scan, "F5")
        self.classify_action.setToolTip(
            "Classify photos that have no automatic label yet (or failed)"
        )
        self.cancel_action = self._action("Cancel Scan", self.cancel_scan, "Esc")
        self.settings_action = self._action(
            "Se&ttings…", self.edit_settings, QKeySequence.StandardKey.Preferences
        )
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        self.scene_actions = {}
        for n, label in enumerate(CLASSES, 1):
            self.scene_actions[label] = self._action(
                f"{n}  {label}", partial(self.assign_selected, label), str(n)
            )
        revert = self._action("0  Automatic label", partial(self.assign_selected, None), "0")
        self.recent_menu = None

        menu = self.menuBar().addMenu("&File")
        for a in (self.open_action, self.samples_action):
            menu.addAction(a)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menu.addSeparator()
        menu.addAction(self.save_action)
        menu.addSeparator()
        menu.addAction(quit_action)
        menu = self.menuBar().addMenu("&Edit")
        menu.addAction(self.undo_action)
        menu.addAction(self.redo_action)
        menu.addSeparator()
        menu.addAction(self.settings_action)
        menu = self.menuBar().addMenu("&Scene")
        for a in self.scene_actions.values():
            menu.addAction(a)
        menu.addAction(revert)
        menu = self.menuBar().addMenu("&View")
        menu.addAction(self.preview_dock.toggleViewAction())
        menu.addAction(self.errors_dock.toggleViewAction())
        menu = self.menuBar().addMenu("&Tools")
        menu.addAction(self.classify_action)
        menu.addAction(self.cancel_action)

        bar = QToolBar("Main")
        bar.setObjectName("main-toolbar")
        bar.setIconSize(QSize(16, 16))
        for a in (
            self.open_action,
            self.save_action,
            self.undo_action,
            self.redo_action,
            self.classify_action,
        ):
            bar.addAction(a)
        bar.addSeparator()
        bar.addWidget(QLabel(" Needs review: "))
        bar.addWidget(self.threshold_box)
        bar.addWidget(QLabel("  Sort: "))
        self.sort_box = QComboBox()
        self.sort_box.addItem("by confidence", "confidence")
        self.sort_box.addItem("by name", "name")
        self.sort_box.currentIndexChanged.connect(self._sort_changed)
        bar.addWidget(self.sort_box)
        bar.addSeparator()
        bar.addAction(self.settings_action)
        self.addToolBar(bar)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.progress = ProgressStrip()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.cancel_button.setVisible(False)
        self.unsaved_label = QLabel()
        self.device_label = QLabel("Loading model…")
        for w in (self.progress, self.cancel_button, self.unsaved_label, self.device_label):
            sb.addPermanentWidget(w)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        assert menu is not None
        menu.clear()
        for folder in self.settings.recent_folders:
            menu.addAction(str(folder), partial(self.open_folder, folder))
        if menu.isEmpty():
            menu.addAction("(none)").setEnabled(False)
