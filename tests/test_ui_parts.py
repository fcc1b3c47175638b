"""The window's parts on their own: item models (qtmodeltester), thumbnails, settings, guards."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QWidget

from app.model.engine import Prediction
from app.model.scenes import CLASSES
from app.tagging.session import Session, new_records
from app.ui import guard
from app.ui.compat import binding_problem
from app.ui.dialogs import Preferences, SettingsDialog
from app.ui.models import (
    MIME_TYPE,
    ConfidenceRole,
    LabelRole,
    PhotoListModel,
    RecordRole,
)
from app.ui.proxies import ErrorProxy, ReviewProxy, SceneGroupProxy
from app.ui.rowkeys import RowKeys, records_keys, row_keys
from app.ui.settings import MAX_RECENT, Settings
from app.ui.thumbnails import ThumbnailCache, cache_key
from app.ui.views import CELL, PhotoDelegate, PhotoView, ProgressStrip
from tests.conftest import make_photo

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))


def pred(path: Path, label: str, conf: float) -> Prediction:
    return Prediction(
        path, label, conf, {c: conf if c == label else (1 - conf) / 5 for c in CLASSES}
    )


@pytest.fixture
def session(qapp: Any, photo_folder: Path) -> Session:
    s = Session.open(photo_folder, threshold=0.8)
    labels = [
        ("sea", 0.97),
        ("sea", 0.6),
        ("forest", 0.9),
        ("street", 0.3),
        ("sea", 0.85),
        ("glacier", 0.99),
    ]
    s.set_predictions(
        [pred(r.path, lab, c) for r, (lab, c) in zip(s.records, labels, strict=True)], "m@1"
    )
    return s


@pytest.mark.parametrize("which", ["list", "group", "review", "errors"])
def test_models_pass_qtmodeltester(qtmodeltester: Any, session: Session, which: str) -> None:
    """One model per test: a ModelTester follows the signals of every model it was given."""
    model = PhotoListModel()
    model.set_session(session)
    proxy = {
        "list": lambda: model,
        "group": lambda: SceneGroupProxy(model, "sea"),
        "review": lambda: ReviewProxy(model),
        "errors": lambda: ErrorProxy(model),
    }[which]()
    qtmodeltester.check(proxy, force_py=True)
    session.set_manual([0, 3], "street")  # rows move between proxies under the tester's eyes
    session.set_predictions([Prediction(session.records[2].path, error="unreadable")], "m@1")
    session.set_threshold(0.5)
    model.set_session(None)
    assert proxy.rowCount() == 0


def test_roles_derive_from_the_record(session: Session) -> None:
    model = PhotoListModel()
    model.set_session(session)
    idx = model.index(0)
    r = idx.data(RecordRole)
    assert r is session.records[0]
    assert idx.data() == "IMG_0000.jpg"
    assert idx.data(LabelRole) == "sea" and idx.data(ConfidenceRole) == pytest.approx(0.97)
    assert "sea 97%" in idx.data(Qt.ItemDataRole.ToolTipRole)
    assert not idx.data(Qt.ItemDataRole.DecorationRole).isNull()  # a placeholder, never decoding


def test_group_proxy_sorts_by_confidence_and_follows_changes(qtbot: Any, session: Session) -> None:
    model = PhotoListModel()
    model.set_session(session)
    sea = SceneGroupProxy(model, "sea")
    review = ReviewProxy(model)
    names = [sea.index(i, 0).data() for i in range(sea.rowCount())]
    assert names == ["IMG_0000.jpg", "IMG_0004.jpg", "IMG_0001.jpg"]  # 97, 85, 60 %
    assert [review.index(i, 0).data() for i in range(review.rowCount())] == [
        "IMG_0003.jpg",
        "IMG_0001.jpg",
    ]
    with qtbot.waitSignal(sea.rowsRemoved, timeout=1000):
        session.set_manual([4], "forest")
    assert sea.rowCount() == 2
    session.set_manual([1], "sea")  # confirmed by hand: first in its group, out of review
    assert sea.index(0, 0).data() == "IMG_0001.jpg"
    assert review.rowCount() == 1
    sea.set_sort_mode("name")
    assert [sea.index(i, 0).data() for i in range(sea.rowCount())] == [
        "IMG_0000.jpg",
        "IMG_0001.jpg",
    ]
    session.set_threshold(0.95)
    assert [review.index(i, 0).data() for i in range(review.rowCount())] == [
        "IMG_0003.jpg",
        "IMG_0002.jpg",  # 90 % is unsure now too
    ]


def test_a_scans_changes_move_rows_at_their_own_pace(qtbot: Any, session: Session) -> None:
    """Inside batching (a scan applying predictions) rows move between the lists once per
    hold interval, not per change; a change by the user moves the held ones with it."""
    model = PhotoListModel()
    model.set_session(session)
    sea, review = SceneGroupProxy(model, "sea"), ReviewProxy(model)
    records = session.records
    moves: list[str] = []
    sea.rowsInserted.connect(lambda *_: moves.append("in"))
    repainted: list[str] = []
    review.dataChanged.connect(lambda top, bottom, roles: repainted.append(top.data()))
    with model.batching():
        session.set_predictions([pred(records[3].path, "sea", 0.99)], "m@1")  # out of review
    assert repainted == ["IMG_0003.jpg"]  # where it still is, with its new label, at once
    with model.batching():
        session.set_predictions([pred(records[2].path, "sea", 0.95)], "m@1")
    assert sea.rowCount() == 3 and review.rowCount() == 2 and moves == []  # held
    assert model.index(3).data(Qt.ItemDataRole.DisplayRole) == "IMG_0003.jpg"
    qtbot.waitUntil(lambda: sea.rowCount() == 5, timeout=model.hold_ms() + 2000)
    assert review.rowCount() == 1 and moves == ["in", "in"]  # both at the one flush
    with model.batching():
        session.set_predictions([pred(records[5].path, "sea", 0.9)], "m@1")
    session.set_manual([0], "street")  # the user's change: at once, with the held one
    in_sea = sorted(sea.index(i, 0).data() for i in range(sea.rowCount()))
    assert in_sea == [f"IMG_000{i}.jpg" for i in range(1, 6)]  # 0 left, 5 came in


def test_mime_carries_row_ids_and_drop_emits_the_request(qtbot: Any, session: Session) -> None:
    model = PhotoListModel()
    model.set_session(session)
    sea, forest = SceneGroupProxy(model, "sea"), SceneGroupProxy(model, "forest")
    mime = sea.mimeData([sea.index(0, 0), sea.index(1, 0)])
    assert mime.hasFormat(MIME_TYPE)
    assert sea.flags(sea.index(0, 0)) & Qt.ItemFlag.ItemIsDragEnabled
    assert forest.flags(forest.index(0, 0).parent()) & Qt.ItemFlag.ItemIsDropEnabled
    with qtbot.waitSignal(forest.drop_requested, timeout=1000) as blocker:
        assert forest.dropMimeData(
            mime, Qt.DropAction.MoveAction, -1, -1, forest.index(0, 0).parent()
        )
    assert blocker.args == [[0, 4], "forest"]
    assert not sea.dropMimeData(
        mime, Qt.DropAction.MoveAction, -1, -1, sea.index(0, 0).parent()
    )  # same group
    other = PhotoListModel()
    other.set_session(Session(None, [session.records[0].path]))
    assert not SceneGroupProxy(other, "forest").canDropMimeData(
        mime, Qt.DropAction.MoveAction, -1, -1, sea.index(0, 0).parent()
    )


def test_photo_view_keys_ask_for_scenes(qtbot: Any, session: Session) -> None:
    model = PhotoListModel()
    model.set_session(session)
    view = PhotoView(PhotoDelegate(lambda: 0.8), accept_drops=True)
    qtbot.addWidget(view)
    view.setModel(SceneGroupProxy(model, "sea"))
    view.selectAll()
    assert view.selected_ids() == [0, 1, 4]
    asked: list[Any] = []
    view.assign_requested.connect(asked.append)
    for key in (Qt.Key.Key_1, Qt.Key.Key_6, Qt.Key.Key_0):
        qtbot.keyClick(view, key)
    qtbot.keyClick(view, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # not ours
    assert asked == ["buildings", "street", None]
    assert view.itemDelegate().sizeHint(None, model.index(0)) == CELL  # type: ignore[arg-type]


def test_thumbnails_are_made_in_the_background_and_cached_on_disk(
    qtbot: Any, tmp_path: Path
) -> None:
    photo = make_photo(tmp_path / "p" / "a.jpg", size=(400, 300))
    broken = tmp_path / "p" / "b.jpg"
    broken.write_bytes(b"nope")
    cache = ThumbnailCache(tmp_path / "cache")
    assert cache.get(photo, 64) is None  # queued, not decoded here
    with qtbot.waitSignal(cache.ready, timeout=10_000) as blocker:
        pass
    assert blocker.args == [os.fspath(photo), 64]
    pix = cache.get(photo, 64)
    assert pix is not None and max(pix.width(), pix.height()) == 64
    key = cache_key(photo, 64)
    assert key is not None and (tmp_path / "cache" / key[:2] / f"{key}.jpg").is_file()
    # a fresh cache (a new session) reads the disk copy; an edited photo gets a new key
    again = ThumbnailCache(tmp_path / "cache")
    with qtbot.waitSignal(again.ready, timeout=10_000):
        assert again.get(photo, 64) is None
    assert again.get(photo, 64) is not None
    time.sleep(0.01)
    make_photo(photo, size=(300, 300), seed=3)
    assert cache_key(photo, 64) != key
    with qtbot.waitSignal(cache.ready, timeout=10_000):
        assert cache.get(broken, 64) is None
    assert cache.get(broken, 64) is None and cache.error(broken, 64)
    assert cache.pending() == 0


def test_thumbnails_flung_past_are_not_decoded(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging through 100,000 rows asks for thousands of thumbnails; only the newest
    MAX_QUEUED wait to be decoded, and a dropped one is asked for again when it comes back."""
    import threading

    from app.ui import thumbnails

    monkeypatch.setattr(thumbnails, "MAX_QUEUED", 3)
    started, release, decoded = threading.Event(), threading.Event(), []
    real = thumbnails.load_thumbnail

    def slow(path: Path, *args: Any) -> Any:
        started.set()
        assert release.wait(10)
        decoded.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(thumbnails, "load_thumbnail", slow)
    photos = [make_photo(tmp_path / f"{i:02d}.jpg", size=(80, 60), seed=i) for i in range(10)]
    cache = ThumbnailCache(None, threads=1)
    for p in photos:
        assert cache.get(p, 32) is None
        assert started.wait(10)  # the first is being decoded before the others are asked for
    assert cache.pending() == 4  # the one being decoded + the newest three
    release.set()
    qtbot.waitUntil(lambda: cache.pending() == 0, timeout=10_000)
    assert sorted(decoded) == ["00.jpg", "07.jpg", "08.jpg", "09.jpg"]
    assert cache.get(photos[3], 32) is None  # dropped: asked for again, decoded now
    qtbot.waitUntil(lambda: cache.get(photos[3], 32) is not None, timeout=10_000)


