"""The folder session without Qt: labels, corrections, dirty state, saving and re-opening."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.model.engine import Prediction
from app.model.scenes import CLASSES
from app.tagging import sidecar
from app.tagging.session import Session
from app.tagging.session_io import execute_save
from tests.conftest import REPO, make_photo

MODEL = "tiny-test@0123456789ab"


def pred(path: Path, label: str, conf: float) -> Prediction:
    rest = (1.0 - conf) / (len(CLASSES) - 1)
    scores = {c: (conf if c == label else rest) for c in CLASSES}
    return Prediction(path, label, conf, scores)


@pytest.fixture
def session(photo_folder: Path) -> Session:
    return Session.open(photo_folder, threshold=0.8)


def classify(s: Session, labels: list[tuple[str, float]]) -> None:
    s.set_predictions(
        [pred(r.path, lab, c) for r, (lab, c) in zip(s.records, labels, strict=True)], MODEL
    )


SIX = [
    ("sea", 0.97),
    ("forest", 0.91),
    ("street", 0.85),
    ("glacier", 0.55),
    ("sea", 0.81),
    ("buildings", 0.4),
]


def test_session_imports_without_qt() -> None:
    code = (
        "import sys; sys.modules['PySide6'] = None\n"
        "import app.tagging.session, app.tagging.sidecar, app.model.engine\n"
        "assert not any(m.startswith('PySide6') and sys.modules[m] is not None for m in sys.modules)\n"
        "print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_open_lists_photos_without_labels(session: Session) -> None:
    assert [r.name for r in session.records] == [f"IMG_{i:04d}.jpg" for i in range(6)]
    assert all(r.label is None and r.saved is None and r.error is None for r in session.records)
    assert session.to_classify(MODEL) == list(range(6))
    assert session.dirty_count() == 0
    assert session.counts()[None] == 6


def test_predictions_give_labels_and_dirty_only_above_threshold(session: Session) -> None:
    changed: list[list[int]] = []
    session.on_change = changed.append
    classify(session, SIX)
    assert changed == [list(range(6))]
    assert [r.label for r in session.records] == [lab for lab, _ in SIX]
    assert all(r.source == "auto" for r in session.records)
    assert session.records[0].confidence == pytest.approx(0.97)
    # 0.55 and 0.40 are below the 0.8 threshold: not written, and listed for review
    assert session.dirty_ids() == [0, 1, 2, 4]
    assert session.review_ids() == [3, 5]
    session.set_threshold(0.9)
    assert session.dirty_ids() == [0, 1]
    assert session.review_ids() == [2, 3, 4, 5]
    assert session.counts()["sea"] == 2


def test_manual_label_wins_and_restore_undoes(session: Session) -> None:
    classify(session, SIX)
    old = session.set_manual([0, 3], "mountain")
    assert old == {0: None, 3: None}
    r0 = session.records[0]
    assert (r0.label, r0.source, r0.confidence, r0.auto_label) == (
        "mountain",
        "manual",
        None,
        "sea",
    )
    assert not r0.needs_review(0.8)
    assert session.set_manual([0], "mountain") == {}  # no change, nothing to undo
    session.restore_manual(old)
    assert (r0.label, r0.source) == ("sea", "auto")
    with pytest.raises(ValueError):
        session.set_manual([0], "desert")


def test_prediction_failure_is_a_value(session: Session) -> None:
    bad = Prediction(session.records[2].path, error="not a readable image")
    session.set_predictions([bad], MODEL)
    r = session.records[2]
    assert r.label is None and r.error == "not a readable image"
    assert session.error_ids() == [2]
    assert 2 in session.review_ids()
    assert 2 in session.to_classify(MODEL)  # a failed photo is tried again


def test_save_writes_sidecars_and_reopen_keeps_manual(session: Session, photo_folder: Path) -> None:
    classify(session, SIX)
    session.set_manual([3], "glacier")  # confirm the unsure one
    session.set_manual([5], "street")  # correct the wrong one
    report = session.save()
    assert (report.written, report.failed) == (6, 0)  # 0,1,2,4 auto + 3,5 manual
    assert session.dirty_count() == 0
    info = sidecar.read_sidecar(session.records[5].path)
    assert info.scene is not None and (info.scene.label, info.scene.source) == ("street", "manual")
    assert "street" in info.keywords and "Scene|street" in info.hierarchical
    auto = sidecar.read_sidecar(session.records[0].path).scene
    assert auto is not None and (auto.label, auto.source, auto.model_id) == ("sea", "auto", MODEL)
    assert sidecar.read_sidecar(session.records[1].path).scene.label == "forest"  # type: ignore[union-attr]

    again = Session.open(photo_folder, threshold=0.8)
    assert [r.label for r in again.records] == [
        "sea",
        "forest",
        "street",
        "glacier",
        "sea",
        "street",
    ]
    assert [r.source for r in again.records][3:] == ["manual", "auto", "manual"]
    assert again.dirty_count() == 0
    # manual photos are never re-classified; auto ones from the same model are not either
    assert again.to_classify(MODEL) == []
    assert again.to_classify("another-model@ffffffffffff") == [0, 1, 2, 4]


def test_save_counts_manual_below_threshold(session: Session) -> None:
    classify(session, SIX)
    session.set_manual([5], "street")
    items = session.plan_save()
    assert [(i.id, i.tag.source) for i in items] == [  # type: ignore[union-attr]
        (0, "auto"),
        (1, "auto"),
        (2, "auto"),
        (4, "auto"),
        (5, "manual"),
    ]


def test_revert_to_automatic_removes_saved_manual_label(
    session: Session, photo_folder: Path
) -> None:
    classify(session, SIX)
    session.set_manual([0], "forest")
    session.save()
    again = Session.open(photo_folder, threshold=0.8)
    assert again.records[0].manual == "forest"
    again.set_manual(
        [0], None
    )  # the model has not run on it in this session: nothing auto to write
    assert again.dirty_ids() == [0]
    item = again.plan_save()[0]
    assert item.tag is None
    again.save()
    assert sidecar.read_sidecar(again.records[0].path).scene is None
    assert again.dirty_count() == 0
    # once classified again, the automatic label replaces the removed manual one
    again.set_predictions([pred(again.records[0].path, "sea", 0.95)], MODEL)
    assert again.dirty_ids() == [0]
    again.save()
    scene = sidecar.read_sidecar(again.records[0].path).scene
    assert scene is not None and (scene.label, scene.source) == ("sea", "auto")


def test_unreadable_sidecar_is_reported_and_left_alone(photo_folder: Path) -> None:
    bad = photo_folder / "IMG_0002.jpg.xmp"
    bad.write_text("<x:xmpmeta this is not xml")
    s = Session.open(photo_folder, threshold=0.8)
    r = s.records[2]
    assert r.sidecar_error and "sidecar" in r.sidecar_error
    assert s.error_ids() == [2]
    classify(s, SIX)
    report = s.save()
    assert report.failed == 1 and report.errors and report.errors[0][0] == r.path
    assert bad.read_text() == "<x:xmpmeta this is not xml"  # never overwritten
    assert s.dirty_ids() == [2]  # still pending
    assert s.records[0].error is None


def test_execute_save_touches_no_session_state(session: Session) -> None:
    classify(session, SIX)
    items = session.plan_save()
    outcomes = execute_save(items, naming="base", parent="Places")
    assert all(o.error is None and o.info is not None for o in outcomes)
    assert session.dirty_count() == 4  # not applied yet
    assert (session.folder / "IMG_0000.xmp").is_file()  # type: ignore[operator]
    assert "Places|sea" in outcomes[0].info.hierarchical  # type: ignore[union-attr]
    session.apply_saved(outcomes)
    assert session.dirty_count() == 0


def test_manual_label_on_unreadable_photo_is_saved(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_photo(folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    s = Session.open(folder)
    s.set_predictions([Prediction(folder / "broken.jpg", error="corrupt")], MODEL)
    rid = s.id_for(folder / "broken.jpg")
    assert rid is not None
    s.set_manual([rid], "sea")
    assert s.save().written == 1
    assert sidecar.read_sidecar(folder / "broken.jpg").scene.label == "sea"  # type: ignore[union-attr]


def test_the_dirty_count_follows_every_change(tmp_path: Path) -> None:
    """dirty_count is kept up to date change by change; it must always equal a full recount."""

    folder = tmp_path / "f"
    for i in range(5):
        make_photo(folder / f"p{i}.jpg", seed=i)
    s = Session.open(folder, threshold=0.5)

    def recount() -> int:
        return sum(1 for r in s.records if s.is_dirty(r))

    scores = {c: 0.0 for c in CLASSES}
    steps = [
        lambda: s.set_predictions(
            [
                Prediction(r.path, label="sea", confidence=0.9, scores={**scores, "sea": 0.9})
                for r in s.records[:3]
            ],
            "m@1",
        ),
        lambda: s.set_manual([3], "forest"),
        lambda: s.set_threshold(0.95),
        lambda: s.set_threshold(0.5),
        lambda: s.restore_manual({3: None}),
        lambda: s.save(),
        lambda: s.set_manual([0], "glacier"),
        lambda: s.read_sidecars(notify=False),
    ]
    for step in steps:
        step()
        assert s.dirty_count() == recount() and s.dirty_ids() == [
            r.id for r in s.records if s.is_dirty(r)
        ]
