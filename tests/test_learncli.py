"""`python -m app label` and `python -m app learn` (app.cli.learn) on real photos and sidecars."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli
from app.model.engine import Classifier
from app.personal import head as personal
from app.personal.corrections import Correction, Corrections
from app.personal.versions import Versions
from app.photos import imaging
from app.tagging import sidecar
from app.tagging.session import Session
from tests.conftest import BUNDLED_ID, make_photo
from tests.tolerances import assert_same_sidecar

NOW = "2026-12-01T10:00:00+00:00"


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecar, "now", lambda: NOW)


def _twins(tmp_path: Path, n: int = 3) -> tuple[list[Path], list[Path]]:
    """The same photos in two folders: one for `label`, one for the Session of the window."""
    a = [make_photo(tmp_path / "a" / f"IMG_{i}.jpg", seed=i) for i in range(n)]
    b = []
    for p in a:
        (tmp_path / "b").mkdir(exist_ok=True)
        b.append(Path(shutil.copy2(p, tmp_path / "b" / p.name)))
    return a, b


@pytest.mark.parametrize("already_tagged", [False, True])
def test_label_writes_exactly_what_a_session_save_writes(
    tmp_path: Path, already_tagged: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _twins(tmp_path)
    if already_tagged:  # sidecars holding this model's automatic label (`tag` at 0 %)
        for folder in ("a", "b"):
            assert (
                cli.main(
                    ["tag", str(tmp_path / folder), "--min-confidence", "0", "--backend", "onnx"]
                )
                == 0
            )
    photo_bytes = [p.read_bytes() for p in a]
    stats = [p.stat().st_mtime_ns for p in a]
    capsys.readouterr()
    assert cli.main(["label", *map(str, a), "--scene", "glacier", "--backend", "onnx"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{p}\tglacier\t{p.name}.xmp" for p in a]
    # the window's path: a scan's predictions, keys 1-6, save
    session = Session.open(tmp_path / "b")
    with Classifier(None, backend="onnx", precision="int8") as clf:
        ids = session.to_classify(clf.model_id)
        preds = list(clf.classify_paths([session.records[i].path for i in ids]))
        session.set_predictions(preds, clf.model_id)
    session.set_manual(range(len(session)), "glacier")
    assert session.save().written == 3
    for pa, pb in zip(a, b, strict=True):
        assert_same_sidecar(Path(f"{pa}.xmp"), Path(f"{pb}.xmp"))
        assert sidecar.read_sidecar(pa).scene.source == "manual"
    assert [p.read_bytes() for p in a] == photo_bytes  # the photos are never written
    assert [p.stat().st_mtime_ns for p in a] == stats
    store = Corrections()
    assert [(c.path, c.label) for c in store.all()] == [(p, "glacier") for p in a]
    assert all(c.feature is not None and c.feature.shape == (512,) for c in store.all())
    assert {c.feature_model for c in store.all()} == {f"{BUNDLED_ID}/int8"}


def test_label_honours_the_sidecar_name_and_reports_bad_input_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_photo(tmp_path / "IMG_1.jpg")
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    code = cli.main(
        [
            "label",
            str(good),
            str(text),
            str(tmp_path / "gone.jpg"),
            "--scene",
            "sea",
            "--sidecar-name",
            "base",
            "--backend",
            "onnx",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert (tmp_path / "IMG_1.xmp").is_file() and not (tmp_path / "IMG_1.jpg.xmp").exists()
    assert f"{text}\tERROR: not a photo" in err
    assert f"{tmp_path / 'gone.jpg'}\tERROR: no such file" in err
    assert sidecar.read_sidecar(good, "base").scene.source == "manual"
    assert cli.main(["label", str(good), "--scene", "lake"]) == 2  # not a scene: usage


def _store_replay(n_per_scene: dict[str, int], wrong: bool = False) -> None:
    """Corrections whose features are the replay bank's (real seg_train features)."""
    bank = personal.ReplayBank.load()
    store = Corrections()
    items = []
    for scene, n in n_per_scene.items():
        c = personal.scenes.CLASSES.index(scene)
        for j, i in enumerate(np.flatnonzero(bank.labels == c)[:n]):
            label = personal.scenes.CLASSES[(c + 1) % 6] if wrong else scene
            items.append(
                Correction(
                    Path(f"/photos/{scene}_{j}.jpg"),
                    label,
                    f"{scene}{j}".encode(),
                    bank.features[i],
                    f"{BUNDLED_ID}/int8",
                )
            )
    store.record(items)
    store.close()


