"""`python -m app tag`: sidecars written through app.tagging.sidecar, manual labels respected, reruns idle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import make_photo
from test_cli import labels_by_path, run

from app.model import engine
from app.tagging import sidecar
from tests.tolerances import assert_same_sidecar
from tests.unprivileged import run_app

# The tiny test model is never sure of anything: tag everything it says (the default threshold,
# the window's 0.80, is tested on its own below).
TAG = ("tag", "--min-confidence", "0")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime: a rerun that changes nothing leaves this identical."""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def spy_on_the_model(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The photos the model is asked about from now on (appended as it is asked)."""
    classified: list[Path] = []
    real = engine.Classifier.classify_paths

    def spy(self, paths, *args, **kwargs):
        classified.extend(paths)
        return real(self, paths, *args, **kwargs)

    monkeypatch.setattr(engine.Classifier, "classify_paths", spy)
    return classified


def summary(err: str) -> dict[str, int]:
    """'6 written, 0 unchanged, … ; device …' -> {'written': 6, 'unchanged': 0, …}."""
    counts = next(x for x in err.splitlines() if " unchanged, " in x).split(";")[0]
    return {part.split(" ", 1)[1]: int(part.split(" ", 1)[0]) for part in counts.split(", ")}


def test_tag_writes_sidecars_then_a_rerun_changes_nothing(
    capsys, tiny_card: Path, photo_folder: Path
) -> None:
    photos = sorted(photo_folder.glob("*.jpg"))
    expected = labels_by_path(tiny_card, photos)
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 0 and len(lines) == 6
    assert summary(err) == {
        "written": 6,
        "unchanged": 0,
        "skipped manual": 0,
        "below threshold": 0,
        "none": 0,
        "errors": 0,
    }
    for photo in photos:
        assert (photo_folder / f"{photo.name}.xmp").is_file()
        info = sidecar.read_sidecar(photo)
        assert info.scene is not None and info.scene.source == "auto"
        assert info.scene.label == expected[str(photo)]
        assert info.scene.model_id.startswith("tiny-test@")
        assert set(info.scene.scores) == {
            "buildings",
            "forest",
            "glacier",
            "mountain",
            "sea",
            "street",
        }
        assert info.keywords == [info.scene.label]
        assert info.hierarchical == [f"Scene|{info.scene.label}"]
    before = snapshot(photo_folder)

    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 0 and all("\tunchanged\t" in line for line in lines)
    assert summary(err)["unchanged"] == 6 and summary(err)["written"] == 0
    assert err.rstrip().endswith(" s, nothing to classify")  # no rate of nothing
    assert snapshot(photo_folder) == before


def test_manual_labels_are_skipped_without_classifying(
    capsys, tiny_card: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manual = photo_folder / "IMG_0002.jpg"
    sidecar.write_scene(manual, sidecar.SceneTag("glacier", source="manual"))
    kept = (photo_folder / "IMG_0002.jpg.xmp").read_bytes()
    classified = spy_on_the_model(monkeypatch)
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 0
    assert manual not in classified and len(classified) == 5
    assert f"{manual}\tskipped: labelled by hand (glacier)" in lines
    assert summary(err)["skipped manual"] == 1 and summary(err)["written"] == 5
    assert (photo_folder / "IMG_0002.jpg.xmp").read_bytes() == kept
    assert sidecar.read_sidecar(manual).scene.label == "glacier"


def test_min_confidence_leaves_uncertain_photos_untagged(
    capsys, tiny_card: Path, photo_folder: Path
) -> None:
    code, lines, err = run(
        capsys, "tag", "--min-confidence", "95%", "--model", tiny_card, photo_folder
    )
    assert code == 0 and summary(err)["below threshold"] == 6 and summary(err)["written"] == 0
    assert all("\tbelow threshold\t" in line for line in lines)
    assert not list(photo_folder.glob("*.xmp"))
    code, _, err = run(capsys, "tag", "--min-confidence", "0.1", "--model", tiny_card, photo_folder)
    assert code == 0 and summary(err)["written"] == 6


def test_sidecar_name_base_and_parent(capsys, tiny_card: Path, photo_folder: Path) -> None:
    code, _, err = run(
        capsys,
        *TAG,
        "--sidecar-name",
        "base",
        "--parent",
        "Places|Scene",
        "--model",
        tiny_card,
        photo_folder,
    )
    assert code == 0 and summary(err)["written"] == 6
    assert sorted(p.name for p in photo_folder.glob("*.xmp")) == [
        f"IMG_{i:04d}.xmp" for i in range(6)
    ]
    info = sidecar.read_sidecar(photo_folder / "IMG_0000.jpg")
    assert info.path == photo_folder / "IMG_0000.xmp"
    assert info.hierarchical == [f"Places|Scene|{info.scene.label}"]


def test_dry_run_writes_nothing(capsys, tiny_card: Path, photo_folder: Path) -> None:
    before = snapshot(photo_folder)
    code, lines, err = run(capsys, *TAG, "--dry-run", "--model", tiny_card, photo_folder)
    assert code == 0 and all("\twould write\t" in line for line in lines)
    assert summary(err)["would be written"] == 6
    assert snapshot(photo_folder) == before


def test_unparsable_sidecar_is_reported_and_left_alone(
    capsys, tiny_card: Path, photo_folder: Path
) -> None:
    broken = photo_folder / "IMG_0003.jpg.xmp"
    broken.write_text("<x:xmpmeta><rdf:RDF>unclosed", encoding="utf-8")
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 1 and "1 photo failed" in err
    assert summary(err)["errors"] == 1 and summary(err)["written"] == 5
    line = next(x for x in lines if x.startswith(f"{photo_folder / 'IMG_0003.jpg'}\t"))
    assert "ERROR: " in line and "IMG_0003.jpg.xmp" in line
    assert broken.read_text(encoding="utf-8") == "<x:xmpmeta><rdf:RDF>unclosed"


def test_bad_photos_are_errors_and_get_no_sidecar(
    capsys, tiny_card: Path, photo_folder: Path
) -> None:
    (photo_folder / "empty.jpg").write_bytes(b"")
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 1 and summary(err)["errors"] == 1 and summary(err)["written"] == 6
    assert (
        f"{photo_folder / 'empty.jpg'}\tERROR: not a readable image (unknown format or corrupt file)"
        in lines
    )
    assert not (photo_folder / "empty.jpg.xmp").exists()


def test_read_only_folder(tiny_card: Path, photo_folder: Path) -> None:
    photo_folder.chmod(0o555)
    try:
        done = run_app(*TAG, "--model", tiny_card, photo_folder, denied=photo_folder, access="w")
        lines = done.stdout.splitlines()
        assert done.returncode == 1 and summary(done.stderr)["errors"] == 6 and len(lines) == 6
        assert all("ERROR: Cannot write sidecar" in line for line in lines)
        assert all(line.endswith("permission denied") for line in lines)
    finally:
        photo_folder.chmod(0o755)
    assert not list(photo_folder.glob("*.xmp"))


def test_failed_write_is_reported_per_file(
    capsys, tiny_card: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root-proof variant of the read-only folder: one write fails, the others go through."""
    real = sidecar.write_scene
    victim = photo_folder / "IMG_0004.jpg"

    def write_scene(photo: Path, tag: sidecar.SceneTag, **kwargs) -> sidecar.WriteResult:
        if photo == victim:
            raise sidecar.SidecarError(sidecar.target_sidecar(photo), "permission denied", "write")
        return real(photo, tag, **kwargs)

    monkeypatch.setattr(sidecar, "write_scene", write_scene)
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 1 and summary(err)["errors"] == 1 and summary(err)["written"] == 5
    assert f"{victim}\tERROR: Cannot write sidecar {victim}.xmp: permission denied" in lines
    assert len(list(photo_folder.glob("*.xmp"))) == 5


def test_recursive_tag_with_a_symlink_loop_and_unicode_names(
    capsys, tiny_card: Path, tmp_path: Path
) -> None:
    root = tmp_path / "Été 2024"
    make_photo(root / "plage à Nice.jpg")
    make_photo(root / "sub folder" / "山.png", fmt="PNG")
    os.symlink(root, root / "sub folder" / "loop")
    code, _, err = run(capsys, *TAG, "-r", "--model", tiny_card, root)
    assert code == 0 and summary(err)["written"] == 2
    assert (root / "plage à Nice.jpg.xmp").is_file() and (
        root / "sub folder" / "山.png.xmp"
    ).is_file()


def test_tag_needs_a_folder(capsys, tiny_card: Path, photo_folder: Path) -> None:
    code, _, err = run(capsys, *TAG, "--model", tiny_card, photo_folder / "IMG_0000.jpg")
    assert code == 2 and "not a folder" in err
    code, _, err = run(capsys, "tag", "--parent", "|", "--model", tiny_card, photo_folder)
    assert code == 2 and "--parent" in err


def test_default_threshold_is_the_windows(capsys, tiny_card: Path, photo_folder: Path) -> None:
    """Without --min-confidence, tag writes only what the window would save: labels at or
    above 0.80 (app.defaults.THRESHOLD)."""
    from app import defaults

    photos = sorted(photo_folder.glob("*.jpg"))
    with engine.Classifier(tiny_card, device="cpu") as clf:
        confident = sum(p.confidence >= defaults.THRESHOLD for p in clf.classify_paths(photos))
    code, _, err = run(capsys, "tag", "--model", tiny_card, photo_folder)
    assert code == 0
    assert summary(err)["written"] == confident
    assert summary(err)["below threshold"] == len(photos) - confident
    assert len(list(photo_folder.glob("*.xmp"))) == confident


def test_a_rerun_classifies_nothing(
    capsys, tiny_card: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, *TAG, "--model", tiny_card, photo_folder)[0] == 0
    classified = spy_on_the_model(monkeypatch)
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, photo_folder)
    assert code == 0 and classified == [] and summary(err)["unchanged"] == 6
    assert all("\tunchanged\t" in line for line in lines)


