"""Opening folders in the window: listed in batches, subfolders, sidecars and cached results
before the model, a folder that changes meanwhile (offscreen, the tiny test model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from app.model.engine import Classifier
from app.model.openset import OUTCOMES
from app.model.scenes import CLASSES
from app.tagging import sidecar
from app.ui.compat import binding_problem
from tests.conftest import make_photo
from tests.uikit import SCAN_TIMEOUT, Recording, open_and_scan

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))


def test_the_folder_is_listed_while_the_model_still_loads(
    qtbot: Any, make_window: Any, photo_folder: Path, tiny_card: Path
) -> None:
    import threading

    from app.model.engine import Classifier

    release = threading.Event()

    def slow_factory(device: str) -> Any:
        assert release.wait(20)  # torch and the weights take seconds on a cold start
        return Recording(Classifier(card=tiny_card, device="cpu", batch_size=16))

    win = make_window(factory=slow_factory)
    with qtbot.waitSignal(win.folder_opened, timeout=10_000):
        assert win.open_folder(photo_folder)
    assert win.classifier is None and len(win.session) == 6  # type: ignore[arg-type]
    assert win.photos.rowCount() == 6 and win.review_proxy.rowCount() == 6
    with qtbot.waitSignal(win.scan_finished, timeout=30_000):
        release.set()  # the model arrives: the waiting scan starts by itself
    assert all(r.label is not None for r in win.session.records)  # type: ignore[union-attr]


def test_a_folder_shows_batch_by_batch_and_no_scan_starts_before_the_end(
    qtbot: Any, make_window: Any, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from app.tagging import batches
    from app.ui import opening

    sidecar.write_scene(photo_folder / "IMG_0002.jpg", sidecar.SceneTag("glacier", source="manual"))
    monkeypatch.setattr(opening, "BATCH", 2)  # three batches of two photos
    gate = threading.Event()
    real = batches.read_sidecar_infos
    calls: list[int] = []

    def slow(photos: Any, naming: str) -> Any:
        calls.append(len(photos))
        if len(calls) > 1:  # the first batch shows at once; the rest wait for the gate
            assert gate.wait(10)
        return real(photos, naming)

    monkeypatch.setattr(batches, "read_sidecar_infos", slow)
    win = make_window()
    qtbot.waitUntil(lambda: win.classifier is not None, timeout=30_000)
    assert win.open_folder(photo_folder)
    qtbot.waitUntil(lambda: win.photos.rowCount() == 2, timeout=10_000)  # the first batch
    assert win.session is not None and not win.is_scanning()
    assert win.start_scan() is False  # not before the hand labels are known
    assert win.review_proxy.rowCount() == 2
    with qtbot.waitSignal(win.scan_finished, timeout=SCAN_TIMEOUT):
        gate.set()
    assert (
        win.photos.rowCount() == 6
        and win.review_proxy.rowCount() + sum(win.group_count(c) for c in CLASSES) >= 6
    )
    classified = win.classifiers[0].seen  # type: ignore[attr-defined]
    assert photo_folder / "IMG_0002.jpg" not in classified and len(classified) == 5
    assert win.session.records[2].source == "manual"


def test_include_subfolders_lists_them_and_names_the_subfolder(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    from app.ui.actions import ActionId

    root = tmp_path / "trip"
    make_photo(root / "a.jpg", seed=1)
    make_photo(root / "day 2" / "b.jpg", seed=2)
    win = make_window()
    open_and_scan(qtbot, win, root)
    assert len(win.session) == 1  # type: ignore[arg-type]
    with qtbot.waitSignal(win.scan_finished, timeout=SCAN_TIMEOUT):
        win.actions[ActionId.SUBFOLDERS].trigger()
    assert win.settings.recursive and len(win.session) == 2  # type: ignore[arg-type]
    rid = win.session.id_for(root / "day 2" / "b.jpg")  # type: ignore[union-attr]
    assert "in day 2/" in win.photos.index(rid).data(Qt.ItemDataRole.ToolTipRole)


def test_a_folder_that_changes_while_it_is_listed(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photos deleted before their batch is listed are simply not there; a symlink loop in a
    recursive tree is entered once; nothing errs."""
    import os

    from app.tagging import batches
    from app.ui import opening

    root = tmp_path / "tree"
    for sub in ("a", "b", "c"):
        for i in range(2):
            make_photo(root / sub / f"{sub}{i}.jpg", seed=i)
    os.symlink(root, root / "b" / "loop")
    monkeypatch.setattr(opening, "BATCH", 2)
    real = batches.read_sidecar_infos

    def meanwhile(photos: Any, naming: str) -> Any:
        if any(files[0].parent.name == "a" for _, files in photos):  # the first batch is read
            (root / "c" / "c1.jpg").unlink(missing_ok=True)
        return real(photos, naming)

    monkeypatch.setattr(batches, "read_sidecar_infos", meanwhile)
    win = make_window()
    with qtbot.waitSignal(win.scan_finished, timeout=SCAN_TIMEOUT):
        assert win.open_folder(root, recursive=True)
    names = sorted(r.name for r in win.session.records)  # type: ignore[union-attr]
    assert names == ["a0.jpg", "a1.jpg", "b0.jpg", "b1.jpg", "c0.jpg"]
    assert win.messages == [] and win.error_proxy.rowCount() == 0


