"""The sample photos in the window: opened from the user's copy, so a save never writes into
the app's own folder (read-only once installed or packaged)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from app import userdirs
from app.model import scenes
from app.tagging import sidecar
from app.ui.compat import binding_problem
from tests.uikit import SCAN_TIMEOUT

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))


def bundled_files() -> dict[str, int]:
    folder = scenes.resources_dir() / "samples"
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_saving_the_samples_writes_into_the_users_copy_never_the_app(
    qtbot: Any, make_window: Any
) -> None:
    before = bundled_files()
    win = make_window()
    win.threshold_box.setValue(0)  # every label is saved
    with qtbot.waitSignal(win.scan_finished, timeout=SCAN_TIMEOUT):
        win.welcome.samples_button.click()  # the welcome page's "Try the Sample Photos"
    copy = userdirs.data_dir() / "Sample Photos"
    assert win.session is not None and win.session.folder == copy
    assert len(win.session) == len([n for n in before if not n.endswith(".xmp")]) == 12
    with qtbot.waitSignal(win.saved, timeout=SCAN_TIMEOUT) as saved:
        win.save()
    assert saved.args[0].written == 12 and saved.args[0].failed == 0
    assert all(sidecar.read_sidecar(copy / name).scene is not None for name in before)
    assert bundled_files() == before  # not one sidecar, not one touched file in the app

    again = make_window()  # the next time: the same copy, with what the user saved in it
    with qtbot.waitSignal(again.scan_finished, timeout=SCAN_TIMEOUT):
        again.open_samples()
    assert again.session.folder == copy and len(list(copy.glob("*.xmp"))) == 12


def test_samples_that_cannot_be_copied_are_a_message_not_the_apps_folder(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("SCENE_TAGGER_DATA", os.fspath(blocker))
    win = make_window()
    win.open_samples()
    assert win.session is None
    assert win.messages and win.messages[-1].startswith(
        f"The sample photos cannot be copied to {blocker}"
    )


def test_a_subfolder_that_cannot_be_read_is_in_the_errors_list_and_the_status_bar(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's half of issue 23.4 (the listing's own test, with real permissions and
    without root's capabilities, is tests/test_permissions.py): here the file system says
    "permission denied" for one subfolder."""
    import errno

    from app.photos import listing
    from tests.conftest import make_photo

    folder = tmp_path / "photos"
    for i in range(3):
        make_photo(folder / f"IMG_{i}.jpg", seed=i)
    locked = folder / "locked"
    make_photo(locked / "IMG_9.jpg")
    real = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(listing.os, "scandir", scandir)
    win = make_window()
    with qtbot.waitSignal(win.folder_opened, timeout=SCAN_TIMEOUT):
        win.open_folder(folder, recursive=True)
    assert len(win.session) == 3
    assert [e.reason for e in win.session.listing_errors] == ["permission denied"]
    shown = [win.unreadable.view.item(i).text() for i in range(win.unreadable.count())]
    assert shown == [f"Cannot list {locked}: permission denied"]
    assert win.errors_dock.isVisible() and win.errors_dock.windowTitle() == "Errors · 1"
    assert f"Cannot list {locked}: permission denied" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not win.is_scanning(), timeout=SCAN_TIMEOUT)
    with qtbot.waitSignal(win.folder_opened, timeout=SCAN_TIMEOUT):
        win.open_folder(tmp_path, recursive=False)  # another folder: the list starts empty
    assert win.unreadable.count() == 0 and win.errors_dock.windowTitle() == "Errors"
