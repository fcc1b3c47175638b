"""The window's learn / re-score flow (app/ui/learning.py), offscreen, with the bundled model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from app.cli import main as cli
from app.model.engine import Classifier
from app.personal.versions import Versions
from app.tagging import sidecar
from app.ui.actions import ActionId
from app.ui.learning import RescoreDialog, personal_row
from tests.conftest import BUNDLED_ID, make_photo
from tests.test_learncli import kind_photo
from tests.tolerances import assert_same_sidecar
from tests.uikit import SCAN_TIMEOUT, open_and_scan

NOW = "2026-12-01T10:00:00+00:00"


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecar, "now", lambda: NOW)


def _ids(win: Any, names: list[str]) -> list[int]:
    return [win.session.id_for(win.session.folder / n) for n in names]


def test_the_window_labels_exactly_as_the_label_command(
    make_window: Any, qtbot: Any, tmp_path: Path, tiny_card: Path
) -> None:
    folder = tmp_path / "w"
    photos = [make_photo(folder / f"IMG_{i}.jpg", seed=i) for i in range(3)]
    twin = tmp_path / "c"
    twin.mkdir()
    copies = [Path(shutil.copy2(p, twin / p.name)) for p in photos]
    win = make_window()
    open_and_scan(qtbot, win, folder)
    assert win.assign(_ids(win, [p.name for p in photos[:2]]), "sea") == 2
    with qtbot.waitSignal(win.saved, timeout=SCAN_TIMEOUT):
        win.save()
    assert (
        cli.main(
            [
                "label",
                *map(str, copies[:2]),
                "--scene",
                "sea",
                "--model",
                str(tiny_card),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    for p, c in zip(photos[:2], copies[:2], strict=True):
        assert_same_sidecar(Path(f"{p}.xmp"), Path(f"{c}.xmp"))


def test_learn_from_corrections_rescore_accept_undo_and_reset(
    make_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "lib"
    stripes = [kind_photo(folder / f"s{i}.jpg", 0, i).name for i in range(8)]
    noise = [kind_photo(folder / f"n{i}.jpg", 1, i).name for i in range(10)]

    def bundled(device: str, backend: str = "auto") -> Classifier:
        return Classifier(None, backend="onnx", precision="int8")

    win = make_window(factory=bundled)
    # drawn noise is far from every real scene: "Not a scene" off, so the head decides
    win.settings.none_threshold = 2.0
    learn = win.actions[ActionId.LEARN]
    open_and_scan(qtbot, win, folder)
    assert win.classifier.none_threshold == 2.0
    assert not learn.isEnabled()  # nothing to learn from yet
    before = {
        n: win.session.records[i].auto_label for n, i in zip(noise, _ids(win, noise), strict=True)
    }
    assert "glacier" not in before.values()
    win.assign(_ids(win, stripes[:6]), "forest")  # confirmed: the model was right
    win.assign(_ids(win, noise[:8]), "glacier")  # corrected
    with qtbot.waitSignal(win.learning.count_changed, timeout=SCAN_TIMEOUT):
        win.save()
    assert win.learning.count == 14
    assert learn.text() == "&Learn from My Corrections (14)" and learn.isEnabled()

    with qtbot.waitSignal(win.learning.learned, timeout=SCAN_TIMEOUT) as blocker:
        learn.trigger()
        assert not learn.isEnabled()  # runs in the background; the window stays live
    report = blocker.args[0]["report"]
    assert report.adopted and report.personal_accuracy > report.bundled_accuracy
    assert win.classifier.model_id == f"{BUNDLED_ID}/int8+personal.1"
    assert win.device_label.text().endswith("+personal.1")
    dialog = win.learning.dialog
    assert isinstance(dialog, RescoreDialog)
    assert "held-out corrections (5-fold): bundled" in dialog.report.text()
    rows = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert len(rows) == 2  # the unlabelled noise photos change; the stripes stay forest
    for row_text, name in zip(sorted(rows), sorted(noise[8:]), strict=True):
        old, new = row_text.split(" → ")
        assert old.startswith(f"{name}: {before[name]} (") and new.startswith("glacier (")

    depth = win.undo_stack.count()
    dialog.accept_all.click()  # one batch
    ids = _ids(win, noise[8:])
    records = [win.session.records[i] for i in ids]
    assert [(r.label, r.source) for r in records] == [("glacier", "auto")] * 2
    assert {r.model_id for r in records} == {f"{BUNDLED_ID}/int8+personal.1"}
    assert win.undo_stack.count() == depth + 1
    win.undo_stack.undo()  # one Ctrl+Z puts both back
    assert [r.label for r in records] == [before[n] for n in noise[8:]]
    assert {r.model_id for r in records} == {f"{BUNDLED_ID}/int8"}
    win.undo_stack.redo()
    assert [r.label for r in records] == ["glacier"] * 2
    # the manual labels were never touched by the re-score
    assert {win.session.records[i].manual for i in _ids(win, noise[:8])} == {"glacier"}

    # Settings: version, training-set size, reset back to the bundled model
    row = personal_row(win, win.load_classifier)  # as the Settings dialog makes it
    assert row.label.text().startswith("personal.1: 14 corrections")
    with qtbot.waitSignal(win.classifier_changed, timeout=SCAN_TIMEOUT):
        row.reset.click()
    assert Versions().active() is None
    assert win.classifier.model_id == f"{BUNDLED_ID}/int8"
    assert row.label.text().startswith("Bundled model")


def test_learning_refuses_in_the_window_with_too_few_corrections(
    make_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "few"
    names = [kind_photo(folder / f"n{i}.jpg", 1, i).name for i in range(3)]

    def bundled(device: str, backend: str = "auto") -> Classifier:
        return Classifier(None, backend="onnx", precision="int8")

    win = make_window(factory=bundled)
    open_and_scan(qtbot, win, folder)
    win.assign(_ids(win, names), "glacier")
    with qtbot.waitSignal(win.learning.count_changed, timeout=SCAN_TIMEOUT):
        win.save()
    with qtbot.waitSignal(win.learning.failed, timeout=SCAN_TIMEOUT) as blocker:
        win.actions[ActionId.LEARN].trigger()
    assert "at least 10 corrections" in blocker.args[0] and "there are 3" in blocker.args[0]
    assert win.learning.dialog.text.text().startswith("Nothing learned")
    assert Versions().active() is None


def test_a_scan_asked_for_while_learning_waits_for_it(
    make_window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Classify Remaining (or a folder opened) while the classifier learns: the scan starts
    when learning is over, never beside it on the same classifier."""
    import threading

    from app.ui import learning

    folder = tmp_path / "busy"
    names = [kind_photo(folder / f"n{i}.jpg", 1, i).name for i in range(3)]
    release, real = threading.Event(), learning._learn_task

    def slow(*args: Any) -> Any:
        assert release.wait(30)
        return real(*args)

    monkeypatch.setattr(learning, "_learn_task", slow)
    win = make_window(factory=lambda device, **kw: Classifier(None, backend="onnx"))
    open_and_scan(qtbot, win, folder)
    win.assign(_ids(win, names), "glacier")
    with qtbot.waitSignal(win.learning.count_changed, timeout=SCAN_TIMEOUT):
        win.save()
    win.assign(_ids(win, names[:1]), None)  # back to automatic: the model must see it again
    events: list[str] = []
    win.learning.failed.connect(lambda _m: events.append("learned"))
    win.scan_finished.connect(lambda _c: events.append("scanned"))
    assert win.learning.learn()
    assert not win.start_scan() and win.scan_wanted and not win.is_scanning()
    release.set()
    qtbot.waitUntil(lambda: events == ["learned", "scanned"], timeout=SCAN_TIMEOUT)


