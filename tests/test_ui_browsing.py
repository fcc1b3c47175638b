"""Moving through the photos offscreen: keys that walk a list, the larger preview, the find
box's query and filter, the thumbnail size, a photo opened from a file manager, the window's
title and the first launch. (The same flows typed on a real X server: test_ui_real_keys.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from app.model.engine import Prediction
from app.model.scenes import CLASSES
from app.tagging.session import Session
from app.ui import photofilter
from app.ui.actions import ActionId
from app.ui.compat import binding_problem
from app.ui.models import PhotoListModel
from app.ui.photofilter import QueryError
from app.ui.proxies import ErrorProxy, ReviewProxy, SceneGroupProxy
from app.ui.settings import Settings
from app.ui.views import cell_size
from tests.conftest import make_photo
from tests.uikit import open_and_scan

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))


def pred(path: Path, label: str, conf: float) -> Prediction:
    return Prediction(
        path, label, conf, {c: conf if c == label else (1 - conf) / 5 for c in CLASSES}
    )


@pytest.fixture
def session(qapp: Any, tmp_path: Path) -> Session:
    folder = tmp_path / "trip"
    names = ["harbour_1", "harbour_2", "market", "church", "beach", "broken"]
    for i, name in enumerate(names):
        make_photo(folder / f"{name}.jpg", seed=i)
    s = Session.open(folder, threshold=0.8)
    labels = {
        "harbour_1": ("sea", 0.97),
        "harbour_2": ("sea", 0.6),
        "market": ("street", 0.9),
        "church": ("buildings", 0.85),
        "beach": ("sea", 0.99),
    }
    preds = [
        pred(r.path, *labels[r.path.stem])
        if r.path.stem in labels
        else Prediction(r.path, error="truncated file")
        for r in s.records
    ]
    s.set_predictions(preds, "m@1")
    return s


def ids(session: Session, *stems: str) -> list[int]:
    by_stem = {r.path.stem: r.id for r in session.records}
    return [by_stem[s] for s in stems]


# --- what a query means ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"harbour_1", "harbour_2", "market", "church", "beach", "broken"}),
        ("harb", {"harbour_1", "harbour_2"}),
        ("HARBOUR_2", {"harbour_2"}),
        ("se", {"harbour_1", "harbour_2", "beach"}),  # the scene starts with "se"
        ("sea", {"harbour_1", "harbour_2", "beach"}),
        ("ch", {"church", "beach"}),  # in the name
        ("scene:street", {"market"}),
        ("scene:st", {"market"}),
        ("scene:none", set()),  # "Not a scene": none of these photos
        ("is:manual", {"church"}),
        ("is:auto", {"harbour_1", "harbour_2", "market", "beach"}),
        ("is:review", {"harbour_2", "broken"}),
        ("is:unsure", {"harbour_2", "broken"}),
        ("is:error", {"broken"}),
        ("-is:manual", {"harbour_1", "harbour_2", "market", "beach", "broken"}),
        ("sea -harbour", {"beach"}),
        ("harbour is:review", {"harbour_2"}),
        ('"harbour_1.jpg"', {"harbour_1"}),
        ('"harbour_1', {"harbour_1"}),  # an open quote while typing
    ],
)
def test_a_query_selects_the_photos_it_says(
    session: Session, query: str, expected: set[str]
) -> None:
    session.set_manual(ids(session, "church"), "buildings")
    keys = PhotoListModel()
    keys.set_session(session)
    f = photofilter.parse(query)
    got = {
        session.records[i].path.stem
        for i in range(len(session))
        if f.matches(
            keys.name_keys[i],
            keys.labels[i],
            keys.conf_keys[i] == 2.0,
            keys.review[i],
            keys.errors[i],
        )
    }
    assert got == expected


@pytest.mark.parametrize("query", ["is:nothing", "scene:s", "scene:cat", "scene:", "scene:x"])
def test_a_query_it_cannot_mean_is_refused_with_the_reason(query: str) -> None:
    with pytest.raises(QueryError, match="is not"):
        photofilter.parse(query)


# --- the lists filtered ----------------------------------------------------------------------


def counts(model: PhotoListModel) -> tuple[dict[str, int], int, int]:
    groups = {c: SceneGroupProxy(model, c).rowCount() for c in CLASSES}
    return groups, ReviewProxy(model).rowCount(), ErrorProxy(model).rowCount()


def test_the_filter_narrows_groups_and_review_never_the_errors(
    qtbot: Any, session: Session
) -> None:
    model = PhotoListModel()
    model.set_session(session)
    sea, review, errors = SceneGroupProxy(model, "sea"), ReviewProxy(model), ErrorProxy(model)
    assert (sea.rowCount(), review.rowCount(), errors.rowCount()) == (3, 2, 1)
    with qtbot.waitSignal(model.filter_changed):
        model.set_filter(photofilter.parse("harbour"))
    assert (sea.rowCount(), review.rowCount(), errors.rowCount()) == (2, 1, 1)
    assert model.shown_count() == 2
    # a change made while filtering is filtered too: a photo labelled by hand joins is:manual
    model.set_filter(photofilter.parse("is:manual"))
    assert sea.rowCount() == 0
    beach = ids(session, "beach")
    session.set_manual(beach, "sea")
    assert [sea.id_at(r) for r in range(sea.rowCount())] == beach
    session.set_manual(beach, None)
    assert sea.rowCount() == 0
    model.set_filter(photofilter.NO_FILTER)
    assert (sea.rowCount(), review.rowCount(), errors.rowCount()) == (3, 2, 1)


def test_filtered_lists_pass_qtmodeltester(qtmodeltester: Any, session: Session) -> None:
    model = PhotoListModel()
    model.set_session(session)
    review = ReviewProxy(model)
    qtmodeltester.check(review, force_py=True)
    model.set_filter(photofilter.parse("harbour"))
    session.set_threshold(0.99)  # more rows need review: only the harbour ones join
    assert review.rowCount() == 2
    model.set_filter(photofilter.parse("-harbour"))
    session.set_manual(ids(session, "market"), "street")
    model.set_filter(photofilter.NO_FILTER)


def test_rows_appended_while_filtering_are_filtered(qtbot: Any, tmp_path: Path) -> None:
    from app.tagging.session import new_records
    from app.ui.rowkeys import records_keys

    folder = tmp_path / "f"
    for name in ("a_sea.jpg", "b.jpg", "c_sea.jpg", "d.jpg"):
        make_photo(folder / name)
    paths = sorted(folder.iterdir())
    s = Session(folder, paths[:2])
    model = PhotoListModel()
    model.set_session(s)
    review = ReviewProxy(model)
    model.set_filter(photofilter.parse("_sea"))
    assert review.rowCount() == 1
    ids = s.add_records(new_records(2, paths[2:], {}))
    model.append_rows(ids, records_keys(s.records[2:], s.threshold))
    model.flush()
    assert [review.id_at(r) for r in range(review.rowCount())] == [0, 2]
    assert model.shown == [True, False, True, False]


# --- the window: keys that walk a list --------------------------------------------------------


def review_window(qtbot: Any, make_window: Any, folder: Path) -> Any:
    win = make_window()
    open_and_scan(qtbot, win, folder)
    win.threshold_box.setValue(100)  # every automatic label needs review
    return win


def key(widget: Any, k: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(widget, k, mods)


def test_a_label_key_selects_the_next_photo_of_the_list(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = review_window(qtbot, make_window, photo_folder)
    session = win.session
    win.browser.show_list(1)
    review = win.review_pane.view
    queue = [win.review_proxy.id_at(r) for r in range(6)]
    assert review.selected_ids() == [queue[0]] and win._active_view is review
    key(review, Qt.Key.Key_4)
    assert session.records[queue[0]].label == "mountain"
    assert review.selected_ids() == [queue[1]] and review.currentIndex().row() == 0
    assert win.preview.record is session.records[queue[1]]
    # a multi-selection: all of it labelled in one undo step, then the photo after it
    sel = review.selectionModel()
    for row in (1, 2):
        sel.select(win.review_proxy.index(row), sel.SelectionFlag.Select)
    assert review.selected_ids() == sorted(queue[1:4])
    key(review, Qt.Key.Key_6)
    assert all(session.records[i].label == "street" for i in queue[1:4])
    assert review.selected_ids() == [queue[4]]
    assert win.undo_stack.count() == 2
    # the last photo: once labelled, the one before it (nothing after)
    review.selectionModel().setCurrentIndex(
        win.review_proxy.index(1), sel.SelectionFlag.ClearAndSelect
    )
    key(review, Qt.Key.Key_2)
    assert review.selected_ids() == [queue[4]]
    key(review, Qt.Key.Key_2)
    assert win.review_proxy.rowCount() == 0 and review.selected_ids() == []
    assert "Nothing left in Needs review" in win.statusBar().currentMessage()


def test_in_a_group_the_photo_stays_and_the_next_one_is_selected(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    for i in range(5):
        make_photo(folder / f"P{i}.jpg", seed=i)
    win = make_window()
    open_and_scan(qtbot, win, folder)
    session = win.session
    label = session.records[0].label
    win.assign([r.id for r in session.records if r.label != label], label)  # one group of 5
    win.sort_box.setCurrentIndex(win.sort_box.findData("name"))
    view = win.group_panes[label].view
    proxy = win.group_proxies[label]
    win.browser.focus_list(view)
    assert view.selected_ids() == [proxy.id_at(0)]
    key(view, Qt.Key.Key_0)  # P0 back to the model: stays in the group (its label), P1 next
    assert view.selected_ids() == [proxy.id_at(1)] == [session.records[1].id]
    # nothing selected but a current photo: the key acts on the current one
    view.selectionModel().clearSelection()
    assert view.currentIndex().isValid() and view.selected_ids() == []
    target = next(c for c in CLASSES if c != label)
    key(view, Qt.Key.Key_1 + CLASSES.index(target))
    assert session.records[1].label == target
    assert view.selected_ids() == [session.records[2].id]


def test_a_tab_shown_takes_the_keyboard_into_its_list(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = review_window(qtbot, make_window, photo_folder)
    win.browser.show_list(0)
    group_view = win.browser.visible_view()
    assert win._active_view is group_view
    group_selection = group_view.selected_ids()
    win.tabs.setCurrentIndex(1)  # as a click on the tab does
    review = win.review_pane.view
    first = win.review_proxy.id_at(0)
    assert win._active_view is review and review.selected_ids() == [first]
    key(review, Qt.Key.Key_5)  # acts on the review list shown, not the hidden group
    assert (win.session.records[first].label, win.session.records[first].source) == (
        "sea",
        "manual",
    )
    assert win.review_proxy.rowCount() == 5 and win.undo_stack.count() == 1
    assert group_view.selected_ids() == group_selection


def test_the_larger_preview_steps_labels_and_goes_back(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = review_window(qtbot, make_window, photo_folder)
    session = win.session
    win.browser.show_list(1)
    queue = [win.review_proxy.id_at(r) for r in range(6)]
    loupe = win.central.loupe
    win.actions[ActionId.LOUPE].trigger()
    assert win.stack.currentWidget() is loupe and loupe.record is session.records[queue[0]]
    assert loupe.caption.text().endswith("1 of 6 in Needs review")
    key(loupe, Qt.Key.Key_End)
    assert loupe.record is session.records[queue[5]]
    key(loupe, Qt.Key.Key_Home)
    key(loupe, Qt.Key.Key_Right)
    assert loupe.record is session.records[queue[1]]
    key(loupe, Qt.Key.Key_5)
    assert session.records[queue[1]].label == "sea"
    assert loupe.record is session.records[queue[2]]
    assert "(model said" not in loupe.caption.text()
    key(loupe, Qt.Key.Key_Escape)
    assert win.stack.currentWidget() is win.tabs
    assert win.review_pane.view.selected_ids() == [queue[2]]
    # a double click on a photo opens it too
    view = win.review_pane.view
    rect = view.visualRect(view.currentIndex())
    assert rect.isValid() and view.viewport().rect().contains(rect.center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.stack.currentWidget() is loupe


# --- the find box in the window -------------------------------------------------------------


def test_find_box_filters_and_says_how_many(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "trip"
    for i, name in enumerate(("harbour_1", "harbour_2", "market")):
        make_photo(folder / f"{name}.jpg", seed=i)
    win = make_window()
    open_and_scan(qtbot, win, folder)
    box = win.find_box
    box.setText("harbour")
    box.apply()
    assert sum(win.group_count(c) for c in CLASSES) == 2
    assert win.browser.shown_label.text() == "Showing 2 of 3 photos"
    assert not win.browser.shown_label.isHidden()
    box.add_term("is:manual")  # from the box's menu
    assert box.text() == "harbour is:manual" and sum(win.group_count(c) for c in CLASSES) == 0
    box.add_term("is:auto")  # one of a kind: replaces is:manual
    assert box.text() == "harbour is:auto" and sum(win.group_count(c) for c in CLASSES) == 2
    box.setText("is:bogus")
    box.apply()
    assert "is:bogus is not known" in box.toolTip() and "border" in box.styleSheet()
    assert sum(win.group_count(c) for c in CLASSES) == 2  # the last query that worked
    market = next(r for r in win.session.records if r.name == "market.jpg")
    assert win.browser.reveal(market.id)  # hidden by the filter: the filter goes
    assert box.text() == "" and win.browser.shown_label.isHidden()


# --- size, looks, title, preview -------------------------------------------------------------


def test_thumbnail_size_slider_changes_cells_and_is_remembered(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = make_window()
    open_and_scan(qtbot, win, photo_folder)
    slider = win.browser.size_slider
    assert slider.value() == 128 and win.photos.thumb_side == 128
    slider.setValue(200)
    view = win.group_panes["sea"].view
    assert view.gridSize() == cell_size(208) or view.gridSize() == cell_size(192)
    assert win.settings.thumbnail_size in (192, 208) and win.photos.thumb_side == 256
    win.browser.zoom(-10)
    assert slider.value() == 64 and win.photos.thumb_side == 128
    again = Settings(win.settings.store)
    assert again.thumbnail_size == 64


def test_a_dark_scheme_gives_a_dark_palette_and_back(qapp: Any) -> None:
    from app.ui import appearance

    assert appearance.apply("light") == Qt.ColorScheme.Light
    assert not appearance.is_dark(qapp.palette())
    try:
        assert appearance.apply("dark") == Qt.ColorScheme.Dark
        assert appearance.is_dark(qapp.palette()) and qapp.style().name().lower() == "fusion"
        text = qapp.palette().color(qapp.palette().ColorRole.Text)
        assert text.lightness() > 200  # legible on the dark ground
    finally:
        appearance.apply("system")
    assert not appearance.is_dark(qapp.palette())  # this test session's desktop is light


def test_title_names_the_folder_once_and_the_preview_has_no_empty_bars(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = make_window()
    assert win.windowTitle() == ""  # Qt shows the application's display name alone
    assert win.preview.scores.isHidden() and "Select a photo" in win.preview.image.text()
    open_and_scan(qtbot, win, photo_folder)
    win._refresh_status()
    assert win.windowTitle() == "photos[*]"
    assert "Scene Tagger" not in win.windowTitle()
    record = win.session.records[0]
    win.browser.reveal(record.id)
    assert not win.preview.scores.isHidden() and win.preview.record is record


def test_a_photo_opened_from_a_file_manager_is_selected(
    qtbot: Any, make_window: Any, photo_folder: Path
) -> None:
    win = make_window()
    photo = photo_folder / "IMG_0003.jpg"
    with qtbot.waitSignal(win.scan_finished, timeout=60_000):
        assert win.open_photo(photo)
    record = win.session.records[win.session.id_for(photo)]
    view = win.group_panes[record.label].view
    assert win.tabs.currentIndex() == 0 and view.selected_ids() == [record.id]
    assert view.currentIndex().data(Qt.ItemDataRole.UserRole) is record
    assert win.preview.record is record
    assert win.session.folder == photo_folder


def test_first_launch_opens_the_samples_with_an_introduction(
    qapp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui import main as ui_main
    from app.ui import settings as settings_module
    from app.ui import window as window_module
    from tests.uikit import Recording

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    store = tmp_path / "s.ini"
    monkeypatch.setattr(
        settings_module, "QSettings", lambda *a: QSettings(str(store), QSettings.Format.IniFormat)
    )
    monkeypatch.setattr(window_module, "default_cache_dir", lambda: tmp_path / "cache")
    seen: dict[str, Any] = {}

    def finish() -> None:
        win = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, window_module.MainWindow)
        )
        seen.update(
            intro=win.intro.isVisible(), text=win.intro.text.text(), folder=win.samples_folder
        )
        win.intro.dismiss()
        seen["introduced"] = win.settings.introduced
        win.close_discarding()
        win.deleteLater()

    from app.model.engine import Classifier

    QTimer.singleShot(300, finish)
    assert (
        ui_main.run_gui(None, classifier_factory=lambda d: Recording(Classifier(device="cpu"))) == 0
    )
    assert seen["intro"] and "Welcome to Scene Tagger" in seen["text"]
    assert seen["folder"] is not None and seen["introduced"]


def test_large_pictures_stay_in_memory_only_and_memory_is_bounded_in_bytes(
    qtbot: Any, tmp_path: Path
) -> None:
    """The larger preview's 1600 px pictures are not written to the disk cache, and the memory
    LRU keeps under its byte bound however many are looked at."""
    import os

    from app.ui.loupe import LOUPE_SIDE
    from app.ui.thumbnails import ThumbnailCache, cache_key

    photos = [make_photo(tmp_path / "p" / f"{i}.jpg", size=(1800, 1200), seed=i) for i in range(4)]
    side_bytes = 1600 * 1067 * 4
    cache = ThumbnailCache(tmp_path / "cache", shared=False, max_bytes=int(side_bytes * 2.5))
    for photo in photos:
        with qtbot.waitSignal(cache.ready, timeout=20_000):
            assert cache.get(photo, LOUPE_SIDE) is None
        pix = cache.get(photo, LOUPE_SIDE)
        assert pix is not None and pix.width() == 1600
    assert sum(cache.cached(p, LOUPE_SIDE) is not None for p in photos) == 2  # the last two
    assert cache.cached(photos[-1], LOUPE_SIDE) is not None
    assert cache._bytes <= cache.max_bytes
    key = cache_key(photos[0], LOUPE_SIDE)
    assert key is not None and not (tmp_path / "cache" / key[:2] / f"{key}.jpg").exists()
    with qtbot.waitSignal(cache.ready, timeout=20_000):
        assert cache.get(photos[0], 640) is None
    small = cache_key(photos[0], 640)
    assert small is not None and (tmp_path / "cache" / small[:2] / f"{small}.jpg").is_file()
    assert os.path.isdir(tmp_path / "cache")


def test_the_not_a_scene_list_is_named_as_the_window_names_it(qtbot: Any, make_window: Any) -> None:
    from app.model.openset import NONE

    win = make_window()
    assert win.browser.list_name(win.group_panes[NONE].view) == "Not a scene"
    assert win.browser.list_name(win.group_panes["sea"].view) == "sea"
    assert win.browser.list_name(win.review_pane.view) == "Needs review"
