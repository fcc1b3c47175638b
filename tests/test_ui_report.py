"""File ▸ Export Report…: the open folder as CSV, written by the same core function as
`classify --format csv`, so the two tables of one folder agree (offscreen, the tiny model)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QFileDialog

from app.cli import main as cli
from app.model.scenes import CLASSES
from app.ui.actions import ActionId
from app.ui.compat import binding_problem
from tests.tolerances import SCORE_TOLERANCE
from tests.uikit import SCAN_TIMEOUT, open_and_scan

pytestmark = pytest.mark.skipif(bool(binding_problem()), reason=str(binding_problem()))
HEADER = ["path", "label", "confidence", "source", *CLASSES, "error"]


def table(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


def assert_same_rows(got: list[dict[str, str]], want: list[dict[str, str]]) -> None:
    """Paths, labels, sources and errors equal; numbers within the scores' tolerance (the two
    tables come from two runs of the model, tests/tolerances.py)."""
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        for key in ("path", "label", "source", "error"):
            assert a[key] == b[key], (key, a, b)
        for key in ("confidence", *CLASSES):
            assert (a[key] == "") == (b[key] == ""), (key, a, b)
            if a[key]:
                assert abs(float(a[key]) - float(b[key])) <= SCORE_TOLERANCE + 1e-6, (key, a, b)


def test_export_report_writes_what_classify_prints(
    qtbot: Any, make_window: Any, photo_folder: Path, tmp_path: Path, tiny_card: Path, capsys
) -> None:
    (photo_folder / "notes.jpg").write_text("not a photo")
    win = make_window()
    win.threshold_box.setValue(0)
    open_and_scan(qtbot, win, photo_folder)
    corrected = win.session.records[1]
    label = next(c for c in CLASSES if c != corrected.label)
    win.assign([corrected.id], label)
    with qtbot.waitSignal(win.saved, timeout=SCAN_TIMEOUT):
        win.save()  # the manual label is now in its sidecar, where classify reads it
    chosen = tmp_path / "report"
    qtbot_dialog = []

    def save_dialog(parent, caption, start, filters):
        qtbot_dialog.append(start)
        return str(chosen), filters

    action = win.actions[ActionId.EXPORT_REPORT]
    assert action in win.menuBar().actions()[0].menu().actions()  # the File menu
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
        with qtbot.waitSignal(win.reports.exported, timeout=SCAN_TIMEOUT) as done:
            action.trigger()  # File ▸ Export Report…
    written = chosen.with_suffix(".csv")  # the dialog's name gets its extension
    assert done.args[0] == written and qtbot_dialog == [str(photo_folder / "photos scenes.csv")]
    assert "Report of 7 photos written to" in win.statusBar().currentMessage()
    exported = table(written.read_text(encoding="utf-8"))
    assert [r["source"] for r in exported].count("manual") == 1
    manual = next(r for r in exported if r["source"] == "manual")
    assert manual["label"] == label and manual["confidence"] == ""
    bad = next(r for r in exported if r["path"].endswith("notes.jpg"))
    assert bad["label"] == "" and "not a readable image" in bad["error"]

    capsys.readouterr()
    assert (
        cli.main(["classify", "--format", "csv", "--model", str(tiny_card), str(photo_folder)]) == 1
    )
    printed = table(capsys.readouterr().out)
    assert_same_rows(exported, printed)


def test_export_without_a_folder_says_so(
    make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: asked.append(a) or ("", ""))
    win = make_window()
    win.actions[ActionId.EXPORT_REPORT].trigger()  # enabled, as Save is: it says what it needs
    assert win.messages[-1].startswith("Open a folder first") and asked == []
