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
