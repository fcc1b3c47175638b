"""Camera RAW files, read through rawpy (LibRaw): the embedded JPEG preview, else a half-size
development. The RAW file is only ever opened for reading.

Every camera stores a JPEG rendering of the shot inside its RAW (usually full size, sometimes
1-2 MP, on old bodies 640 px): that is what the photographer saw on the camera, it decodes in
milliseconds with JPEG draft scaling, and it is what the scene model is given. LibRaw picks the
largest preview. The preview is stored unrotated, so it is turned by the RAW's own orientation
tag (LibRaw's `flip`), not by whatever EXIF the preview may carry.

A preview whose shorter side is under MIN_PREVIEW_SIDE is too small to classify as reliably as
the photo itself (measured in docs/bench_formats.md); such a RAW, or one without a preview, is
developed with LibRaw at half size (2x2 binning, no demosaicing). A RAW whose data cannot be
developed either (truncated, unknown camera) is an error for that photo, naming both reasons.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageOps

from app.photos.oserrors import os_reason


class RawError(Exception):
    """A RAW file that cannot be read; str() is a message fit to show the user (app.photos.imaging
    turns it into its ImageError)."""


# Shorter side, in pixels, below which a preview is not used for classification. Measured
# (bench/bench_formats.py, docs/bench_formats.md) on 110 real photos shrunk to previews: at
# 240 px 97% of labels match the full photo's, at 160 px 93%, at 120 px 91%; the model's own
# JPEG path never decodes under 300 px. So a 160x120 EXIF thumbnail is not trusted.
MIN_PREVIEW_SIDE = 240

# LibRaw's `flip` (bit 0: mirror left-right, bit 1: mirror top-bottom, bit 2: transpose)
# as an EXIF orientation value.
_FLIP_TO_EXIF = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _rawpy():
    try:
        import rawpy
    except ImportError:
        raise RawError(
            "RAW support is not installed (pip install rawpy), so this RAW file cannot be read"
        ) from None
    return rawpy


def _why(exc: BaseException) -> str:
    """LibRaw's errors carry bytes (b'Input/output error'): the text, or the error's name."""
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text or type(exc).__name__


def orient(img: Image.Image, exif_orientation: int) -> Image.Image:
    method = _EXIF_TRANSPOSE.get(exif_orientation)
    return img.transpose(method) if method is not None else img


def _preview(
    raw, rawpy, min_side: int | None, max_pixels: int
) -> tuple[Image.Image | None, str | None]:
    """The largest embedded preview, decoded (unoriented), or why there is none."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None, "no embedded preview"
    except rawpy.LibRawError as exc:
        return None, f"embedded preview unreadable ({_why(exc)})"
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        arr = np.asarray(thumb.data)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            return None, f"embedded preview has an unusual layout {arr.shape}"
        return Image.fromarray(arr, "RGB"), None
    try:
        img = Image.open(io.BytesIO(bytes(thumb.data)))
        w, h = img.size
        if w * h > max_pixels:
            return None, f"embedded preview claims {w}x{h} pixels, refused"
        if min_side:
            img.draft("RGB", (min_side, min_side))
        img.load()
        return _rgb(img), None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        return None, f"embedded preview unreadable ({exc or type(exc).__name__})"


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def _develop(raw, rawpy) -> np.ndarray:
    """Half-size development (LibRaw applies the orientation itself). Raises LibRawError."""
    return raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)


def open_raw(
    path: str | os.PathLike[str],
    min_side: int | None = None,
    *,
    any_preview: bool = False,
    max_pixels: int = 250_000_000,
) -> Image.Image:
    """An oriented RGB image of the RAW at `path`. Raises RawError with a user-readable message.

    `min_side` lets a big JPEG preview decode at a reduced DCT scale; `any_preview` accepts a
    preview of any size (thumbnails in the window), else one under MIN_PREVIEW_SIDE is not
    trusted and the RAW is developed instead.
    """
    rawpy = _rawpy()
    path = os.fspath(path)
    try:
        with open(path, "rb"):  # LibRaw says "Input/output error" for all of these
            pass
        raw = rawpy.imread(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise RawError(os_reason(exc, EISDIR="is a folder, not a photo")) from None
    except rawpy.LibRawFileUnsupportedError:
        raise RawError("not a RAW file LibRaw can read (unknown camera or damaged file)") from None
    except (rawpy.LibRawError, OSError) as exc:
        raise RawError(f"cannot open RAW file: {_why(exc)}") from None
    with raw:
        orientation = _FLIP_TO_EXIF.get(int(raw.sizes.flip), 1)
        preview, why = _preview(raw, rawpy, min_side, max_pixels)
        if preview is not None:
            w, h = preview.size
            if any_preview or min(w, h) >= MIN_PREVIEW_SIDE:
                return orient(preview, orientation)
            why = f"embedded preview only {w}x{h} (classifying needs {MIN_PREVIEW_SIDE} px or more)"
        try:
            arr = _develop(raw, rawpy)
        except rawpy.LibRawIOError:
            raise RawError(f"{why}, and the RAW data cannot be read (truncated file?)") from None
        except (rawpy.LibRawError, MemoryError) as exc:
            raise RawError(f"{why}, and the RAW data cannot be developed ({_why(exc)})") from None
    img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    if min_side and min(img.size) > 2 * min_side:
        img = ImageOps.contain(img, _shrunk(img.size, min_side), Image.Resampling.BILINEAR)
    return img


def _shrunk(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """A size whose shorter side is min_side and whose aspect is that of `size`."""
    w, h = size
    scale = min_side / min(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def raw_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) of the developed RAW after orientation, from the header; None if unreadable."""
    try:
        rawpy = _rawpy()
        with rawpy.imread(os.fspath(path)) as raw:
            s = raw.sizes
            w, h = int(s.width), int(s.height)
            return (h, w) if int(s.flip) & 4 else (w, h)
    except Exception:
        return None
