"""Opening photos: formats, EXIF orientation, draft decoding of big JPEGs, thumbnails.

`load_pixels` is the first half of the contract (the second is `scenes.to_input`): the app and
the training module both turn a file into model pixels through it.
"""

from __future__ import annotations

import importlib
import io
import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from app.defaults import INPUT_SIZE
from app.photos import formats, rawfiles  # rawfiles loads rawpy only when a RAW is opened

# PHOTO_EXTENSIONS and is_photo live in app.photos.formats and are re-exported here, where callers
# have always found them.
from app.photos.formats import PHOTO_EXTENSIONS as PHOTO_EXTENSIONS
from app.photos.formats import is_photo as is_photo

# Listing folders lives in app.photos.listing; re-exported where callers have always found it.
from app.photos.listing import ListingError as ListingError
from app.photos.listing import iter_photos as iter_photos
from app.photos.listing import list_photos as list_photos
from app.photos.oserrors import os_reason

# Pixels above which a file is refused as a likely decompression bomb (a 200 MP photo passes).
MAX_PIXELS = 250_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not grey pixels


class ImageError(Exception):
    """A photo that cannot be read; str() is a message fit to show the user. `not_a_photo`: the
    file is no image at all (text named .jpg, an unknown format), as opposed to a photo this app
    cannot decode now (too large, truncated, no HEIC decoder, no permission)."""

    def __init__(self, message: str, not_a_photo: bool = False) -> None:
        super().__init__(message)
        self.not_a_photo = not_a_photo


