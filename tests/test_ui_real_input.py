"""The window driven the way a person drives it: mouse and key events on the real widgets, on a
real X server (Qt's xcb platform under Xvfb), so drags go through Qt's platform drag and drop.

The offscreen platform cannot prove a drag works (the model's mime API never touches the
viewport that must accept the drop), so this file runs only under xcb; `.ci/run` runs it as
its own pytest session under Xvfb:

    xvfb-run -a env QT_QPA_PLATFORM=xcb python -m pytest tests/test_ui_real_input.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from app.model.scenes import CLASSES
from app.tagging.session import Session
from app.ui.views import PhotoView
from app.ui.window import MainWindow
from tests.uikit import open_and_scan

pytestmark = pytest.mark.skipif(
    os.environ.get("QT_QPA_PLATFORM") != "xcb" or not os.environ.get("DISPLAY"),
    reason="needs a real X display: .ci/run runs this file under Xvfb with QT_QPA_PLATFORM=xcb",
)

LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier


def item_center(view: PhotoView, rid: int) -> QPoint:
    """Where the photo with record id `rid` is drawn in the view's viewport."""
    proxy = view.model()
    index = proxy.mapFromSource(proxy.sourceModel().index(rid))
    assert index.isValid(), f"photo {rid} is not in this view"
    view.scrollTo(index)
    return view.visualRect(index).center()


