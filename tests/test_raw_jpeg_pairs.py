"""RAW + JPEG pairs (IMG_0001.dng + IMG_0001.jpg, written together by a camera): two photos
by default (darktable, digiKam), or one with the setting "one" (`tag --raw-jpeg one`, View ▸
RAW + JPEG as One Photo): the JPEG classified once, its label in both files' sidecars."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from formats_fixtures import write_raw_jpeg_pair
from test_cli import labels_by_path, run
from test_cli_tag import spy_on_the_model

from app.photos import formats
from app.tagging import sidecar
from app.tagging.session import Session

pytest.importorskip("rawpy")


def names(entries: Any) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.name, tuple(c.name for c in cs)) for p, cs in entries]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- which files pair


def test_pairs_are_a_raw_and_a_camera_jpeg_or_heif_of_one_name_in_one_folder() -> None:
    listed = [
        "a/IMG_1.CR2",
        "a/IMG_1.CR2.jpg",  # another name (IMG_1.CR2), between the pair in name order
        "a/IMG_1.JPG",
        "a/IMG_1.png",  # not what a camera writes beside a RAW: stays alone
        "a/IMG_10.JPG",
        "a/IMG_2.NEF",  # a RAW alone
        "a/IMG_3.dng",
        "a/IMG_3.jpg",
        "a/IMG_3.nef",  # two RAWs of one name: both tagged with the JPEG
        "a/IMG_4.ARW",
        "a/IMG_4.HIF",  # Sony/Canon RAW + HEIF
        "a/img_5.jpg",
        "b/IMG_5.CR2",  # same name, another folder: no pair
    ]
    entries = list(formats.photo_entries([Path(n) for n in listed], "one"))
    assert names(entries) == [
        ("IMG_1.JPG", ("IMG_1.CR2",)),  # entries in the order their names started
        ("IMG_1.png", ()),
        ("IMG_1.CR2.jpg", ()),
        ("IMG_10.JPG", ()),
        ("IMG_2.NEF", ()),
        ("IMG_3.jpg", ("IMG_3.dng", "IMG_3.nef")),
        ("IMG_4.HIF", ("IMG_4.ARW",)),
        ("img_5.jpg", ()),
        ("IMG_5.CR2", ()),
    ]
    separate = list(formats.photo_entries([Path(n) for n in listed], "separate"))
    assert names(separate) == [(Path(n).name, ()) for n in listed]
    with pytest.raises(ValueError, match="raw_jpeg"):
        list(formats.photo_entries([], "both"))


def test_pairing_streams_a_big_folder() -> None:
    """An entry comes out as soon as a later name shows it is complete: the window shows the
    first photos of a 100,000-photo folder before the listing ends."""
    taken: list[str] = []

    def listing():
        for i in range(100_000):
            for ext in (".CR2", ".JPG"):
                taken.append(f"IMG_{i:05d}{ext}")
                yield Path("f") / taken[-1]

    first = next(formats.pair_raw_jpeg(listing()))
    assert names([first]) == [("IMG_00000.JPG", ("IMG_00000.CR2",))]
    assert len(taken) == 3  # the pair and the next file, nothing more


def test_a_subfolder_named_like_the_pair_does_not_split_it() -> None:
    listed = ["a/IMG.ARW", "a/IMG.d/x.jpg", "a/IMG.jpg"]  # a recursive walk enters IMG.d
    entries = formats.pair_raw_jpeg(Path(n) for n in listed)
    assert names(entries) == [("IMG.jpg", ("IMG.ARW",)), ("x.jpg", ())]


# ----------------------------------------------------------------------------- the session


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    return write_raw_jpeg_pair(tmp_path / "pair")


def test_one_record_per_pair_found_by_either_file(pair: Path) -> None:
    s = Session.open(pair, raw_jpeg="one")
    assert [r.display_name for r in s.records] == ["IMG_0001.jpg + .dng", "IMG_0002.jpg"]
    assert s.id_for(pair / "IMG_0001.dng") == s.id_for(pair / "IMG_0001.jpg") == 0
    assert s.records[0].files == (pair / "IMG_0001.jpg", pair / "IMG_0001.dng")
    assert [r.path.name for r in Session.open(pair).records] == [
        "IMG_0001.dng",
        "IMG_0001.jpg",
        "IMG_0002.jpg",
    ]


@pytest.mark.parametrize("naming", ["ext", "base"])
def test_a_label_goes_into_both_sidecars_and_comes_off_both(pair: Path, naming: str) -> None:
    raw_before = digest(pair / "IMG_0001.dng")
    s = Session.open(pair, raw_jpeg="one", naming=naming)
    s.set_manual([0], "glacier")
    report = s.save()
    assert report.written == 1 and report.failed == 0
    raw_xmp = "IMG_0001.xmp" if naming == "base" else "IMG_0001.dng.xmp"
    for photo, xmp in (("IMG_0001.jpg", "IMG_0001.jpg.xmp"), ("IMG_0001.dng", raw_xmp)):
        info = sidecar.read_sidecar(pair / photo, naming)
        assert info.path == pair / xmp and info.scene is not None
        assert (info.scene.label, info.scene.source) == ("glacier", "manual")
    assert digest(pair / "IMG_0001.dng") == raw_before
    assert s.dirty_count() == 0
    s.set_manual([0], None)  # back to automatic: the manual label leaves both sidecars
    assert s.dirty_count() == 1
    s.save()
    assert sidecar.read_sidecar(pair / "IMG_0001.jpg", naming).scene is None
    assert sidecar.read_sidecar(pair / "IMG_0001.dng", naming).scene is None


def test_a_label_in_the_raws_sidecar_is_the_pairs_and_is_copied(pair: Path) -> None:
    """darktable users labelled the RAW (separate mode, or another app): the pair shows that
    label, is unsaved until the JPEG's sidecar says it too, and a save copies it."""
    sidecar.write_scene(pair / "IMG_0001.dng", sidecar.SceneTag("forest", "manual"))
    s = Session.open(pair, raw_jpeg="one")
    r = s.records[0]
    assert (r.label, r.source) == ("forest", "manual")
    assert s.to_classify("any model") == [1]  # a photo labelled by hand is never classified
    assert s.dirty_ids() == [0]
    s.save()
    assert sidecar.read_sidecar(pair / "IMG_0001.jpg").scene.label == "forest"
    assert s.dirty_ids() == []