def _register_heif() -> str | None:
    """Teach Pillow HEIC/HEIF; the decoder's name, or None when none is installed.

    pi-heif is pillow-heif without the x265 encoder: libheif + libde265 (LGPL) only, which
    is what the packaged app may ship (x265 is GPL). pillow-heif serves when it is the one
    installed, and also uses a HEIC's embedded thumbnail for `draft()`. Depth maps and
    auxiliary images are never decoded. libheif applies the container's rotation (irot/imir)
    and the plugin resets the EXIF orientation to 1, so `exif_transpose` never turns twice.
    """
    for name in ("pi_heif", "pillow_heif"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.register_heif_opener(thumbnails=True, depth_images=False, aux_images=False)
        return name
    return None


HEIF_DECODER = _register_heif()
# Pillow >= 11.3 reads AVIF itself (libavif in its wheels).
AVIF_DECODER = ".avif" in Image.registered_extensions()


def _missing_decoder(source: str | os.PathLike[str] | bytes) -> str | None:
    if isinstance(source, bytes) or not formats.is_heif(source):
        return None
    if os.fspath(source).lower().endswith(".avif"):
        return None if AVIF_DECODER else "AVIF needs Pillow 11.3 or later (pip install -U pillow)"
    return None if HEIF_DECODER else "HEIC/HEIF support is not installed (pip install pi-heif)"


def _open(source: str | os.PathLike[str] | bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if isinstance(source, bytes):
                img = Image.open(io.BytesIO(source))
            else:
                img = Image.open(source)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise ImageError(os_reason(exc, EISDIR="is a folder, not a photo")) from None
    except UnidentifiedImageError:
        missing = _missing_decoder(source)
        if missing:
            raise ImageError(missing) from None
        raise ImageError(
            "not a readable image (unknown format or corrupt file)", not_a_photo=True
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"image too large, refused as a possible decompression bomb ({exc})"
        ) from None
    except OSError as exc:  # an errno: the file system said no; none: the decoder did
        raise ImageError(f"cannot open: {os_reason(exc)}") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError("image has no pixels", not_a_photo=True)
    if w * h > MAX_PIXELS:
        img.close()
        raise ImageError(
            f"image too large ({w}x{h} = {w * h / 1e6:.0f} MP, limit {MAX_PIXELS / 1e6:.0f} MP), "
            "refused as a possible decompression bomb"
        )
    return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: 16-bit scaled (not clipped), alpha composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else max(float(arr.max()), 1.0)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "CMYK":
        icc = img.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                return ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
            except Exception:
                pass  # a broken profile: fall back to the plain conversion below
        return img.convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def open_photo(
    source: str | os.PathLike[str] | bytes, min_side: int | None = None, thumbnail: bool = False
) -> Image.Image:
    """Open, orient (EXIF) and convert to RGB.

    With `min_side`, JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still keeps
    both sides >= min_side, which makes big photos several times cheaper to read.
    HEIF files use an embedded thumbnail the same way when one is big enough, and RAW files
    their embedded JPEG preview (app.photos.rawfiles).
    Raises ImageError with a user-readable message.
    """
    if not isinstance(source, bytes) and formats.is_raw(source):
        try:
            return rawfiles.open_raw(source, min_side, any_preview=thumbnail, max_pixels=MAX_PIXELS)
        except rawfiles.RawError as exc:
            raise ImageError(str(exc)) from None
    img = _open(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if getattr(img, "is_animated", False):
                img.seek(0)
            if min_side and img.format in ("JPEG", "HEIF"):
                img.draft("RGB", (min_side, min_side))
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb(img)
    except ImageError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        RuntimeError,
        struct.error,
    ) as exc:  # RuntimeError: libheif's decoding errors
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower():
            raise ImageError("file is truncated (incomplete download or copy?)") from None
        raise ImageError(f"corrupt or unsupported image: {msg}") from None
    except MemoryError:
        raise ImageError("not enough memory to decode this image") from None


def resize_for_model(img: Image.Image, size: int = INPUT_SIZE) -> np.ndarray:
    """RGB image -> uint8 array (size, size, 3); antialiased bilinear, aspect not kept (as trained)."""
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.shape != (size, size, 3):
        raise ImageError(f"unexpected pixel layout {arr.shape}")
    return arr


def load_pixels(source: str | os.PathLike[str] | bytes, size: int = INPUT_SIZE) -> np.ndarray:
    """A photo file -> the uint8 (size, size, 3) pixels the model sees. Raises ImageError."""
    return resize_for_model(open_photo(source, min_side=2 * size), size)


def _open_problem(source: str | os.PathLike[str]) -> ImageError | None:
    """Why `source` cannot be decoded as the model would decode it, or None when it can."""
    try:
        open_photo(source, min_side=2 * INPUT_SIZE).close()
    except ImageError as exc:
        return exc
    return None


def unreadable(source: str | os.PathLike[str]) -> str | None:
    """Why `source` is not a photo this app can read (ImageError's words), or None when it is:
    decoded as the model would decode it. Such a file has no features: nothing to learn from."""
    problem = _open_problem(source)
    return None if problem is None else str(problem)


def not_a_photo(source: str | os.PathLike[str]) -> str | None:
    """Why `source` is no image at all (ImageError's words), or None for a photo, readable or
    not: the one rule for what may get a scene by hand (CLI `label`, the window's keys and drops
    through PhotoRecord.labelable). A panorama over the size limit, a truncated copy or a HEIC
    without its decoder is still a photo its owner may tag."""
    problem = _open_problem(source)
    return str(problem) if problem is not None and problem.not_a_photo else None


def make_thumbnail(source: str | os.PathLike[str], max_side: int = 256) -> Image.Image:
    """An oriented RGB thumbnail whose longer side is at most max_side. Raises ImageError."""
    img = open_photo(source, min_side=max_side, thumbnail=True)
    img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return img


def probe_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) from the header only, after EXIF orientation; None when unreadable."""
    if formats.is_raw(path):
        return rawfiles.raw_size(path)
    try:
        with Image.open(path) as img:
            w, h = img.size
            try:
                orientation = img.getexif().get(0x0112, 1)
            except Exception:
                orientation = 1
            return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    except Exception:
        return None
