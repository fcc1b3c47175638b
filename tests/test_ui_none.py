"""The window's "Not a scene": its group beside the six, key 7, undo, the strictness setting,
a saved manual "none" that a rescan keeps. (Dragging into it: tests/test_ui_real_input.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.model import openset
from app.model.engine import Classifier
from app.tagging import sidecar
from app.ui import dialogs
from app.ui.views import badge_text
from tests.onnx_fixtures import odd_photo, photos
from tests.uikit import open_and_scan


def none_folder(tmp_path: Path) -> Path:
    """Four gradient photos (scenes for the tiny open-set model) and two flat blue ones (none)."""
    folder = tmp_path / "photos"
    photos(folder, 4, seed=90)
    odd_photo(folder / "blue_a.png")
    odd_photo(folder / "blue_b.png", seed=1)
    return folder


def open_set_window(make_window: Any, card: Path) -> Any:
    return make_window(factory=lambda *a, **k: Classifier(card, backend="onnx", batch_size=8))


def test_not_a_scene_group_counts_the_photos_the_model_calls_none(
    qtbot: Any, make_window: Any, open_set_card: Path, tmp_path: Path
) -> None:
    win = open_set_window(make_window, open_set_card)
    folder = none_folder(tmp_path)
    open_and_scan(qtbot, win, folder)
    session = win.session
    pane = win.group_panes[openset.NONE]
    assert "Not a scene" in pane.header.text() and win.group_count(openset.NONE) == 2
    names = {session.records[i].name for i in pane.proxy.members()}
    assert names == {"blue_a.png", "blue_b.png"}
    assert sum(win.group_count(c) for c in openset.OUTCOMES) == 6
    assert badge_text(session.records[pane.proxy.members()[0]]) == "Not a scene"
    assert not any(r.needs_review(0.0) for r in session.records if r.label == openset.NONE)
    # stricter than anything the photos reach: none; "2.00": never (no model run again)
    win.apply_preferences(_prefs(win, none_threshold=1e-9))
    assert win.group_count(openset.NONE) == 6
    win.apply_preferences(_prefs(win, none_threshold=2.0))
    assert win.group_count(openset.NONE) == 0
    win.apply_preferences(_prefs(win, none_threshold=None))
    assert win.group_count(openset.NONE) == 2
    assert win.settings.none_threshold is None


def _prefs(win: Any, **change: Any) -> dialogs.Preferences:
    s = win.settings
    base = dict(
        device=s.device,
        threshold=s.threshold,
        naming=s.naming,
        parent=s.parent,
        backend=s.backend,
        tta=s.tta,
        none_threshold=s.none_threshold,
    )
    return dialogs.Preferences(**{**base, **change})


def test_key_7_marks_not_a_scene_undo_and_a_rescan_keeps_it(
    qtbot: Any, make_window: Any, open_set_card: Path, tmp_path: Path
) -> None:
    win = open_set_window(make_window, open_set_card)
    folder = none_folder(tmp_path)
    open_and_scan(qtbot, win, folder)
    session = win.session
    scene = next(r for r in session.records if r.label in openset.OUTCOMES[:6])
    view = win.group_panes[scene.label].view
    view.setFocus()
    view.clearSelection()
    index = view.model().mapFromSource(view.model().sourceModel().index(scene.id))
    view.selectionModel().select(index, view.selectionModel().SelectionFlag.Select)
    before = win.group_count(openset.NONE)
    qtbot.keyClick(view, Qt.Key.Key_7)
    assert (scene.label, scene.source) == (openset.NONE, "manual")
    assert win.group_count(openset.NONE) == before + 1
    assert "Not a scene" in win.scene_actions[openset.NONE].text()
    win.undo_stack.undo()
    assert scene.source == "auto" and scene.label != openset.NONE
    win.undo_stack.redo()
    with qtbot.waitSignal(win.saved, timeout=10_000):
        win.save()
    info = sidecar.read_sidecar(scene.path)
    assert info.keywords == [] and (info.scene.label, info.scene.source) == ("none", "manual")
    # a rescan: the manual "none" is read back and the model is not asked about the photo
    win2 = open_set_window(make_window, open_set_card)
    open_and_scan(qtbot, win2, folder)
    again = win2.session.records[win2.session.id_for(scene.path)]
    assert (again.label, again.source) == (openset.NONE, "manual")
    assert again.prediction is None
