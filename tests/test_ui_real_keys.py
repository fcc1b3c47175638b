"""The keyboard review flow and the find box, typed on a real X server (Xvfb, Qt's xcb
platform) by xdotool: key events made by the X server, as a person's keyboard makes them.

    xvfb-run -a env QT_QPA_PLATFORM=xcb python -m pytest tests/test_ui_real_keys.py

`.ci/run` runs it with tests/test_ui_real_input.py; offscreen it is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.ui.window import MainWindow
from tests.conftest import make_photo
from tests.test_ui_real_input import scanned_window

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("QT_QPA_PLATFORM") != "xcb" or not os.environ.get("DISPLAY"),
        reason="needs a real X display: .ci/run runs this file under Xvfb with QT_QPA_PLATFORM=xcb",
    ),
    pytest.mark.skipif(
        not shutil.which("xdotool"), reason="needs xdotool (apt-get install xdotool)"
    ),
]


def xdotool(qtbot: Any, *args: str) -> None:
    """Run xdotool while this process's event loop keeps running (it delivers the keys)."""
    proc = subprocess.Popen(["xdotool", *args])
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=20_000)
    assert proc.returncode == 0, f"xdotool {' '.join(args)} failed"
    qtbot.wait(150)


def focus_window(qtbot: Any, win: MainWindow) -> None:
    """Give the window the X input focus (there is no window manager on Xvfb to do it)."""
    win.raise_()
    win.activateWindow()
    xdotool(qtbot, "windowfocus", "--sync", str(int(win.winId())))
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)


def press(qtbot: Any, *keys: str) -> None:
    """Keys typed on the X keyboard (xdotool names: 5, Right, space, ctrl+2, Escape)."""
    xdotool(qtbot, "key", "--delay", "120", *keys)


def review_window(qtbot: Any, make_window: Any, folder: Path) -> MainWindow:
    win, _session = scanned_window(qtbot, make_window, folder)
    win.threshold_box.setValue(100)  # every automatic label needs review: the queue is full
    focus_window(qtbot, win)
    return win


def test_keys_walk_the_needs_review_queue(qtbot: Any, make_window: Any, photo_folder: Path) -> None:
    win = review_window(qtbot, make_window, photo_folder)
    session = win.session
    assert session is not None and win.review_proxy.rowCount() == 6
    press(qtbot, "ctrl+2")  # View ▸ Needs Review: the list, its first photo selected
    review = win.review_pane.view
    assert win.tabs.currentIndex() == 1 and review.hasFocus()
    queue = [win.review_proxy.id_at(row) for row in range(6)]
    assert review.selected_ids() == [queue[0]]
    press(qtbot, "5")
    assert (session.records[queue[0]].label, session.records[queue[0]].source) == ("sea", "manual")
    # the next photo is the current, selected one: the next key acts on it
    assert review.selected_ids() == [queue[1]]
    assert win.preview.record is session.records[queue[1]]
    press(qtbot, "2", "1")
    assert session.records[queue[1]].label == "forest"
    assert session.records[queue[2]].label == "buildings"
    assert review.selected_ids() == [queue[3]]
    assert win.review_proxy.rowCount() == 3
    # an arrow key moves; 0 leaves a photo to the model, which keeps it in review: next photo
    press(qtbot, "Right")
    assert review.selected_ids() == [queue[4]]
    press(qtbot, "0")
    assert session.records[queue[4]].source == "auto"
    assert review.selected_ids() == [queue[5]]
    press(qtbot, "Left", "Left")
    assert review.selected_ids() == [queue[3]]
    press(qtbot, "ctrl+z")  # the last label (buildings) undone: that photo is back in review
    assert session.records[queue[2]].source == "auto"
    assert win.undo_stack.count() == 3