def test_a_broken_raw_sidecar_is_named_and_the_jpegs_is_still_written(pair: Path) -> None:
    (pair / "IMG_0001.dng.xmp").write_text("<x:xmpmeta broken", encoding="utf-8")
    s = Session.open(pair, raw_jpeg="one")
    r = s.records[0]
    assert r.error is not None and "IMG_0001.dng" in r.error
    s.set_manual([0], "sea")
    report = s.save()
    assert report.failed == 1 and "IMG_0001.dng" in report.errors[0][1]
    assert sidecar.read_sidecar(pair / "IMG_0001.jpg").scene.label == "sea"
    assert (pair / "IMG_0001.dng.xmp").read_text(encoding="utf-8") == "<x:xmpmeta broken"
    assert r.manual == "sea"  # still pending for the RAW: nothing the user did is lost
    assert s.dirty_ids() == [0]


# ----------------------------------------------------------------------------- tag


def test_tag_one_photo_per_pair_classifies_the_jpeg_once(
    capsys: Any, tiny_card: Path, pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jpeg, raw = pair / "IMG_0001.jpg", pair / "IMG_0001.dng"
    expected = labels_by_path(tiny_card, [jpeg])[str(jpeg)]
    raw_before = digest(raw)
    classified = spy_on_the_model(monkeypatch)
    options = ["--no-cache", "--model", tiny_card, "--min-confidence", "0", "--raw-jpeg", "one"]
    code, lines, err = run(capsys, "tag", *options, pair)
    assert code == 0, err
    assert sorted(p.name for p in classified) == ["IMG_0001.jpg", "IMG_0002.jpg"]
    first = next(line for line in lines if line.startswith(str(jpeg)))
    assert first.endswith("\tIMG_0001.jpg.xmp, IMG_0001.dng.xmp") and len(lines) == 2
    for photo in (jpeg, raw):
        assert sidecar.read_sidecar(photo).scene.label == expected
    assert digest(raw) == raw_before


def test_tag_by_default_classifies_and_tags_the_raw_on_its_own(
    capsys: Any, tiny_card: Path, pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classified = spy_on_the_model(monkeypatch)
    code, lines, err = run(
        capsys, "tag", "--no-cache", "--model", tiny_card, "--min-confidence", "0", pair
    )
    assert code == 0, err
    assert len(classified) == 3 and len(lines) == 3
    raw = pair / "IMG_0001.dng"
    expected = labels_by_path(tiny_card, [raw])[str(raw)]
    assert sidecar.read_sidecar(raw).scene.label == expected
    assert sidecar.read_sidecar(raw).path == pair / "IMG_0001.dng.xmp"