def test_settings_are_typed_and_persist(qapp: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "s.ini")
    s = Settings(QSettings(path, QSettings.Format.IniFormat))
    assert (s.device, s.threshold, s.naming, s.parent) == ("auto", 0.8, "ext", "Scene")
    s.device, s.threshold, s.naming, s.parent = "cpu", 0.65, "base", " Places "
    for i in range(MAX_RECENT + 2):
        (tmp_path / f"f{i}").mkdir()
        s.add_recent(tmp_path / f"f{i}")
    s.add_recent(tmp_path / "f3")
    s.save_window(QByteArray(b"geom"), QByteArray(b"state"))
    s.sync()
    again = Settings(QSettings(path, QSettings.Format.IniFormat))
    assert (again.device, again.threshold, again.naming, again.parent) == (
        "cpu",
        0.65,
        "base",
        "Places",
    )
    assert again.recent_folders[0] == (tmp_path / "f3").resolve()
    assert len(again.recent_folders) == MAX_RECENT
    assert bytes(again.geometry().data()) == b"geom"  # type: ignore[union-attr]
    again.store.setValue("review/threshold", "rubbish")
    again.store.setValue("model/device", "tpu")
    assert again.threshold == 0.8 and again.device == "auto"
    with pytest.raises(ValueError, match="naming must be one of"):
        again.naming = "sideways"
    again.raw_jpeg = "one"
    assert Settings(QSettings(path, QSettings.Format.IniFormat)).raw_jpeg == "one"
    again.store.setValue("folders/raw_jpeg", "both")  # an edited file: the default
    assert again.raw_jpeg == "separate" and again.update({"raw_jpeg": "one"}) == {
        "raw_jpeg": "separate"
    }