def test_space_opens_the_larger_preview_where_keys_still_work(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = review_window(qtbot, make_window, photo_folder)
    session = win.session
    assert session is not None
    press(qtbot, "ctrl+2")
    queue = [win.review_proxy.id_at(row) for row in range(6)]
    loupe = win.central.loupe
    press(qtbot, "space")
    assert win.stack.currentWidget() is loupe and loupe.hasFocus()
    assert loupe.record is session.records[queue[0]]
    assert "1 of 6 in Needs review" in loupe.caption.text()
    qtbot.waitUntil(lambda: loupe.image.pixmap() is not None and not loupe.image.pixmap().isNull())
    press(qtbot, "Right")
    assert loupe.record is session.records[queue[1]]
    press(qtbot, "3")  # labelled in the larger preview: glacier, and on to the next photo
    assert session.records[queue[1]].label == "glacier"
    assert loupe.record is session.records[queue[2]]
    assert "2 of 5 in Needs review" in loupe.caption.text()
    press(qtbot, "space")  # back to the grid, on the photo the preview showed
    assert win.stack.currentWidget() is win.tabs
    assert win.review_pane.view.selected_ids() == [queue[2]]
    assert win.review_pane.view.hasFocus()
    press(qtbot, "space", "Escape")  # Esc goes back too (not the window's Cancel Scan)
    assert win.stack.currentWidget() is win.tabs


def test_find_box_typed_into_filters_the_lists(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "trip"
    for i, name in enumerate(("harbour_1", "harbour_2", "market", "church", "beach")):
        make_photo(folder / f"{name}.jpg", seed=i)
    win, session = scanned_window(qtbot, make_window, folder)
    focus_window(qtbot, win)
    harbour = [r.id for r in session.records if r.name.startswith("harbour")]
    win.assign([harbour[0]], "sea")  # one labelled by hand
    press(qtbot, "ctrl+f")
    assert win.find_box.hasFocus()
    xdotool(qtbot, "type", "--delay", "80", "harb")
    qtbot.waitUntil(lambda: sum(win.group_count(c) for c in win.group_proxies) == 2)
    assert win.browser.shown_label.text() == "Showing 2 of 5 photos"
    xdotool(qtbot, "type", "--delay", "80", " is:manual")
    qtbot.waitUntil(lambda: sum(win.group_count(c) for c in win.group_proxies) == 1)
    assert win.group_count("sea") == 1
    sea = win.group_proxies["sea"]
    assert sea.id_at(0) == harbour[0]
    press(qtbot, "Escape")  # clears the box: every photo again
    qtbot.waitUntil(lambda: sum(win.group_count(c) for c in win.group_proxies) == 5)
    assert win.find_box.text() == "" and not win.browser.shown_label.isVisible()
    xdotool(qtbot, "type", "--delay", "80", "is:nothing")
    qtbot.waitUntil(lambda: "is:nothing is not known" in win.find_box.toolTip())
    assert sum(win.group_count(c) for c in win.group_proxies) == 5  # the last query that worked
    press(qtbot, "ctrl+a", "BackSpace")
    xdotool(qtbot, "type", "--delay", "80", "market")
    qtbot.waitUntil(lambda: sum(win.group_count(c) for c in win.group_proxies) == 1)
    press(qtbot, "Return")  # back to the photos: the one found is selected, keys act on it
    market = next(r for r in session.records if r.name == "market.jpg")
    view = win.group_panes[market.label].view  # type: ignore[index]
    assert view.hasFocus() and view.selected_ids() == [market.id]
    press(qtbot, "6")
    assert (market.label, market.source) == ("street", "manual")


def test_the_title_names_the_folder_and_the_app_once(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    """What the window manager shows (_NET_WM_NAME): Qt adds the application's name itself."""
    from app.ui.main import make_app

    make_app()  # the application's names, as `python -m app` sets them
    win, _session = scanned_window(qtbot, make_window, photo_folder)
    win._refresh_status()
    proc = subprocess.run(
        ["xdotool", "getwindowname", str(int(win.winId()))], capture_output=True, text=True
    )
    assert proc.stdout.strip() == "photos — Scene Tagger"
    win.assign([0], "sea")
    win._refresh_status()
    qtbot.waitUntil(
        lambda: (
            subprocess.run(
                ["xdotool", "getwindowname", str(int(win.winId()))], capture_output=True, text=True
            ).stdout.strip()
            == "photos* — Scene Tagger"
        )
    )