def test_learn_refuses_with_too_few_corrections_or_one_scene(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store_replay({"sea": 4, "forest": 3})
    assert cli.main(["learn"]) == 1
    assert "learning needs at least 10 corrections (photos labelled by hand); there are 7" in (
        capsys.readouterr().err
    )
    Corrections().clear()
    _store_replay({"glacier": 15})
    assert cli.main(["learn"]) == 1
    assert "at least 2 scenes; all 15 are glacier" in capsys.readouterr().err
    assert Versions().list() == []


def test_learn_keeps_the_bundled_model_when_the_personal_one_is_no_better(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store_replay({"sea": 6, "forest": 6, "street": 6})  # labels the bundled model gets right
    assert cli.main(["learn"]) == 0
    out = capsys.readouterr().out
    assert "held-out corrections (5-fold): bundled 100.0 % -> personal" in out
    assert "not adopted" in out and "kept: the bundled model" in out
    assert Versions().active() is None


def kind_photo(path: Path, kind: int, seed: int) -> Path:
    """Two kinds of picture the bundled model takes for forest (pale stripes, dark green
    noise): a person who confirms the first as forest and calls the second 'glacier' is
    consistent, and nothing in the replay bank looks like either."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:120, 0:160]
    if kind == 0:
        base = np.stack([200 + 40 * np.sin(xx / (3 + seed % 3))] * 3, -1) * [0.8, 0.9, 1.0]
    else:
        base = np.stack([40 + 0 * xx, 90 + 0 * xx, 50 + 0 * xx], -1)
        base = base + rng.integers(-40, 40, (120, 160, 3))
    arr = np.clip(base + rng.integers(-10, 10, (120, 160, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


KIND_SCENES = ("forest", "glacier")


def test_learn_adopts_a_model_that_helps_and_tags_name_its_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = {
        k: [kind_photo(tmp_path / "lib" / f"k{k}_{i}.jpg", k, i) for i in range(10)] for k in (0, 1)
    }
    for k, scene in enumerate(KIND_SCENES):  # eight of each labelled by hand
        assert (
            cli.main(["label", *map(str, photos[k][:8]), "--scene", scene, "--backend", "onnx"])
            == 0
        )
    capsys.readouterr()
    assert cli.main(["learn"]) == 0
    out = capsys.readouterr().out
    assert "held-out corrections (5-fold): bundled 50.0 % -> personal 100.0 %" in out
    assert "adopted: better on your held-out photos" in out
    assert "personal.1 is active" in out
    # the two photos of each kind nobody labelled: tagged by the personal model, named so
    # (drawn photos are far from every real scene: the open-set rule would call them none)
    args = ["--min-confidence", "0", "--backend", "onnx", "--none-threshold", "off"]
    assert cli.main(["tag", str(tmp_path / "lib"), *args]) == 0
    for k, scene in enumerate(KIND_SCENES):
        for p in photos[k][8:]:
            tag = sidecar.read_sidecar(p).scene
            assert (tag.label, tag.source) == (scene, "auto")
            assert tag.model_id == f"{BUNDLED_ID}/int8+personal.1"
    assert cli.main(["learn", "--reset"]) == 0
    capsys.readouterr()
    off = ["--none-threshold", "off"]
    assert cli.main(["classify", "--backend", "onnx", *off, str(photos[0][9])]) == 0
    assert "\tforest\t" in capsys.readouterr().out  # the bundled model's answer again


def test_corrections_of_model_errors_only_are_not_enough_to_adopt(tmp_path: Path) -> None:
    """Held-out photos that were all chosen because the model got them wrong prove nothing."""
    photos = [kind_photo(tmp_path / f"k{i}.jpg", 1, i) for i in range(12)]
    with Classifier(None, backend="onnx", precision="int8") as clf:
        x = np.stack([p.feature for p in clf.classify_paths(photos)])
    labels = ["glacier"] * 6 + ["street"] * 6
    learned = personal.learn(x, labels, personal.Head.from_card(), personal.ReplayBank.load(), 0.67)
    r = learned.report
    assert r.bundled_accuracy == 0.0 and r.personal_accuracy > 0
    assert not r.adopted
    assert "only 0 of your 12 corrections are photos the bundled model got right" in r.reason


def test_learn_from_folders_imports_manual_labels_and_computes_their_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = [make_photo(tmp_path / "lib" / "x" / f"P{i}.jpg", seed=i) for i in range(4)]
    for p, scene in zip(photos, ["sea", "sea", "forest", "street"], strict=True):
        sidecar.write_scene(p, sidecar.SceneTag(scene, "manual"))
    sidecar.write_scene(
        make_photo(tmp_path / "lib" / "auto.jpg"), sidecar.SceneTag("sea", "auto", 0.9, {}, "m")
    )
    code = cli.main(["learn", "--from", str(tmp_path / "lib"), "-r", "--backend", "onnx"])
    out, err = capsys.readouterr()
    assert code == 1  # four corrections are not enough to learn from
    assert "4 photos labelled by hand" in out and "there are 4" in err
    found = Corrections().all()
    assert sorted((c.path.name, c.label) for c in found) == [
        ("P0.jpg", "sea"),
        ("P1.jpg", "sea"),
        ("P2.jpg", "forest"),
        ("P3.jpg", "street"),
    ]
    assert all(c.feature is not None for c in found)  # computed through the classifier


def test_learn_from_counts_a_raw_and_jpeg_pair_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Labelled in darktable, the RAW's sidecar holds the label: the pair is one correction
    (the JPEG's photo), not two near-identical ones that would weigh twice."""
    pytest.importorskip("rawpy")
    from formats_fixtures import write_raw_jpeg_pair

    folder = write_raw_jpeg_pair(tmp_path / "pair")
    sidecar.write_scene(folder / "IMG_0001.dng", sidecar.SceneTag("glacier", "manual"))
    sidecar.write_scene(folder / "IMG_0002.jpg", sidecar.SceneTag("sea", "manual"))
    cli.main(["learn", "--from", str(folder), "--backend", "onnx"])
    out, _ = capsys.readouterr()
    assert "2 photos labelled by hand" in out
    found = sorted((c.path.name, c.label) for c in Corrections().all())
    assert found == [("IMG_0001.jpg", "glacier"), ("IMG_0002.jpg", "sea")]


def test_a_damaged_corrections_store_is_set_aside_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "store" / "corrections.sqlite3"
    path.parent.mkdir()
    path.write_bytes(b"this is not a database" * 100)
    warnings: list[str] = []
    store = Corrections(path, warn=warnings.append)
    assert len(store) == 0 and "set aside" in warnings[0]
    assert [
        p.name.startswith("corrections.sqlite3.broken-") for p in path.parent.iterdir() if p != path
    ] == [True]
    store.record([Correction(Path("/x.jpg"), "sea", b"k", np.ones(512, np.float32))])
    store.close()
    foreign = tmp_path / "foreign.sqlite3"
    sqlite3.connect(foreign).execute("CREATE TABLE t(x)").connection.commit()
    Corrections(foreign, warn=warnings.append).close()
    assert "not a Scene Tagger corrections store" in warnings[-1]


@pytest.mark.parametrize("store", ["corrections", "results"])
def test_a_store_of_another_schema_version_is_set_aside(tmp_path: Path, store: str) -> None:
    """Both SQLite stores open the one way (app.cache.sqlstore): a file written by another
    schema version is renamed aside, never deleted, with one warning, and a new one made."""
    from app.cache.library import Library

    open_store = {"corrections": Corrections, "results": Library}[store]
    path = tmp_path / f"{store}.sqlite3"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    warnings: list[str] = []
    open_store(path, warn=warnings.append).close()
    assert len(warnings) == 1 and "format 99, this version reads 1" in warnings[0]
    (aside,) = [p for p in tmp_path.iterdir() if ".broken-" in p.name]
    assert aside.name.startswith(f"{path.name}.broken-")
    assert sqlite3.connect(aside).execute("PRAGMA user_version").fetchone()[0] == 99
    open_store(path, warn=warnings.append).close()  # the new one is ours: no second warning
    assert len(warnings) == 1


def test_label_refuses_a_file_that_is_not_a_photo_and_counts_only_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`label notes.jpg --scene sea` on a text file named .jpg: refused for that file, nothing
    written, nothing recorded; the photo beside it is labelled. The window's menu ("Learn from
    My Corrections (N)", the store's count) and `learn --list` agree on what is left."""
    good = make_photo(tmp_path / "IMG_1.jpg")
    notes = tmp_path / "notes.jpg"
    notes.write_text("shopping list: bread, film, batteries")
    code = cli.main(["label", str(notes), str(good), "--scene", "sea", "--backend", "onnx"])
    out, err = capsys.readouterr()
    assert code == 1
    assert (
        f"{notes}\tERROR: not a readable image (unknown format or corrupt file); not labelled"
        in err
    )
    assert out.splitlines() == [f"{good}\tsea\tIMG_1.jpg.xmp"]
    assert not Path(f"{notes}.xmp").exists() and not (tmp_path / "notes.xmp").exists()
    store = Corrections()
    assert [c.path for c in store.all()] == [good] and len(store) == 1
    store.close()
    assert cli.main(["learn", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["corrections"] == 1 and listed["by_scene"] == {"sea": 1}


def test_label_tags_a_photo_it_cannot_decode_but_learns_nothing_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated copy is still a photo its owner knows (so is a panorama over the size limit,
    or a HEIC without its decoder): `label` writes its scene, as the window's keys do
    (imaging.not_a_photo is the one rule); with no pixels there is no correction to learn."""
    whole = make_photo(tmp_path / "src.jpg").read_bytes()
    cut = tmp_path / "IMG_9.jpg"
    cut.write_bytes(whole[: len(whole) // 2])
    assert imaging.unreadable(cut) is not None and imaging.not_a_photo(cut) is None
    code = cli.main(["label", str(cut), "--scene", "glacier", "--backend", "onnx"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.splitlines() == [f"{cut}\tglacier\tIMG_9.jpg.xmp"]
    assert sidecar.read_sidecar(cut).scene.label == "glacier"
    store = Corrections()
    assert len(store) == 0
    store.close()


def test_a_save_of_a_photo_the_model_could_not_read_is_no_correction(tmp_path: Path) -> None:
    """The window's path (sync_session after a save): a photo whose prediction failed gives
    the personal model nothing to learn from, so it is not counted as a correction."""
    from app.model.engine import Prediction
    from app.personal.corrections import sync_session

    good = make_photo(tmp_path / "IMG_1.jpg")
    broken = tmp_path / "IMG_2.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    session = Session.open(tmp_path)
    feature = np.ones(512, np.float32)
    scores = {c: 1 / 6 for c in personal.scenes.CLASSES}
    session.set_predictions(
        [
            Prediction(good, "sea", 0.5, scores, feature=feature),
            Prediction(broken, error="file is truncated (incomplete download or copy?)"),
        ],
        "m@1",
    )
    session.set_manual(range(2), "forest")
    session.save()
    store = Corrections()
    assert sync_session(store, session) == 1
    assert [c.path for c in store.all()] == [good] and len(store) == 1


def test_learn_from_a_missing_folder_is_bad_usage_and_learns_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_replay({"sea": 6, "forest": 6, "street": 6})  # enough to learn from
    missing = tmp_path / "no such folder"
    assert cli.main(["learn", "--from", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert f"error: no such file or folder: {missing}" in err
    assert "held-out" not in out and out == ""  # nothing was learned
    assert Versions().list() == []
    assert cli.main(["learn", "--from", str(tmp_path), str(missing)]) == 2  # one bad of two
    assert "held-out" not in capsys.readouterr().out


def test_learn_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    _store_replay({"sea": 6, "forest": 6})
    assert cli.main(["learn", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == {
        "corrections": 12,
        "by_scene": {"forest": 6, "sea": 6},
        "active": None,
        "versions": [],
    }


@pytest.mark.parametrize("command", ["tag", "label"])
def test_tag_and_label_share_the_sidecar_options_and_their_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    photo = make_photo(tmp_path / "IMG_1.jpg")
    target = [str(tmp_path)] if command == "tag" else [str(photo), "--scene", "sea"]
    assert cli.main([command, *target, "--parent", " / "]) == 2
    assert "argument --parent: must name a keyword, e.g. Scene" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.xmp"))
    assert cli.main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # help wraps lines
    assert "an existing sidecar of either name is updated" in text and "--parent" in text
