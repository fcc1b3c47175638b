"""HEIC/HEIF, AVIF and camera RAW: opened, oriented and sized the way the model sees a JPEG;
real phone files and hostile ones from ../shared/data/formats; every failure a clear message."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from formats_fixtures import (
    BLUE,
    FORMATS_DATA,
    RED,
    exif_with_orientation,
    two_halves,
    write_dng,
    write_heic,
)
from PIL import Image

from app.photos import formats, imaging, rawfiles

pytest.importorskip("pillow_heif")  # writes the HEIC fixtures
rawpy = pytest.importorskip("rawpy")


def _close(pixel: np.ndarray, colour: tuple[int, int, int], tol: int = 30) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tol))


def fixture(rel: str) -> Path:
    path = FORMATS_DATA / rel
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared/data/formats)")
    return path


# ----------------------------------------------------------------------------- which files


def test_extensions_cover_phones_and_raw_cameras(tmp_path: Path) -> None:
    names = [
        "a.HEIC",
        "b.heif",
        "c.avif",
        "d.hif",
        "e.CR2",
        "f.cr3",
        "g.NEF",
        "h.nrw",
        "i.ARW",
        "j.dng",
        "k.RAF",
        "l.orf",
        "m.RW2",
        "n.pef",
        "o.SRW",
        "p.jpg",
        "q.txt",
        "._r.nef",
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    found = [p.name for p in imaging.list_photos(tmp_path)]
    assert found == sorted(n for n in names if n not in ("q.txt", "._r.nef"))
    assert formats.is_raw("IMG_0001.CR3") and not formats.is_raw("IMG_0001.heic")


# ----------------------------------------------------------------------------- HEIC / AVIF


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_heic_orientation_matches_the_same_photo_as_jpeg(tmp_path: Path, orientation: int) -> None:
    """A phone's HEIC and the JPEG it would have written show the same oriented pixels."""
    pixels = two_halves(320, 200)
    heic = write_heic(tmp_path / "IMG.heic", pixels, orientation)
    jpeg = tmp_path / "IMG.jpg"
    Image.fromarray(pixels).save(jpeg, quality=95, exif=exif_with_orientation(orientation))

    from_heic, from_jpeg = imaging.open_photo(heic), imaging.open_photo(jpeg)
    assert from_heic.size == from_jpeg.size
    assert imaging.probe_size(heic) == from_jpeg.size
    a, b = np.asarray(from_heic), np.asarray(from_jpeg)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 6
    pixels_heic, pixels_jpeg = imaging.load_pixels(heic), imaging.load_pixels(jpeg)
    assert np.abs(pixels_heic.astype(int) - pixels_jpeg.astype(int)).mean() < 6
    thumb = imaging.make_thumbnail(heic, 64)
    assert max(thumb.size) == 64 and (thumb.width > thumb.height) == (
        from_jpeg.width > from_jpeg.height
    )


def test_real_phone_heic_files_open_upright() -> None:
    portrait = fixture("heic/IMG_2927.HEIC")  # iPhone 11 Pro, rotated by the container
    landscape = fixture("heic/IMG_1034.heic")
    assert imaging.open_photo(portrait, min_side=300).size == (3024, 4032)
    assert imaging.probe_size(portrait) == (3024, 4032)
    assert imaging.open_photo(landscape, min_side=300).size == (4032, 3024)
    eof = fixture("heic/exif-at-eof.heic")
    assert imaging.load_pixels(eof).shape == (150, 150, 3)


def test_heic_grid_thumbnail() -> None:
    landscape = fixture("heic/IMG_1034.heic")
    thumb = imaging.make_thumbnail(landscape, 128)
    assert thumb.size == (128, 96) and thumb.mode == "RGB"


def test_heic_decoder_is_the_shippable_one() -> None:
    """pi-heif (LGPL libheif + libde265, no GPL x265) when installed, as in the packaged app."""
    pytest.importorskip("pi_heif")
    assert imaging.HEIF_DECODER == "pi_heif"


def test_real_avif_opens() -> None:
    avif = fixture("avif/32Bit-72dpi-sRGB-800x600.avif")
    assert imaging.AVIF_DECODER
    img = imaging.open_photo(avif)
    assert img.size == (800, 600) and img.mode == "RGB"