def test_empty_folder_says_no_photos_without_loading_the_model(capsys, tmp_path: Path) -> None:
    code, lines, err = run(capsys, "tag", "--model", tmp_path / "no-card.json", tmp_path)
    assert code == 0 and lines == [] and err.strip() == f"no photos found in {tmp_path}"


def test_every_photo_failing_exits_1(capsys, tiny_card: Path, tmp_path: Path) -> None:
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"not a photo")
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, tmp_path)
    assert code == 1 and len(lines) == 2 and "2 photos failed" in err
    assert summary(err)["errors"] == 2


def test_a_sidecar_link_leaving_the_folder_is_reported_not_followed(
    capsys, tiny_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "downloaded"
    make_photo(folder / "a.jpg")
    make_photo(folder / "b.jpg", seed=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.xmp"
    victim.write_bytes(b"")  # an empty file reads as a fresh sidecar: tempting to write
    (folder / "a.jpg.xmp").symlink_to(Path("..") / "outside" / "victim.xmp")
    code, lines, err = run(capsys, *TAG, "--model", tiny_card, folder)
    assert code == 1 and summary(err)["errors"] == 1 and summary(err)["written"] == 1
    line = next(x for x in lines if x.startswith(f"{folder / 'a.jpg'}\t"))
    assert "ERROR: " in line and "outside" in line and "left untouched" in line
    assert victim.read_bytes() == b""
    assert (folder / "b.jpg.xmp").is_file()


def test_tag_writes_exactly_what_a_session_save_writes(
    capsys, tiny_card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule set: `tag` and the window's Session (headless) leave byte-identical sidecars,
    over fresh photos, a manual label, an earlier label by another model and a foreign
    keyword."""
    import shutil

    from app.tagging.session import Session

    monkeypatch.setattr(sidecar, "now", lambda: "2026-11-30T12:00:00+00:00")
    base = tmp_path / "base"
    for i in range(6):
        make_photo(base / f"IMG_{i:04d}.jpg", seed=i)
    sidecar.write_scene(base / "IMG_0001.jpg", sidecar.SceneTag("glacier", source="manual"))
    sidecar.write_scene(
        base / "IMG_0002.jpg",
        sidecar.SceneTag("sea", confidence=0.99, scores=None, model_id="other-model@123"),
    )
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(base, one)
    shutil.copytree(base, two)

    code, _, _ = run(capsys, "tag", "--min-confidence", "0.3", "--model", tiny_card, one)
    assert code == 0

    session = Session.open(two, threshold=0.3)
    with engine.Classifier(tiny_card, device="cpu") as clf:
        ids = session.to_classify(clf.model_id)
        paths = [session.records[i].path for i in ids]
        session.set_predictions(list(clf.classify_paths(paths)), clf.model_id)
    report = session.save()
    assert report.failed == 0
    files_one = sorted(p.name for p in one.iterdir())
    assert files_one == sorted(p.name for p in two.iterdir())
    for name in files_one:
        if name.endswith(".xmp"):  # two runs of the model: the scores' last digit may move
            assert_same_sidecar(one / name, two / name)
        else:
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert any(name.endswith(".xmp") for name in files_one)