def test_settings_dialog_reports_preferences(qtbot: Any, tmp_path: Path) -> None:
    s = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    dialog = SettingsDialog(s)
    qtbot.addWidget(dialog)
    assert dialog.preferences() == Preferences("auto", 0.8, "ext", "Scene")
    dialog.device.setCurrentIndex(1)
    dialog.threshold.setValue(70)
    dialog.naming.setCurrentIndex(1)
    dialog.parent_keyword.setText("Places")
    assert dialog.preferences() == Preferences("cpu", 0.7, "base", "Places")


def test_guarded_slot_reports_instead_of_raising() -> None:
    guard.caught.clear()
    shown: list[str] = []
    guard.set_reporter(lambda summary, details: shown.append(summary))

    @guard.guarded
    def slot(x: int) -> int:
        return 10 // x

    try:
        assert slot(2) == 5
        assert slot(0) is None
        assert shown == ["ZeroDivisionError: integer division or modulo by zero"]
        assert len(guard.caught) == 1
    finally:
        guard.set_reporter(None)
        guard.caught.clear()


def test_progress_strip_paints_without_blocking(qtbot: Any) -> None:
    strip = ProgressStrip()
    qtbot.addWidget(strip)
    strip.set_progress(25, 100, "25/100 · 50 photos/s · ETA 0:02")
    assert strip.fraction() == 0.25 and strip.toolTip().startswith("25/100")
    strip.resize(300, 24)
    image = strip.grab().toImage()
    assert image.pixelColor(10, 12) != image.pixelColor(
        290, 12
    )  # filled part differs from the rest
    assert isinstance(strip, QWidget)


