"""app.photos.imaging: every format and oddity a photo folder holds, read the way the model sees it."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_photo
from PIL import Image

from app.photos import imaging
from tests.unprivileged import run_python

RED, BLUE = (220, 20, 20), (20, 20, 220)


def _close(pixel: np.ndarray, colour: tuple[int, int, int], tol: int = 25) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tol))


def two_halves(w: int, h: int) -> Image.Image:
    """Left half red, right half blue."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = RED
    arr[:, w // 2 :] = BLUE
    return Image.fromarray(arr, "RGB")


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A 100-byte PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("TIFF", "tif"), ("BMP", "bmp")])
def test_lossless_formats_give_identical_pixels(tmp_path: Path, fmt: str, ext: str) -> None:
    reference = imaging.load_pixels(make_photo(tmp_path / "ref.png", seed=3))
    other = imaging.load_pixels(make_photo(tmp_path / f"photo.{ext}", seed=3, fmt=fmt))
    assert other.shape == (150, 150, 3) and other.dtype == np.uint8
    np.testing.assert_array_equal(other, reference)


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("WEBP", "webp")])
def test_lossy_formats_stay_close_to_the_original(tmp_path: Path, fmt: str, ext: str) -> None:
    reference = imaging.load_pixels(make_photo(tmp_path / "ref.png", seed=4)).astype(int)
    lossy = imaging.load_pixels(make_photo(tmp_path / f"photo.{ext}", seed=4, fmt=fmt)).astype(int)
    assert lossy.shape == (150, 150, 3)
    assert np.abs(lossy - reference).mean() < 12


def test_gif_reads_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (60, 40), RED), Image.new("RGB", (60, 40), BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as img:
        assert img.n_frames == 2
    px = imaging.load_pixels(path)
    assert _close(px[75, 75], RED)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = two_halves(200, 100)  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the left column becomes the top row
    rotated = tmp_path / "rotated.jpg"
    img.save(rotated, exif=exif.tobytes(), quality=95)
    plain = tmp_path / "plain.jpg"
    img.save(plain, quality=95)

    px = imaging.load_pixels(rotated)
    assert _close(px[10, 75], RED) and _close(px[140, 75], BLUE)  # top red, bottom blue
    px_plain = imaging.load_pixels(plain)
    assert _close(px_plain[75, 10], RED) and _close(px_plain[75, 140], BLUE)
    assert imaging.probe_size(rotated) == (100, 200)
    assert imaging.make_thumbnail(rotated, 50).size == (25, 50)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_becomes_rgb(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"cmyk.{fmt.lower()}"
    Image.new("CMYK", (80, 60), (0, 255, 255, 0)).save(path, format=fmt)  # pure red in CMYK
    assert _close(imaging.load_pixels(path)[75, 75], (255, 0, 0), tol=30)


def test_16bit_greyscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 200).astype(np.uint16), (100, 1))
    ramp[:, :20] = 30000  # a mid grey block at the left edge
    path = tmp_path / "grey16.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")
    px = imaging.load_pixels(path)
    assert abs(int(px[75, 2, 0]) - round(30000 / 65535 * 255)) <= 3  # ~117, not 255
    assert px[75, 30, 0] < px[75, 90, 0] < px[75, 148, 0]  # the ramp survives
    assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()


def test_palette_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("P", (60, 60), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * (254 * 3))
    img.paste(1, (0, 0, 30, 60))  # left half: opaque red-ish; right half index 0: transparent
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    px = imaging.load_pixels(path)
    assert _close(px[75, 10], (200, 30, 30), tol=5)
    assert _close(px[75, 140], (255, 255, 255), tol=5)


def test_rgba_png_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(path)
    assert _close(imaging.load_pixels(path)[75, 75], (255, 255, 255), tol=1)


def test_greyscale_jpeg_gives_equal_channels(tmp_path: Path) -> None:
    path = tmp_path / "grey.jpg"
    Image.fromarray(np.tile(np.arange(0, 250, 2, dtype=np.uint8), (80, 1)), "L").save(path)
    px = imaging.load_pixels(path)
    assert px.shape == (150, 150, 3)
    assert (px[..., 0] == px[..., 2]).all() and px[75, 140, 0] > px[75, 10, 0] + 100


def test_big_jpeg_is_draft_decoded_to_the_same_picture(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    two_halves(2400, 1600).save(path, quality=90)
    px = imaging.load_pixels(path)
    assert _close(px[75, 20], RED) and _close(px[75, 130], BLUE)


# --- files that are not good photos --------------------------------------------------------


def _error(source: Path | bytes) -> str:
    with pytest.raises(imaging.ImageError) as info:
        imaging.load_pixels(source)
    return str(info.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "not a readable image" in _error(path)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: bread, milk\n" * 20)
    assert "not a readable image" in _error(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    full = make_photo(tmp_path / "full.jpg", size=(600, 400))
    data = full.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(path).lower()


def test_corrupt_jpeg(tmp_path: Path) -> None:
    data = make_photo(tmp_path / "full.jpg").read_bytes()
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(
        data[:20] + bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8))
    )
    assert _error(path)


def test_decompression_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = png_bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 200
    message = _error(path)
    assert "too large" in message and "decompression bomb" in message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert _error(tmp_path / "gone.jpg") == "file not found"
    (tmp_path / "dir.jpg").mkdir()
    assert "folder" in _error(tmp_path / "dir.jpg")


LOAD = """
import sys
from app.photos import imaging
try:
    imaging.load_pixels(sys.argv[1])
except imaging.ImageError as exc:
    print(exc)
"""


def test_unreadable_file(tmp_path: Path) -> None:
    path = make_photo(tmp_path / "secret.jpg")
    path.chmod(0)
    try:
        done = run_python(LOAD, path, denied=path)
        assert done.returncode == 0 and done.stdout.strip() == "permission denied", done.stderr
    finally:
        path.chmod(0o644)


def test_bytes_source(tmp_path: Path) -> None:
    buf = io.BytesIO()
    two_halves(100, 100).save(buf, "PNG")
    assert _close(imaging.load_pixels(buf.getvalue())[75, 10], RED)


# --- finding photos ------------------------------------------------------------------------


def test_list_photos_filters_sorts_and_recurses(tmp_path: Path) -> None:
    make_photo(tmp_path / "b.JPG")
    make_photo(tmp_path / "a.png", fmt="PNG")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "._a.jpg").write_bytes(b"mac resource fork")
    make_photo(tmp_path / "sub" / "c.jpg")
    make_photo(tmp_path / ".hidden" / "d.jpg")
    names = [p.name for p in imaging.list_photos(tmp_path)]
    assert names == ["a.png", "b.JPG"]
    deep = [
        p.relative_to(tmp_path).as_posix() for p in imaging.list_photos(tmp_path, recursive=True)
    ]
    assert deep == ["a.png", "b.JPG", "sub/c.jpg"]


def test_list_photos_survives_symlink_loops(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_photo(root / "a.jpg")
    make_photo(root / "sub" / "b.jpg")
    os.symlink(root, root / "sub" / "loop")  # sub/loop -> root: an endless tree if followed
    os.symlink(root / "sub", root / "sub" / "self")
    found = imaging.list_photos(root, recursive=True)
    assert sorted(p.name for p in found) == ["a.jpg", "b.jpg"]


def test_unicode_and_spaces_in_names(tmp_path: Path) -> None:
    path = make_photo(tmp_path / "été à la mer" / "山 と 海 01.jpg")
    assert imaging.list_photos(path.parent) == [path]
    assert imaging.load_pixels(path).shape == (150, 150, 3)
