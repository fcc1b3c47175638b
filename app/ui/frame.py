"""The window's frame: its widgets (layout.py), actions, menus and toolbar (actions.py), status
bar and the controllers over them (browsing.py, help.py), made and wired to the window's slots.

Kept apart from window.py so that file says what the window does, this one what it is made of.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.ui import layout
from app.ui.actions import (
    SCENE_ACTIONS,
    ActionId,
    among_photos,
    build_menus,
    build_toolbar,
    check_listing,
    create_actions,
    fill_recent_menu,
    refresh_icons,
)
from app.ui.browsing import Browser
from app.ui.help import HelpDesk
from app.ui.opening import UnreadableFolders
from app.ui.welcome import IntroBar, samples_dir

if TYPE_CHECKING:
    from app.ui.window import MainWindow


def assemble(w: MainWindow) -> None:
    """Build the window's parts onto it; here only the making and the wiring."""
    c = w.central = layout.build_central(w.photos, w.settings, lambda: w.threshold, w.thumbnails)
    w.delegate, w.tabs, w.welcome, w.stack = c.delegate, c.tabs, c.welcome, c.stack
    w.group_proxies, w.group_panes = c.group_proxies, c.group_panes
    w.review_proxy, w.review_pane = c.review_proxy, c.review_pane
    w.error_proxy = c.error_proxy
    for proxy in w.group_proxies.values():
        proxy.drop_requested.connect(w._drop_requested)
    for view in w.views():
        view.assign_requested.connect(partial(w._assign_from_view, view))
        view.activated_record.connect(w._show_preview)
    w.welcome.open_requested.connect(w.open_folder)
    w.welcome.browse_requested.connect(w.choose_folder)
    w.welcome.samples_requested.connect(w.open_samples)
    w.welcome.guide_requested.connect(lambda: w.help.show_guide())
    w.intro = IntroBar()  # the first launch's introduction, over the sample photos
    w.intro.open_requested.connect(w.choose_folder)
    w.intro.guide_requested.connect(lambda: w.help.show_guide())
    w.intro.dismissed.connect(lambda: setattr(w.settings, "introduced", True))
    central = QWidget()
    column = QVBoxLayout(central)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(0)
    column.addWidget(w.intro)
    column.addWidget(w.stack, 1)
    w.setCentralWidget(central)

    docks = layout.build_docks(w, w.thumbnails, w.error_proxy)
    w.preview, w.preview_dock = docks.preview, docks.preview_dock
    w.errors_view, w.errors_dock = docks.errors_view, docks.errors_dock
    w.unreadable = UnreadableFolders(w.loader, docks.folders_view, w.statusBar())
    for signal in (w.errors_view.activated, w.errors_view.clicked):
        signal.connect(lambda index: w._show_preview(w.error_proxy.record_at(index)))

    w.actions = create_actions(w, w.undo_stack)
    a = w.actions
    w.looks.changed.connect(lambda _scheme: refresh_icons(a, w))
    w.open_action, w.samples_action = a[ActionId.OPEN], a[ActionId.SAMPLES]
    w.save_action, w.classify_action = a[ActionId.SAVE], a[ActionId.CLASSIFY]
    w.cancel_action, w.settings_action = a[ActionId.CANCEL], a[ActionId.SETTINGS]
    w.undo_action, w.redo_action = a[ActionId.UNDO], a[ActionId.REDO]
    w.scene_actions = {label: a[action_id] for label, action_id in SCENE_ACTIONS.items()}
    w.samples_action.setEnabled(samples_dir() is not None)
    check_listing(a, w.settings)
    toggles = [w.preview_dock.toggleViewAction(), w.errors_dock.toggleViewAction()]
    recent = w.recent_menu = build_menus(w.menuBar(), a, toggles)
    recent.aboutToShow.connect(lambda: fill_recent_menu(recent, w.settings, w.open_folder))
    w.threshold_box = layout.threshold_box(w.settings.threshold)
    w.threshold_box.valueChanged.connect(w._threshold_changed)
    w.sort_box = layout.sort_box()
    w.sort_box.currentIndexChanged.connect(w._sort_changed)
    extra = [QLabel(" Needs review: "), w.threshold_box, QLabel("  Sort: "), w.sort_box]
    w.addToolBar(build_toolbar(a, extra))
    w.find_box = layout.find_box(w.tabs)  # on the tabs' line, over the lists it filters

    status = layout.build_status(w)
    w.progress, w.cancel_button = status.progress, status.cancel_button
    w.unsaved_label, w.device_label = status.unsaved_label, status.device_label
    w.cancel_button.clicked.connect(w.cancel_scan)
    w.scanner.progress.connect(w.progress.set_progress)
    w.browser = Browser(  # keys that walk the lists, the larger preview, find, sizes
        w.photos, w.group_panes, w.review_pane, w.tabs, w.stack, c.loupe,
        w.find_box, status.size_slider, status.shown_label, w.settings,
        w.assign_selected, w.statusBar().showMessage, lambda: w._active_view, w,
    )  # fmt: skip
    among_photos(a, [w.tabs, c.loupe])
    w.help = HelpDesk(
        w, w.menuBar(), lambda: w.classifier, lambda: w.classifier_error,
        lambda text: w.statusBar().showMessage(text, 6000),
    )  # fmt: skip
