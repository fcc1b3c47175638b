"""The freedesktop.org thumbnail store (~/.cache/thumbnails), shared with file managers,
digiKam, darktable and every other program that follows the spec. No Qt here.

Thumbnail Managing Standard 0.9: a thumbnail of at most N x N pixels lives in
`$XDG_CACHE_HOME/thumbnails/<size>/<md5 of the file's URI>.png` (normal 128, large 256,
x-large 512, xx-large 1024), a PNG whose `Thumb::URI` and `Thumb::MTime` text chunks say which
file, at which modification time, it shows; a thumbnail whose MTime (or Size, when present)
no longer matches the file is stale and is made again. Files are 0600, folders 0700, written
to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import quote_from_bytes

from PIL import Image, PngImagePlugin

SPEC_SIZES = {128: "normal", 256: "large", 512: "x-large", 1024: "xx-large"}
SOFTWARE = "Scene Tagger"
# GLib's g_filename_to_uri leaves these unescaped in a path; matching it means GNOME's file
# manager and this app compute the same file name for the same photo.
_URI_SAFE = "/!$&'()*+,;=:@-._~"


def store_root(environ: dict[str, str] | None = None) -> Path | None:
    """Where the shared store lives; None off Linux/BSD (the spec is freedesktop's)."""
    env = os.environ if environ is None else environ
    if not (sys.platform.startswith("linux") or "bsd" in sys.platform):
        return None
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "thumbnails"


def file_uri(path: str | os.PathLike[str]) -> str:
    """file:///abs/path with the bytes of the name percent-encoded the way GLib does it."""
    raw = os.fsencode(os.path.abspath(path))
    return "file://" + quote_from_bytes(raw, safe=_URI_SAFE)


def thumbnail_path(root: Path, path: str | os.PathLike[str], side: int) -> Path | None:
    folder = SPEC_SIZES.get(side)
    if folder is None:
        return None
    return root / folder / (hashlib.md5(file_uri(path).encode("ascii")).hexdigest() + ".png")


def _stat_keys(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(int(st.st_mtime)), str(st.st_size)


def read(root: Path, path: str | os.PathLike[str], side: int) -> Image.Image | None:
    """A valid shared thumbnail of `path`, loaded; None when absent, stale or unreadable."""
    thumb = thumbnail_path(root, path, side)
    keys = _stat_keys(path)
    if thumb is None or keys is None or not thumb.is_file():
        return None
    mtime, size = keys
    try:
        with Image.open(thumb) as img:
            text = getattr(img, "text", {}) or {}
            if text.get("Thumb::URI") != file_uri(path) or text.get("Thumb::MTime") != mtime:
                return None
            if "Thumb::Size" in text and text["Thumb::Size"] != size:
                return None
            img.load()
            return img.copy()
    except Exception:  # a damaged or foreign file is simply made again
        return None


def write(root: Path, path: str | os.PathLike[str], side: int, img: Image.Image) -> Path | None:
    """Store `img` (at most side x side) as the shared thumbnail of `path`; None when the
    store cannot be written (read-only, full): a thumbnail is a convenience, never an error."""
    thumb = thumbnail_path(root, path, side)
    keys = _stat_keys(path)
    if thumb is None or keys is None:
        return None
    if os.path.abspath(path).startswith(str(root) + os.sep):
        return None  # the spec: never thumbnail the thumbnails
    info = PngImagePlugin.PngInfo()
    info.add_text("Thumb::URI", file_uri(path))
    info.add_text("Thumb::MTime", keys[0])
    info.add_text("Thumb::Size", keys[1])
    info.add_text("Software", SOFTWARE)
    tmp = thumb.with_name(f".{thumb.name}.{secrets.token_hex(4)}.tmp")
    try:
        thumb.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            img.save(f, "PNG", pnginfo=info)
        os.replace(tmp, thumb)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    return thumb