@pytest.mark.parametrize(
    "name",
    [
        "IllegalArgumentException.HeifReader.processBoxes.heif",
        "NegativeArraySizeException.ItemInfoBox.init.heif",
        "NullPointerException.HeifPictureHandler.processBox.heif",
    ],
)
def test_hostile_heif_is_a_clear_error_not_a_crash(name: str) -> None:
    path = fixture(f"hostile/{name}")
    start = time.perf_counter()
    with pytest.raises(imaging.ImageError) as err:
        imaging.load_pixels(path)
    assert time.perf_counter() - start < 30  # refused, not decoded forever (generous: busy CI)
    assert "corrupt" in str(err.value) or "not a readable image" in str(err.value)
    assert imaging.probe_size(path) is None or isinstance(imaging.probe_size(path), tuple)


# ----------------------------------------------------------------------------- RAW


def test_truncated_nef_is_classified_from_its_preview() -> None:
    nef = fixture("raw/D70s_truncated.nef")
    img = imaging.open_photo(nef, min_side=300)
    assert img.size == (425, 640)  # the embedded preview, portrait like the shot
    assert imaging.load_pixels(nef).shape == (150, 150, 3)


@pytest.mark.parametrize(
    "orientation,top,bottom", [(1, None, None), (6, RED, BLUE), (8, BLUE, RED)]
)
def test_dng_preview_is_turned_by_the_raw_orientation(
    tmp_path: Path, orientation: int, top, bottom
) -> None:
    dng = write_dng(tmp_path / "IMG.dng", two_halves(640, 480), orientation=orientation)
    before = dng.read_bytes()
    img = np.asarray(imaging.open_photo(dng, min_side=300))
    if orientation == 1:
        assert img.shape == (480, 640, 3)
        assert _close(img[240, 10], RED) and _close(img[240, -10], BLUE)
    else:
        assert img.shape == (640, 480, 3)
        assert _close(img[10, 240], top) and _close(img[-10, 240], bottom)
    assert imaging.load_pixels(dng).shape == (150, 150, 3)
    assert dng.read_bytes() == before  # opened read-only


def test_dng_with_a_tiny_preview_is_developed(tmp_path: Path) -> None:
    small = rawfiles.MIN_PREVIEW_SIDE - 40
    dng = write_dng(tmp_path / "IMG.dng", two_halves(small * 4 // 3, small), orientation=6)
    img = imaging.open_photo(dng, min_side=300)
    assert img.size == (300, 400)  # half of the 800x600 mosaic, turned upright
    thumb = imaging.make_thumbnail(dng, 64)  # the window's grid takes the preview as it is
    assert thumb.size == (48, 64)
    assert _close(np.asarray(thumb)[5, 24], RED) and _close(np.asarray(thumb)[-5, 24], BLUE)
    assert not _close(np.asarray(img)[5, 150], RED)  # developed colours are not the preview's


def test_dng_without_preview_is_developed(tmp_path: Path) -> None:
    dng = write_dng(tmp_path / "IMG.dng", None)
    img = np.asarray(imaging.open_photo(dng))
    assert img.shape == (300, 400, 3)
    left, right = img[:, :150].mean(axis=(0, 1)), img[:, 250:].mean(axis=(0, 1))
    assert left[0] > left[2] and right[2] > right[0]  # reddish left, bluish right


def test_truncated_raw_with_a_tiny_preview_is_a_clear_error(tmp_path: Path) -> None:
    dng = write_dng(tmp_path / "IMG.dng", two_halves(80, 60), truncate=True)
    with pytest.raises(imaging.ImageError) as err:
        imaging.load_pixels(dng)
    message = str(err.value)
    assert "preview only 80x60" in message and str(rawfiles.MIN_PREVIEW_SIDE) in message
    assert "cannot" in message


@pytest.mark.parametrize("content", [b"", b"not a raw file at all" * 100])
def test_garbage_with_a_raw_name_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "IMG_0001.CR2"
    path.write_bytes(content)
    with pytest.raises(imaging.ImageError, match="RAW"):
        imaging.open_photo(path)
    assert imaging.probe_size(path) is None


def test_missing_raw_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(imaging.ImageError, match="not found"):
        imaging.open_photo(tmp_path / "gone.nef")
