"""Folders of HEIC and RAW photos tagged end to end: `python -m app tag`, the session the window
lists, darktable's sidecars kept, RAW files never written, and RAW+JPEG twins never sharing
one sidecar."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import make_photo
from formats_fixtures import FORMATS_DATA, two_halves, write_dng, write_heic, write_raw_jpeg_pair
from test_cli import labels_by_path, run

from app.tagging import sidecar
from app.tagging.session import Session

pytest.importorskip("pillow_heif")
pytest.importorskip("rawpy")

DARKTABLE_XMP = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="3"
   darktable:xmp_version="5"
   darktable:raw_params="0"
   darktable:history_end="1">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def raw_folder(tmp_path: Path) -> Path:
    """Three DNGs with JPEG previews, each with the sidecar darktable writes (IMG.dng.xmp)."""
    folder = tmp_path / "raw"
    for i, orientation in enumerate((1, 6, 8)):
        dng = write_dng(
            folder / f"IMG_{i:04d}.dng", two_halves(640 + 32 * i, 480), orientation=orientation
        )
        (folder / f"{dng.name}.xmp").write_text(DARKTABLE_XMP, encoding="utf-8")
    return folder


def test_tag_a_raw_folder_with_darktable_sidecars(
    capsys, tiny_card: Path, raw_folder: Path
) -> None:
    raws = sorted(raw_folder.glob("*.dng"))
    before = {p.name: digest(p) for p in raws}
    expected = labels_by_path(tiny_card, raws)
    code, lines, err = run(capsys, "tag", "--model", tiny_card, "--min-confidence", "0", raw_folder)
    assert code == 0, err
    assert len(lines) == 3 and all("\twritten\t" in line for line in lines), lines
    for raw in raws:
        assert digest(raw) == before[raw.name]  # a RAW is never written into
        xmp = raw_folder / f"{raw.name}.xmp"  # the name darktable reads
        info = sidecar.read_sidecar(raw)
        assert info.path == xmp and info.scene is not None
        assert info.scene.label == expected[str(raw)]
        text = xmp.read_text(encoding="utf-8")
        assert 'darktable:operation="exposure"' in text and 'darktable:xmp_version="5"' in text
    assert sorted(p.name for p in raw_folder.iterdir()) == sorted(
        [p.name for p in raws] + [f"{p.name}.xmp" for p in raws]
    )


def test_tag_a_heic_folder(capsys, tiny_card: Path, tmp_path: Path) -> None:
    folder = tmp_path / "iphone"
    for i in range(3):
        write_heic(folder / f"IMG_{i:04d}.HEIC", two_halves(400, 300 + 10 * i), orientation=6)
    heics = sorted(folder.glob("*.HEIC"))
    code, lines, err = run(capsys, "tag", "--model", tiny_card, "--min-confidence", "0", folder)
    assert code == 0, err
    assert len(lines) == 3
    for heic in heics:
        assert (folder / f"{heic.name}.xmp").is_file()
        assert sidecar.read_sidecar(heic).scene is not None


def test_shared_format_files_are_each_classified_or_reported(
    capsys, tiny_card: Path, tmp_path: Path
) -> None:
    """The real phone files, the truncated NEF and the hostile HEIFs in one run: one line each,
    the hostile ones as errors, the rest classified; the run completes (exit 1: some failed)."""
    if not FORMATS_DATA.is_dir():
        pytest.skip("../shared/data/formats not found")
    files = sorted(
        p for sub in ("heic", "avif", "raw", "hostile") for p in (FORMATS_DATA / sub).iterdir()
    )
    code, lines, err = run(capsys, "classify", "--model", tiny_card, *files)
    assert code == 1 and "3 photos failed" in err, err  # completed, the 3 hostile ones failed
    by_path = {line.split("\t")[0]: line for line in lines}
    assert set(by_path) == {str(p) for p in files}
    for path, line in by_path.items():
        if "/hostile/" in path:
            assert "ERROR" in line and ("corrupt" in line or "not a readable image" in line)
        else:
            assert "ERROR" not in line, line


def test_session_lists_heic_and_raw(tmp_path: Path, raw_folder: Path) -> None:
    write_heic(raw_folder / "phone.heic", two_halves(200, 150))
    session = Session.open(raw_folder)
    assert sorted(r.name for r in session.records) == [
        "IMG_0000.dng",
        "IMG_0001.dng",
        "IMG_0002.dng",
        "phone.heic",
    ]
    assert session.records[0].sidecar_path == raw_folder / "IMG_0000.dng.xmp"
    assert session.records[0].sidecar_error is None


# ----------------------------------------------------------------------------- RAW + JPEG twins


@pytest.fixture
def twins(tmp_path: Path) -> Path:
    return write_raw_jpeg_pair(tmp_path / "twins")


def test_base_naming_gives_img_xmp_to_the_raw_and_the_jpeg_its_own(
    capsys, tiny_card: Path, twins: Path
) -> None:
    code, lines, err = run(
        capsys,
        "tag",
        "--model",
        tiny_card,
        "--min-confidence",
        "0",
        "--sidecar-name",
        "base",
        twins,
    )
    assert code == 0, err
    written = {line.split("\t")[0]: line.split("\t")[-1] for line in lines}
    assert written == {
        str(twins / "IMG_0001.dng"): "IMG_0001.xmp",
        str(twins / "IMG_0001.jpg"): "IMG_0001.jpg.xmp",  # not the RAW's IMG_0001.xmp
        str(twins / "IMG_0002.jpg"): "IMG_0002.xmp",
    }
    raw_info = sidecar.read_sidecar(twins / "IMG_0001.dng", naming="base")
    jpg_info = sidecar.read_sidecar(twins / "IMG_0001.jpg", naming="base")
    assert raw_info.path == twins / "IMG_0001.xmp"
    assert jpg_info.path == twins / "IMG_0001.jpg.xmp"


def test_a_lightroom_sidecar_of_the_raw_is_not_read_as_the_jpegs(twins: Path) -> None:
    """IMG.xmp beside IMG.dng + IMG.jpg is the RAW's: the JPEG neither reads nor updates it."""
    tag = sidecar.SceneTag("sea", "manual")
    sidecar.write_scene(twins / "IMG_0001.dng", tag, naming="base")
    assert (twins / "IMG_0001.xmp").is_file()
    assert (
        sidecar.read_sidecar(twins / "IMG_0001.dng").scene.label == "sea"
    )  # ext naming reads it too
    assert sidecar.read_sidecar(twins / "IMG_0001.jpg").path is None
    result = sidecar.write_scene(twins / "IMG_0001.jpg", sidecar.SceneTag("forest", "manual"))
    assert result.path == twins / "IMG_0001.jpg.xmp"
    assert sidecar.read_sidecar(twins / "IMG_0001.dng").scene.label == "sea"


def test_writing_sidecars_does_not_relist_the_folder(twins: Path, monkeypatch) -> None:
    from app.photos import formats

    listings = []
    real_scandir = formats._scandir
    monkeypatch.setattr(formats, "_scandir", lambda p: listings.append(p) or real_scandir(p))
    for i in range(5):
        make_photo(twins / f"more_{i}.jpg")
    for photo in sorted(twins.glob("*.jpg")):
        sidecar.write_scene(photo, sidecar.SceneTag("sea", "manual"), naming="base")
    assert len(listings) == 1
    assert (
        sidecar.read_sidecar(twins / "IMG_0001.jpg", naming="base").path.name == "IMG_0001.jpg.xmp"
    )
    (twins / "IMG_0003.dng").write_bytes(b"")  # a new photo is seen at the next lookup
    assert formats.same_stem_photos(twins / "IMG_0003.jpg") == [twins / "IMG_0003.dng"]
