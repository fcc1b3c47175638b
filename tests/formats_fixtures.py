"""Builders for photo formats beyond Pillow's own: HEIC (pillow-heif) and DNG with an embedded
JPEG preview (tifffile + imagecodecs). Shared by tests/test_formats*.py and bench/bench_formats.py.

The real files the issue names live in ../shared/data/formats (see FORMATS_DATA); tests that
need them skip when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

FORMATS_DATA = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "formats"
).resolve()

RED, BLUE = (220, 20, 20), (20, 20, 220)


def two_halves(w: int, h: int) -> np.ndarray:
    """Left half red, right half blue: orientation mistakes show as the wrong colour on top."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = RED
    arr[:, w // 2 :] = BLUE
    return arr


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def write_heic(path: Path, pixels: np.ndarray, orientation: int = 1, quality: int = 90) -> Path:
    """A HEIC as a phone writes it: pillow-heif turns the EXIF orientation into the container's
    rotation (irot/imir), which is where HEIF readers take it from."""
    import pillow_heif  # the encoder (x265); the app itself reads through pi-heif

    from app.photos import imaging

    img = Image.fromarray(pixels, "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    pillow_heif.register_heif_opener()
    try:
        img.save(path, format="HEIF", quality=quality, exif=exif_with_orientation(orientation))
    finally:
        imaging._register_heif()  # reading goes back to the app's own choice of decoder
    return path


def write_dng(
    path: Path,
    preview: np.ndarray | None,
    raw_shape: tuple[int, int] = (600, 800),
    orientation: int = 1,
    truncate: bool = False,
) -> Path:
    """A minimal DNG: IFD0 holds the JPEG preview (or the raw data when `preview` is None) and
    the camera's orientation; a SubIFD holds 12-bit RGGB mosaic data LibRaw can develop (its
    left half reddish, its right half bluish). `truncate` cuts the raw data short."""
    import tifffile

    h, w = raw_shape
    rng = np.random.default_rng(0)
    cfa = np.full((h, w), 800, np.uint16)
    left = np.arange(w // 2) < w // 4
    cfa[0::2, 0::2] = np.where(left, 3000, 300)[None, :]  # R sites
    cfa[1::2, 1::2] = np.where(left, 300, 3000)[None, :]  # B sites
    cfa += rng.integers(0, 50, cfa.shape, dtype=np.uint16)
    ifd0 = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "Scene Tagger Test Camera", True),  # UniqueCameraModel
        (271, "s", 0, "Scene Tagger", True),
        (272, "s", 0, "Test Camera", True),
        (274, "H", 1, orientation, True),
    ]
    raw_tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, 4095, True),  # WhiteLevel
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1 D65
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path) as tif:
        if preview is not None:
            ph = preview.shape[0]
            tif.write(
                preview,
                photometric="rgb",
                compression="jpeg",
                rowsperstrip=ph,
                subfiletype=1,
                subifds=1,
                extratags=ifd0,
            )
            tif.write(cfa, photometric=32803, subfiletype=0, extratags=raw_tags)
        else:
            tif.write(cfa, photometric=32803, subfiletype=0, extratags=ifd0 + raw_tags)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - cfa.nbytes + 1000])
    return path


def write_raw_jpeg_pair(folder: Path) -> Path:
    """IMG_0001.dng + IMG_0001.jpg (a camera's RAW + JPEG) and IMG_0002.jpg alone."""
    from conftest import make_photo

    write_dng(folder / "IMG_0001.dng", two_halves(640, 480))
    make_photo(folder / "IMG_0001.jpg", (640, 480))
    make_photo(folder / "IMG_0002.jpg", (640, 480), seed=2)  # no RAW beside it
    return folder
