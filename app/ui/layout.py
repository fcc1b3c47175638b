"""The main window's widgets, built by plain functions that return what they made.

Each builder takes what it needs and returns a small record of the widgets it created; the
window keeps them and connects their signals to its slots (window.py). Nothing here reads or
writes the window's state, so the arrangement can be read and changed apart from behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QMainWindow,
    QPushButton,
    QSlider,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.model.openset import NONE, OUTCOMES
from app.ui.findbox import FindBox
from app.ui.loupe import Loupe
from app.ui.models import PhotoListModel
from app.ui.preview import PreviewPane
from app.ui.proxies import ErrorProxy, ReviewProxy, SceneGroupProxy
from app.ui.settings import Settings
from app.ui.thumbnails import ThumbnailCache
from app.ui.views import GroupPane, PhotoDelegate, PhotoView, ProgressStrip, outcome_title
from app.ui.welcome import WelcomePage


@dataclass(frozen=True)
class Central:
    """The welcome page; the tabs: six scene groups in a grid, and "Needs review"; the loupe
    (one photo larger, Space)."""

    delegate: PhotoDelegate
    group_proxies: dict[str, SceneGroupProxy]
    group_panes: dict[str, GroupPane]
    review_proxy: ReviewProxy
    review_pane: GroupPane
    error_proxy: ErrorProxy
    tabs: QTabWidget
    welcome: WelcomePage
    stack: QStackedWidget
    loupe: Loupe


def build_central(
    photos: PhotoListModel,
    settings: Settings,
    threshold_of: Callable[[], float],
    thumbnails: ThumbnailCache,
) -> Central:
    stack = QStackedWidget()  # the parent of everything below, so Qt owns their lifetimes
    delegate = PhotoDelegate(threshold_of, stack)
    group_proxies = {c: SceneGroupProxy(photos, c, stack) for c in OUTCOMES}
    grid_page = QWidget()
    grid = QGridLayout(grid_page)
    grid.setContentsMargins(2, 2, 2, 2)
    group_panes: dict[str, GroupPane] = {}
    for n, label in enumerate(OUTCOMES):
        view = PhotoView(delegate, accept_drops=True)
        pane = GroupPane(f"{n + 1}  {outcome_title(label)}", group_proxies[label], view)
        group_panes[label] = pane
        if label == NONE:  # "Not a scene": a strip beside the six, under them
            grid.addWidget(pane, 2, 0, 1, 3)
        else:
            grid.addWidget(pane, n // 3, n % 3)
    grid.setRowStretch(0, 3)
    grid.setRowStretch(1, 3)
    grid.setRowStretch(2, 2)
    review_proxy = ReviewProxy(photos, stack)
    review_pane = GroupPane("Needs review", review_proxy, PhotoView(delegate, accept_drops=False))
    tabs = QTabWidget()
    tabs.addTab(grid_page, "Scenes")
    tabs.addTab(review_pane, "Needs review")
    # a photo dragged out of "Needs review" reaches the groups by hovering the Scenes tab
    tabs.tabBar().setChangeCurrentOnDrag(True)
    tabs.tabBar().setAcceptDrops(True)
    welcome = WelcomePage(settings)
    loupe = Loupe(thumbnails)
    stack.addWidget(welcome)
    stack.addWidget(tabs)
    stack.addWidget(loupe)
    return Central(
        delegate,
        group_proxies,
        group_panes,
        review_proxy,
        review_pane,
        ErrorProxy(photos, stack),
        tabs,
        welcome,
        stack,
        loupe,
    )


def threshold_box(threshold: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0, 100)
    box.setDecimals(0)
    box.setSuffix(" %")
    box.setPrefix("below ")
    box.setValue(round(threshold * 100))
    box.setToolTip("Automatic labels below this confidence need review and are not saved")
    return box


def sort_box() -> QComboBox:
    box = QComboBox()
    box.addItem("by confidence", "confidence")
    box.addItem("by name", "name")
    return box


@dataclass(frozen=True)
class Docks:
    preview: PreviewPane
    preview_dock: QDockWidget
    errors_view: QListView
    errors_dock: QDockWidget
    folders_view: QListWidget  # folders that could not be read, above the photos' errors


def build_docks(window: QMainWindow, thumbnails: ThumbnailCache, error_proxy: ErrorProxy) -> Docks:
    """The preview on the right; the errors list below, hidden until there is an error."""
    preview = PreviewPane(thumbnails)
    preview_dock = QDockWidget("Preview", window)
    preview_dock.setObjectName("preview")
    preview_dock.setWidget(preview)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, preview_dock)
    errors_view = QListView()
    errors_view.setModel(error_proxy)
    errors_view.setUniformItemSizes(True)
    folders_view = QListWidget()
    folders_view.setMaximumHeight(80)
    folders_view.hide()  # until a folder cannot be read
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(folders_view)
    column.addWidget(errors_view)
    errors_dock = QDockWidget("Errors", window)
    errors_dock.setObjectName("errors")
    errors_dock.setWidget(box)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, errors_dock)
    errors_dock.hide()
    return Docks(preview, preview_dock, errors_view, errors_dock, folders_view)


@dataclass(frozen=True)
class StatusParts:
    progress: ProgressStrip
    cancel_button: QPushButton
    shown_label: QLabel  # "Showing 12 of 340 photos" while the find box filters
    unsaved_label: QLabel
    device_label: QLabel
    size_slider: QSlider  # thumbnail size


def build_status(window: QMainWindow) -> StatusParts:
    """Progress (shown while scanning), Cancel, what the find box shows, the unsaved count,
    the device and model, the thumbnail size."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setObjectName("thumbnail-size")
    slider.setFixedWidth(110)
    slider.setAccessibleName("Thumbnail size")
    parts = StatusParts(
        ProgressStrip(),
        QPushButton("Cancel"),
        QLabel(),
        QLabel(),
        QLabel("Loading model…"),
        slider,
    )
    parts.progress.setVisible(False)
    parts.cancel_button.setVisible(False)
    size = QLabel("Size")
    size.setToolTip("Thumbnail size (View ▸ Larger / Smaller Thumbnails: Ctrl++ / Ctrl+-)")
    for w in (
        parts.progress,
        parts.cancel_button,
        parts.shown_label,
        parts.unsaved_label,
        parts.device_label,
        size,
        parts.size_slider,
    ):
        window.statusBar().addPermanentWidget(w)
    return parts


def find_box(tabs: QTabWidget) -> FindBox:
    """The find box, in the top right corner of the tabs (over the lists it filters)."""
    box = FindBox()
    corner = QWidget()
    row = QHBoxLayout(corner)
    row.setContentsMargins(0, 2, 4, 2)
    row.addWidget(box)
    tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
    return box