def test_grid_thumbnails_use_the_freedesktop_store(qtbot: Any, tmp_path: Path) -> None:
    """128-px thumbnails go to <XDG_CACHE_HOME>/thumbnails/normal/<md5(uri)>.png with the
    spec's Thumb::URI and Thumb::MTime, are reused when another program made them, and are
    made again when the photo changed."""
    import hashlib

    from PIL import Image

    from app.ui import xdg_thumbnails
    from app.ui.thumbnails import GRID_SIDE

    root = tmp_path / "xdg" / "thumbnails"
    photo = make_photo(tmp_path / "p" / "sea (1), copy.jpg", size=(400, 300))
    uri = "file://" + str(photo).replace(" ", "%20")
    assert xdg_thumbnails.file_uri(photo) == uri  # GLib keeps ( ) , unescaped
    cache = ThumbnailCache(tmp_path / "own", shared=root)
    with qtbot.waitSignal(cache.ready, timeout=10_000):
        assert cache.get(photo, GRID_SIDE) is None
    thumb = root / "normal" / (hashlib.md5(uri.encode()).hexdigest() + ".png")
    assert thumb.is_file() and (thumb.stat().st_mode & 0o777) == 0o600
    with Image.open(thumb) as img:
        assert img.text["Thumb::URI"] == uri
        assert img.text["Thumb::MTime"] == str(int(photo.stat().st_mtime))
        assert max(img.size) == GRID_SIDE
    assert not list((tmp_path / "own").rglob("*.jpg"))  # not stored twice

    # a thumbnail another program made (valid keys) is taken as it is: a red square here
    Image.new("RGB", (96, 96), (255, 0, 0)).save(
        thumb, pnginfo=_png_info(uri, str(int(photo.stat().st_mtime)))
    )
    fresh = ThumbnailCache(tmp_path / "own", shared=root)
    with qtbot.waitSignal(fresh.ready, timeout=10_000):
        assert fresh.get(photo, GRID_SIDE) is None
    pix = fresh.get(photo, GRID_SIDE)
    assert pix is not None and pix.width() == 96 and pix.toImage().pixelColor(5, 5).red() == 255

    # the photo changes: the stored thumbnail is stale and is made again
    os.utime(photo, (photo.stat().st_atime, photo.stat().st_mtime + 10))
    third = ThumbnailCache(tmp_path / "own", shared=root)
    with qtbot.waitSignal(third.ready, timeout=10_000):
        assert third.get(photo, GRID_SIDE) is None
    assert third.get(photo, GRID_SIDE).width() == GRID_SIDE  # type: ignore[union-attr]
    with Image.open(thumb) as img:
        assert img.text["Thumb::MTime"] == str(int(photo.stat().st_mtime))


def _png_info(uri: str, mtime: str) -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Thumb::URI", uri)
    info.add_text("Thumb::MTime", mtime)
    return info