def test_the_window_shares_the_results_cache_with_classify(
    qtbot: Any, make_window: Any, photo_folder: Path, tiny_card: Path, capsys: Any
) -> None:
    """A folder classified by `python -m app classify` opens in the window without the model
    running on any photo again (the same cache, the same model id)."""
    from app.cache.cached import CachedClassifier
    from app.cache.library import Library
    from app.cli import main as cli

    assert cli.main(["classify", "--model", str(tiny_card), str(photo_folder)]) == 0
    capsys.readouterr()
    made: list[Any] = []

    def factory(device: str) -> Any:
        inner = Recording(Classifier(card=tiny_card, device="cpu", batch_size=16))
        made.append(inner)
        return CachedClassifier(inner, Library())

    win = make_window(factory=factory)
    open_and_scan(qtbot, win, photo_folder)
    assert made[0].seen == []  # every answer came from the cache
    assert all(r.label is not None for r in win.session.records)  # type: ignore[union-attr]


def test_cached_results_group_a_folder_before_the_model_has_loaded(
    qtbot: Any, tmp_path: Path, photo_folder: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder `classify` has seen shows in its groups while the model still loads, and the
    model, once loaded, has nothing left to classify."""
    import threading
    import time

    from PySide6.QtCore import QSettings

    from app.cli import main as cli
    from app.ui import window as window_module
    from app.ui.settings import Settings
    from app.ui.window import MainWindow

    time.sleep(2.1)  # the cache trusts a file's stat key once it is 2 s old ("racily clean")
    assert cli.main(["classify", str(photo_folder)]) == 0  # the bundled model, default runtime
    capsys.readouterr()
    gate = threading.Event()
    real = window_module.default_classifier_factory
    classified: list[Path] = []

    def slow(device: str, backend: str = "auto") -> Any:
        assert gate.wait(30)
        clf = real(device, backend)
        inner = clf.inner.classify_paths

        def spy(paths: Any, *args: Any, **kwargs: Any) -> Any:
            classified.extend(paths)
            return inner(paths, *args, **kwargs)

        clf.inner.classify_paths = spy
        return clf

    monkeypatch.setattr(window_module, "default_classifier_factory", slow)
    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win = MainWindow(settings=settings, cache_dir=tmp_path / "thumbs")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.folder_opened, timeout=20_000):
        win.open_folder(photo_folder)
    assert win.classifier is None
    assert all(r.label is not None for r in win.session.records)  # type: ignore[union-attr]
    # grouped from the cache ("Not a scene" counts: drawn gradients are far from real scenes)
    assert sum(win.group_count(c) for c in OUTCOMES) == 6
    with qtbot.waitSignal(win.classifier_changed, timeout=60_000):
        gate.set()
    qtbot.wait(200)
    assert classified == [] and not win.is_scanning()
    win.shutdown()


def test_raw_and_jpeg_as_one_photo_in_the_window(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    """View ▸ RAW + JPEG as One Photo: remembered, the folder reopens with the pair as one row
    naming both files, only the JPEG goes to the model, a label lands in both sidecars; off
    again, they are two photos that both carry it."""
    pytest.importorskip("rawpy")
    from formats_fixtures import write_raw_jpeg_pair

    from app.ui.actions import ActionId

    folder = write_raw_jpeg_pair(tmp_path / "pair")
    raw, jpeg = folder / "IMG_0001.dng", folder / "IMG_0001.jpg"
    win = make_window()
    open_and_scan(qtbot, win, folder)
    assert len(win.session) == 3 and win.settings.raw_jpeg == "separate"
    seen = win.classifiers[-1].seen
    before = len(seen)
    with qtbot.waitSignal(win.scan_finished, timeout=SCAN_TIMEOUT):
        win.actions[ActionId.RAW_JPEG].trigger()
    assert win.settings.raw_jpeg == "one" and len(win.session) == 2
    assert sorted(p.name for p in seen[before:]) == ["IMG_0001.jpg", "IMG_0002.jpg"]
    rid = win.session.id_for(raw)
    assert rid == win.session.id_for(jpeg)
    index = win.photos.index(rid)
    assert index.data(Qt.ItemDataRole.DisplayRole) == "IMG_0001.jpg + .dng"
    assert index.data(Qt.ItemDataRole.ToolTipRole).startswith(f"{jpeg}\n{raw}\n")
    win.assign([rid], "glacier")
    win.save(synchronous=True)
    for photo in (jpeg, raw):
        assert sidecar.read_sidecar(photo).scene.label == "glacier"
    with qtbot.waitSignal(win.folder_opened, timeout=SCAN_TIMEOUT):
        win.actions[ActionId.RAW_JPEG].trigger()
    assert win.settings.raw_jpeg == "separate" and len(win.session) == 3
    for photo in (jpeg, raw):
        r = win.session.records[win.session.id_for(photo)]
        assert (r.label, r.source) == ("glacier", "manual")


def test_keeping_unsaved_work_leaves_the_listing_setting_as_it_was(
    qtbot: Any, make_window: Any, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.ui import dialogs
    from app.ui.actions import ActionId

    win = make_window()
    open_and_scan(qtbot, win, photo_folder)
    session = win.session
    win.assign([0], "glacier")  # unsaved
    monkeypatch.setattr(dialogs, "ask_unsaved", lambda *_: QMessageBox.StandardButton.Cancel)
    win.actions[ActionId.RAW_JPEG].trigger()
    assert win.settings.raw_jpeg == "separate"
    assert not win.actions[ActionId.RAW_JPEG].isChecked()
    assert win.session is session and session.records[0].manual == "glacier"