def test_the_window_and_learn_make_the_same_version_from_the_same_corrections(
    make_window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One learn use case (app.personal.learning): the window, running fp32 ONNX, and `learn`
    on the same corrections keep the same head at the same temperature. The window's runtime
    temperature is not the card's CPU default (int8): a window or a command that went back to
    its own runtime's temperature would fit another one, and this test would fail."""
    import json
    import os

    from app.model import scenes
    from app.personal.learning import base_temperature

    folder = tmp_path / "lib"
    stripes = [kind_photo(folder / f"s{i}.jpg", 0, i).name for i in range(8)]
    noise = [kind_photo(folder / f"n{i}.jpg", 1, i).name for i in range(10)]

    def fp32(device: str, backend: str = "auto") -> Classifier:
        return Classifier(None, backend="onnx", precision="fp32")

    win = make_window(factory=fp32)
    open_and_scan(qtbot, win, folder)
    card = scenes.ModelCard.read(scenes.default_card_path())
    assert win.classifier.runtime.temperature != base_temperature(card)  # the premise
    win.assign(_ids(win, stripes[:6]), "forest")
    win.assign(_ids(win, noise[:8]), "glacier")
    with qtbot.waitSignal(win.learning.count_changed, timeout=SCAN_TIMEOUT):
        win.save()
    window_data = Path(os.environ["SCENE_TAGGER_DATA"])
    cli_data = tmp_path / "cli-data"
    cli_data.mkdir()
    shutil.copy2(window_data / "corrections.sqlite3", cli_data / "corrections.sqlite3")

    with qtbot.waitSignal(win.learning.learned, timeout=SCAN_TIMEOUT) as blocker:
        win.actions[ActionId.LEARN].trigger()
    assert blocker.args[0]["version"] is not None

    monkeypatch.setenv("SCENE_TAGGER_DATA", str(cli_data))
    assert cli.main(["learn", "--backend", "onnx", "--precision", "fp32", "--json"]) == 0
    (in_window,) = Versions(window_data / "personal").list()
    (by_cli,) = Versions(cli_data / "personal").list()
    assert by_cli.sha256 == in_window.sha256  # the same head, to the byte
    assert by_cli.temperature == in_window.temperature
    assert {k: v for k, v in by_cli.report.items() if k != "seconds"} == {
        k: v for k, v in in_window.report.items() if k != "seconds"
    }
    assert json.loads(json.dumps(by_cli.per_class)) == in_window.per_class