@pytest.mark.parametrize("bulk", [2000, 1])
def test_group_lists_follow_changes_incrementally_and_in_bulk(
    qtmodeltester: Any, session: Session, bulk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways a list follows the photos (row by row, or recomputed when many change) give
    the same rows as computing it afresh, and keep the model consistent for Qt."""
    from app.ui.proxies import _RecordProxy

    monkeypatch.setattr(_RecordProxy, "BULK", bulk)
    model = PhotoListModel()
    model.set_session(session)
    lists = [SceneGroupProxy(model, c) for c in CLASSES] + [ReviewProxy(model), ErrorProxy(model)]
    qtmodeltester.check(lists[4], force_py=True)  # the sea group, watched through the changes
    session.set_manual([0, 3], "street")
    session.set_predictions([Prediction(session.records[2].path, error="unreadable")], "m@1")
    session.set_threshold(0.5)
    session.set_manual([0], None)
    for shown in lists:
        fresh = (
            type(shown)(model, shown.label)
            if isinstance(shown, SceneGroupProxy)
            else type(shown)(model)
        )
        rows = [shown.mapToSource(shown.index(i, 0)).row() for i in range(shown.rowCount())]
        assert rows == [fresh.mapToSource(fresh.index(i, 0)).row() for i in range(fresh.rowCount())]
        for row in rows:  # and the mapping both ways agrees
            assert shown.mapToSource(shown.mapFromSource(model.index(row))).row() == row


def test_a_selection_survives_rows_moving_around_it(qtbot: Any, session: Session) -> None:
    from PySide6.QtCore import QItemSelectionModel

    from app.ui.views import PhotoDelegate, PhotoView

    model = PhotoListModel()
    model.set_session(session)
    sea = SceneGroupProxy(model, "sea")
    view = PhotoView(PhotoDelegate(), accept_drops=True)
    qtbot.addWidget(view)
    view.setModel(sea)
    view.selectionModel().select(
        sea.mapFromSource(model.index(1)), QItemSelectionModel.SelectionFlag.Select
    )
    assert view.selected_ids() == [1]
    session.set_manual([0], "forest")  # the row above the selection leaves the group
    session.set_manual([2], "sea")  # another one arrives
    assert view.selected_ids() == [1]


def test_rows_appended_in_batches_land_where_a_fresh_list_puts_them(
    qtmodeltester: Any, session: Session, tmp_path: Path
) -> None:
    model = PhotoListModel()
    model.set_session(session)
    review = ReviewProxy(model)
    sea = SceneGroupProxy(model, "sea")
    qtmodeltester.check(review, force_py=True)
    before, in_review = len(session), review.rowCount()
    ids = session.add_photos([tmp_path / name for name in ["a.jpg", "IMG_0002b.jpg"]])
    model.append_rows(ids)  # keys computed here
    # as the folder loader does it: records and keys made in its worker, appended here
    records = new_records(len(session), [tmp_path / n for n in ["zz.jpg", "0.jpg", "m.jpg"]])
    model.append_rows(session.add_records(records), records_keys(records, session.threshold))
    assert model.rowCount() == len(session) == before + 5
    # the lists take arrivals every hold_ms (each insertion lays a view out again), or at flush
    assert review.rowCount() == in_review
    model.flush()
    assert row_keys(session) == RowKeys(
        model.labels, model.review, model.errors, model.conf_keys, model.name_keys
    )
    with pytest.raises(ValueError, match="records start at id"):
        session.add_records(new_records(len(session) + 1, [tmp_path / "late.jpg"]))
    for shown in (review, sea):
        fresh = (
            type(shown)(model, shown.label)
            if isinstance(shown, SceneGroupProxy)
            else type(shown)(model)
        )
        assert [shown.index(i, 0).data() for i in range(shown.rowCount())] == [
            fresh.index(i, 0).data() for i in range(fresh.rowCount())
        ]
    assert review.rowCount() == in_review + 5  # the new photos are not classified yet


def test_a_scan_worker_waits_when_the_window_falls_behind(
    qapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results from the cache come faster than the window applies them: the worker stops
    MAX_AHEAD predictions ahead (holding the interpreter the window paints with) until the
    window has applied them."""
    import threading

    from app.ui import workers

    monkeypatch.setattr(workers, "MAX_AHEAD", 50)
    monkeypatch.setattr(workers, "BATCH_SECONDS", 0.0)

    class Instant:
        def classify_paths(self, paths: Any, progress: Any = None, cancel: Any = None) -> Any:
            for p in paths:
                yield pred(p, "sea", 0.9)

    worker = workers.ScanWorker(
        1, Instant(), [Path(f"/p{i}.jpg") for i in range(500)], threading.Event()
    )
    runner = threading.Thread(target=worker.run)
    runner.start()
    time.sleep(0.5)
    assert runner.is_alive() and 50 < worker.posted <= 52  # waiting, not racing on
    worker.applied = 500
    runner.join(10)
    assert not runner.is_alive() and worker.posted == 500


def test_rows_appended_join_the_lists_after_the_hold_without_a_flush(
    qtbot: Any, session: Session, tmp_path: Path
) -> None:
    model = PhotoListModel()
    model.set_session(session)
    review = ReviewProxy(model)
    before = review.rowCount()
    model.append_rows(session.add_photos([tmp_path / "late1.jpg", tmp_path / "late2.jpg"]))
    assert review.rowCount() == before
    qtbot.waitUntil(lambda: review.rowCount() == before + 2, timeout=model.hold_ms() + 2000)