def empty_spot(view: PhotoView) -> QPoint:
    """A point of the viewport below the last cell (an empty group: its middle)."""
    vp = view.viewport()
    return QPoint(vp.width() // 2, vp.height() - 10)


def mouse_drag(
    qtbot: Any,
    source: QWidget,
    start: QPoint,
    target: QWidget | Callable[[], QWidget],
    end: QPoint | Callable[[], QPoint],
    *,
    via: list[tuple[QWidget, QPoint]] | None = None,
    steps: int = 10,
) -> None:
    """Press on `source` at `start`, move past the drag distance, travel in `steps` to `end` on
    `target` (passing over each widget/point of `via` first, pausing there), release.

    Once the drag starts, QDrag.exec() runs its own event loop inside the move event, so the
    rest of the gesture is sent from a timer inside that loop, as the X server's events
    would arrive; the moves and the release are ordinary mouse events, routed by Qt's xcb
    drag to the window under the pointer."""
    done: list[bool] = []

    def travel(widget: QWidget, point: QPoint) -> None:
        origin = widget.mapFromGlobal(source.mapToGlobal(start))
        for i in range(1, steps + 1):
            p = origin + (point - origin) * i / steps
            QTest.mouseMove(widget, QPoint(round(p.x()), round(p.y())), 15)

    def finish() -> None:
        for widget, point in via or []:
            travel(widget, point)
            QTest.qWait(600)  # hover: a tab switches, a view scrolls
        goal = target() if callable(target) else target
        point = end() if callable(end) else end
        travel(goal, point)
        QTest.qWait(50)
        QTest.mouseRelease(goal, LEFT, NO_MOD, point, 20)
        done.append(True)

    QTest.mousePress(source, LEFT, NO_MOD, start, 20)
    QTimer.singleShot(100, finish)
    drag_distance = QApplication.startDragDistance() + 4
    for i in range(1, 5):  # past the drag distance: the drag starts in one of these moves
        QTest.mouseMove(source, start + QPoint(drag_distance * i // 4, drag_distance * i // 4), 15)
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    qtbot.wait(50)


def scanned_window(qtbot: Any, make_window: Any, folder: Path) -> tuple[MainWindow, Session]:
    win = make_window()
    win.resize(1300, 850)
    win.raise_()
    win.activateWindow()
    qtbot.waitExposed(win)
    open_and_scan(qtbot, win, folder)
    assert win.session is not None
    return win, win.session


def pick_groups(session: Session) -> tuple[str, list[int], str]:
    """The fullest group, its photos, and a group with no photos (there is one: 6 photos, and
    the tiny model never spreads them over all six scenes... if it does, any other group)."""
    by_label: dict[str, list[int]] = {c: [] for c in CLASSES}
    for r in session.records:
        assert r.label is not None
        by_label[r.label].append(r.id)
    source = max(CLASSES, key=lambda c: len(by_label[c]))
    empty = [c for c in CLASSES if not by_label[c]]
    target = empty[0] if empty else next(c for c in CLASSES if c != source)
    return source, by_label[source], target


def test_mouse_drag_moves_one_photo_to_another_group_and_undo_redo(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win, session = scanned_window(qtbot, make_window, photo_folder)
    source, ids, target = pick_groups(session)
    rid = ids[0]
    src_view, dst_view = win.group_panes[source].view, win.group_panes[target].view
    before_target = win.group_count(target)
    mouse_drag(
        qtbot,
        src_view.viewport(),
        item_center(src_view, rid),
        dst_view.viewport(),
        empty_spot(dst_view),
    )
    record = session.records[rid]
    assert (record.label, record.source) == (target, "manual")
    assert win.group_count(target) == before_target + 1
    assert win.undo_stack.count() == 1
    assert win.undo_action.isEnabled() and "1 photo" in win.undo_action.text()
    win.undo_action.trigger()
    assert (record.label, record.source) == (source, "auto")
    win.redo_action.trigger()
    assert (record.label, record.source) == (target, "manual")


def test_mouse_drag_of_a_multi_selection_onto_another_photo(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    from tests.conftest import make_photo

    folder = tmp_path / "many"
    for i in range(12):
        make_photo(folder / f"P{i:02d}.jpg", seed=i)
    win, session = scanned_window(qtbot, make_window, folder)
    by_label: dict[str, list[int]] = {}
    for r in session.records:
        by_label.setdefault(r.label or "", []).append(r.id)
    groups = sorted(by_label, key=lambda c: -len(by_label[c]))
    if len(groups) < 2 or len(by_label[groups[0]]) < 3:
        # the random model put (nearly) everything in one group: give one photo another scene
        win.assign([by_label[groups[0]][-1]], next(c for c in CLASSES if c != groups[0]))
        by_label = {}
        for r in session.records:
            by_label.setdefault(r.label or "", []).append(r.id)
        groups = sorted(by_label, key=lambda c: -len(by_label[c]))
    source, target = groups[0], groups[1]
    moving = by_label[source][:3]
    anchor = by_label[target][0]
    src_view, dst_view = win.group_panes[source].view, win.group_panes[target].view
    src_view.setFocus()
    # Ctrl+click builds the selection, as a person does
    first = item_center(src_view, moving[0])
    QTest.mouseClick(src_view.viewport(), LEFT, NO_MOD, first)
    for rid in moving[1:]:
        QTest.mouseClick(
            src_view.viewport(),
            LEFT,
            Qt.KeyboardModifier.ControlModifier,
            item_center(src_view, rid),
        )
    assert sorted(src_view.selected_ids()) == sorted(moving)
    undo_before = win.undo_stack.count()
    mouse_drag(
        qtbot,
        src_view.viewport(),
        item_center(src_view, moving[1]),
        dst_view.viewport(),
        lambda: item_center(dst_view, anchor),
    )
    for rid in moving:
        assert (session.records[rid].label, session.records[rid].source) == (target, "manual")
    assert session.records[anchor].label == target  # the photo dropped on keeps its label
    assert win.undo_stack.count() == undo_before + 1  # one drag, one undo step
    win.undo_stack.undo()
    assert all(session.records[rid].label == source for rid in moving)


def test_mouse_drag_out_of_needs_review_onto_a_group(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win, session = scanned_window(qtbot, make_window, photo_folder)
    win.threshold_box.setValue(100)  # every automatic label needs review now
    win.tabs.setCurrentWidget(win.review_pane)
    qtbot.waitUntil(lambda: win.review_pane.view.isVisible())
    review = win.review_pane.view
    rid = session.records[0].id
    target = next(c for c in CLASSES if c != session.records[0].label)
    tab_bar = win.tabs.tabBar()
    scenes_tab = tab_bar.tabRect(0).center()
    dst_view = win.group_panes[target].view
    mouse_drag(
        qtbot,
        review.viewport(),
        item_center(review, rid),
        lambda: dst_view.viewport(),
        lambda: empty_spot(dst_view),
        via=[(tab_bar, scenes_tab)],  # hovering the "Scenes" tab brings the groups up
    )
    assert win.tabs.currentIndex() == 0
    record = session.records[rid]
    assert (record.label, record.source) == (target, "manual")
    assert win.review_proxy.rowCount() == len(session) - 1  # a manual label needs no review


def test_selecting_a_photo_does_not_move_the_groups(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    from tests.conftest import make_photo

    # a long name and a big photo: the preview's title and image must not widen the dock
    make_photo(
        photo_folder / ("IMG_20240817_a_very_long_file_name_from_a_phone_" * 2 + ".jpg"),
        size=(1600, 1200),
        seed=9,
    )
    win, session = scanned_window(qtbot, make_window, photo_folder)
    source, ids, _ = pick_groups(session)
    ids = sorted(ids, key=lambda i: -len(session.records[i].name))
    view = win.group_panes[source].view
    panes = list(win.group_panes.values())
    before = [p.geometry() for p in panes]
    QTest.mouseClick(view.viewport(), LEFT, NO_MOD, item_center(view, ids[0]))
    qtbot.wait(200)  # let the preview load its image and any relayout happen
    assert win.preview.record is session.records[ids[0]]
    assert [p.geometry() for p in panes] == before


def test_scene_keys_on_the_view_and_the_scene_menu(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win, session = scanned_window(qtbot, make_window, photo_folder)
    source, ids, _ = pick_groups(session)
    view = win.group_panes[source].view
    QTest.mouseClick(view.viewport(), LEFT, NO_MOD, item_center(view, ids[0]))
    QTest.keyClick(view, Qt.Key.Key_5)
    assert (session.records[ids[0]].label, session.records[ids[0]].source) == ("sea", "manual")
    sea_view = win.group_panes["sea"].view
    QTest.mouseClick(sea_view.viewport(), LEFT, NO_MOD, item_center(sea_view, ids[0]))
    QTest.keyClick(sea_view, Qt.Key.Key_0)
    assert session.records[ids[0]].source == "auto"
    # Ctrl+Z through the window's shortcut, as typed
    QTest.keyClick(sea_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.records[ids[0]].label == "sea"


def xdotool_drag(qtbot: Any, start: QPoint, end: QPoint, steps: int = 30) -> None:
    """A drag made by the X server itself (xdotool moves the real pointer), while this
    process's event loop runs: the closest thing to a person's hand in CI."""
    import subprocess

    args = ["xdotool", "mousemove", str(start.x()), str(start.y()), "mousedown", "1"]
    for i in range(1, steps + 1):
        x = start.x() + (end.x() - start.x()) * i // steps
        y = start.y() + (end.y() - start.y()) * i // steps
        args += ["sleep", "0.04", "mousemove", str(x), str(y)]
    args += ["sleep", "0.3", "mouseup", "1"]
    proc = subprocess.Popen(args)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20_000)
    assert proc.returncode == 0
    qtbot.wait(300)


@pytest.mark.skipif(
    not (__import__("shutil").which("xdotool") and __import__("shutil").which("exiftool")),
    reason="needs xdotool and exiftool (apt-get install xdotool libimage-exiftool-perl)",
)
def test_smoke_bundled_model_real_mouse_undo_redo_save_exiftool(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    """Open the samples, classify with the bundled model, drag one photo with the real X
    pointer to another group, undo, redo, save, and read the sidecar back with exiftool."""
    import json
    import shutil
    import subprocess

    from app.model.scenes import resources_dir
    from app.ui.window import default_classifier_factory

    folder = tmp_path / "samples"
    shutil.copytree(resources_dir() / "samples", folder)
    win = make_window(factory=default_classifier_factory)
    win.move(0, 0)
    win.resize(1300, 850)
    win.raise_()
    win.activateWindow()
    qtbot.waitExposed(win)
    open_and_scan(qtbot, win, folder)
    session = win.session
    assert session is not None and len(session) == 12
    photo = next(r for r in session.records if r.name.startswith("glacier"))
    assert photo.label == "glacier"  # the bundled model gets the samples right
    src_view, dst_view = win.group_panes["glacier"].view, win.group_panes["sea"].view
    start = src_view.viewport().mapToGlobal(item_center(src_view, photo.id))
    end = dst_view.viewport().mapToGlobal(empty_spot(dst_view))
    xdotool_drag(qtbot, start, end)
    assert (photo.label, photo.source) == ("sea", "manual")
    assert win.undo_action.isEnabled()
    win.undo_action.trigger()
    assert (photo.label, photo.source) == ("glacier", "auto")
    win.redo_action.trigger()
    assert (photo.label, photo.source) == ("sea", "manual")
    with qtbot.waitSignal(win.saved, timeout=30_000):
        win.save_action.trigger()
    assert win.dirty_count() == 0
    sidecar_file = folder / f"{photo.name}.xmp"
    out = subprocess.run(
        ["exiftool", "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", str(sidecar_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tags = json.loads(out)[0]
    subjects = tags["Subject"] if isinstance(tags["Subject"], list) else [tags["Subject"]]
    hierarchy = tags["HierarchicalSubject"]
    hierarchy = hierarchy if isinstance(hierarchy, list) else [hierarchy]
    assert "sea" in subjects and "glacier" not in subjects
    assert "Scene|sea" in hierarchy


def test_toolbar_and_menu_clicked_with_the_mouse(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win, session = scanned_window(qtbot, make_window, photo_folder)
    source, ids, _ = pick_groups(session)
    view = win.group_panes[source].view
    QTest.mouseClick(view.viewport(), LEFT, NO_MOD, item_center(view, ids[0]))
    # Scene ▸ "2  forest" from the menu bar, clicked
    bar = win.menuBar()
    scene_menu = next(a for a in bar.actions() if a.text() == "&Scene")
    QTest.mouseClick(bar, LEFT, NO_MOD, bar.actionGeometry(scene_menu).center())
    menu = scene_menu.menu()
    qtbot.waitUntil(menu.isVisible)
    forest = win.scene_actions["forest"]
    QTest.mouseClick(menu, LEFT, NO_MOD, menu.actionGeometry(forest).center())
    qtbot.waitUntil(lambda: not menu.isVisible())
    assert (session.records[ids[0]].label, session.records[ids[0]].source) == ("forest", "manual")
    # the toolbar's Undo and Save buttons, clicked
    toolbar = win.findChild(type(win.addToolBar("probe")), "main-toolbar")
    QTest.mouseClick(toolbar.widgetForAction(win.undo_action), LEFT)
    assert session.records[ids[0]].source == "auto"
    QTest.mouseClick(toolbar.widgetForAction(win.redo_action), LEFT)
    with qtbot.waitSignal(win.saved, timeout=10_000):
        QTest.mouseClick(toolbar.widgetForAction(win.save_action), LEFT)
    assert (photo_folder / f"{session.records[ids[0]].name}.xmp").is_file()


def test_threshold_box_and_sort_order_by_hand(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win, session = scanned_window(qtbot, make_window, photo_folder)
    box = win.threshold_box
    QTest.mouseDClick(box.lineEdit(), LEFT)
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(box.lineEdit(), "100")
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert win.session is not None and win.session.threshold == 1.0
    assert win.review_proxy.rowCount() == len(session)
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Down)  # the arrow key steps the box: 99 %
    assert box.value() == 99 and win.settings.threshold == pytest.approx(0.99)
    assert win.undo_stack.count() == 0  # digits typed there were not scene keys
    # sort: open the combo with the mouse, pick "by name" from its list
    combo = win.sort_box
    QTest.mouseClick(combo, LEFT)
    popup = combo.view()
    qtbot.waitUntil(popup.isVisible)
    qtbot.wait(QApplication.doubleClickInterval() + 100)  # a combo ignores an instant click
    by_name = combo.findData("name")
    rect = popup.visualRect(popup.model().index(by_name, 0))
    QTest.mouseClick(popup.viewport(), LEFT, NO_MOD, rect.center())
    qtbot.waitUntil(lambda: combo.currentData() == "name")
    source, ids, _ = pick_groups(session)
    proxy = win.group_proxies[source]
    shown = [proxy.data(proxy.index(row, 0)) for row in range(proxy.rowCount())]
    assert shown == sorted(shown, key=str.lower) and len(shown) == len(ids)


def test_a_folder_dragged_from_a_file_manager_opens(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    """A drag that carries a folder's URL (as a file manager's does) dropped on the groups."""
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDrag
    from PySide6.QtWidgets import QLabel

    class FileManager(QLabel):
        def mouseMoveEvent(self, event: Any) -> None:
            if event.buttons() & LEFT:
                data = QMimeData()
                data.setUrls([QUrl.fromLocalFile(str(photo_folder))])
                drag = QDrag(self)
                drag.setMimeData(data)
                drag.exec(Qt.DropAction.CopyAction)

    win = make_window()
    win.move(0, 0)
    win.resize(1000, 700)
    qtbot.waitExposed(win)
    other = FileManager("photos/")
    qtbot.addWidget(other)
    other.setGeometry(1100, 100, 200, 100)
    other.show()
    qtbot.waitExposed(other)
    target = win.stack.currentWidget()
    with qtbot.waitSignal(win.folder_opened, timeout=30_000):
        mouse_drag(qtbot, other, QPoint(50, 50), target, target.rect().center())
    assert win.session is not None and win.session.folder == photo_folder


def test_mouse_drag_into_not_a_scene_marks_it_by_hand_and_undo(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    """Issue 25: the "Not a scene" group takes drops like the six; the photo becomes a manual
    "none" (no keyword, our namespace only), one undo step takes it back."""
    from app.model.openset import NONE

    win, session = scanned_window(qtbot, make_window, photo_folder)
    source, ids, _ = pick_groups(session)
    rid = ids[0]
    src_view, dst_view = win.group_panes[source].view, win.group_panes[NONE].view
    before = win.group_count(NONE)
    mouse_drag(
        qtbot,
        src_view.viewport(),
        item_center(src_view, rid),
        dst_view.viewport(),
        empty_spot(dst_view),
    )
    record = session.records[rid]
    assert (record.label, record.source) == (NONE, "manual")
    assert win.group_count(NONE) == before + 1
    win.undo_action.trigger()
    assert (record.label, record.source) == (source, "auto")
