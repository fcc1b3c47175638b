"""Which files are photos, of which family (raster, HEIF/AVIF, RAW), and which share a name.

No Pillow, no torch: the sidecar writer asks this module which photo owns `IMG.xmp` when a
folder holds both `IMG.CR2` and `IMG.JPG`, and that must stay cheap to import.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from app.defaults import RAW_JPEG_MODES

# Formats Pillow reads by itself.
RASTER_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)
# HEIC/HEIF through pillow-heif (libheif + libde265); AVIF through Pillow (>= 11.3, libavif).
# `.hif` is what Canon and Fujifilm cameras call their HEIF files.
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif", ".avif"})
# Camera RAW through rawpy (LibRaw): classified from the embedded JPEG preview.
RAW_EXTENSIONS = frozenset(
    {
        ".cr2",
        ".cr3",
        ".crw",  # Canon
        ".nef",
        ".nrw",  # Nikon
        ".arw",
        ".srf",
        ".sr2",  # Sony
        ".dng",  # Adobe DNG (Leica, Pentax, Ricoh, phones)
        ".raf",  # Fujifilm
        ".orf",  # Olympus / OM System
        ".rw2",
        ".rwl",  # Panasonic, Leica
        ".pef",  # Pentax
        ".srw",  # Samsung
        ".3fr",
        ".iiq",
        ".erf",
        ".kdc",
        ".mef",
        ".mos",
        ".mrw",
        ".x3f",
    }
)
PHOTO_EXTENSIONS = RASTER_EXTENSIONS | HEIF_EXTENSIONS | RAW_EXTENSIONS

# The MIME types (freedesktop shared-mime-info names) a desktop gives files of each extension:
# the desktop entry lists them (app.cli.desktop), so a file manager's "Open With" offers the app for
# those photos. The first is the type shared-mime-info assigns; a test checks this table against
# the system's database where it has one. RAW types are also announced through their common
# parent, image/x-dcraw.
MIME_TYPES: dict[str, tuple[str, ...]] = {
    ".jpg": ("image/jpeg",),
    ".jpeg": ("image/jpeg",),
    ".jpe": ("image/jpeg",),
    ".jfif": ("image/jpeg",),
    ".png": ("image/png",),
    ".webp": ("image/webp",),
    ".tif": ("image/tiff",),
    ".tiff": ("image/tiff",),
    ".bmp": ("image/bmp",),
    ".gif": ("image/gif",),
    ".heic": ("image/heif", "image/heic"),
    ".heif": ("image/heif",),
    ".hif": ("image/heif",),
    ".avif": ("image/avif",),
    ".cr2": ("image/x-canon-cr2",),
    ".cr3": ("image/x-canon-cr3",),
    ".crw": ("image/x-canon-crw",),
    ".nef": ("image/x-nikon-nef",),
    ".nrw": ("image/x-nikon-nrw",),
    ".arw": ("image/x-sony-arw",),
    ".srf": ("image/x-sony-srf",),
    ".sr2": ("image/x-sony-sr2",),
    ".dng": ("image/x-adobe-dng",),
    ".raf": ("image/x-fuji-raf",),
    ".orf": ("image/x-olympus-orf",),
    ".rw2": ("image/x-panasonic-rw2",),
    ".rwl": ("image/x-panasonic-rw2",),  # Leica's RW2 (shared-mime-info has no name of its own)
    ".pef": ("image/x-pentax-pef",),
    ".srw": ("image/x-samsung-srw",),
    ".3fr": ("image/x-hasselblad-3fr",),
    ".iiq": ("image/x-phaseone-iiq",),
    ".erf": ("image/x-epson-erf",),
    ".kdc": ("image/x-kodak-kdc",),
    ".mef": ("image/x-mamiya-mef",),
    ".mos": ("image/x-leaf-mos",),
    ".mrw": ("image/x-minolta-mrw",),
    ".x3f": ("image/x-sigma-x3f",),
}
RAW_PARENT_MIME = "image/x-dcraw"


def photo_mime_types() -> list[str]:
    """Every MIME type of the photos the app opens, sorted, once each."""
    types = {t for ext in PHOTO_EXTENSIONS for t in MIME_TYPES[ext]}
    return sorted(types | {RAW_PARENT_MIME})


def _ext(path: str | os.PathLike[str]) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def is_photo(path: str | os.PathLike[str]) -> bool:
    name = os.fspath(path)
    return _ext(name) in PHOTO_EXTENSIONS and not os.path.basename(name).startswith("._")


def is_raw(path: str | os.PathLike[str]) -> bool:
    return _ext(path) in RAW_EXTENSIONS


def is_heif(path: str | os.PathLike[str]) -> bool:
    return _ext(path) in HEIF_EXTENSIONS


# ----------------------------------------------------------------------------- same-stem photos


class FolderIndex:
    """Names in a folder, grouped by a key, kept until the folder's mtime changes (LRU over
    `size` folders, thread-safe): looking something up for each of a folder's thousands of
    photos lists it once, not once per photo. The photo groups below and the sidecar finder's
    index of .xmp names (app.tagging.sidecar) are two of them."""

    def __init__(
        self,
        group: Callable[[str], str | None],
        size: int,
        names: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.group, self.size = group, size  # group(name): its key, or None to leave it out
        self.names = names or os.listdir
        self._lock = threading.Lock()
        self._folders: OrderedDict[str, tuple[int, dict[str, list[str]]]] = OrderedDict()

    def get(self, folder: str | os.PathLike[str], fresh: bool = False) -> dict[str, list[str]]:
        """key -> names; `fresh` lists again even when the mtime looks the same (before a write:
        two changes within the file system's mtime granularity look alike). {} when the folder
        cannot be listed."""
        key = os.fspath(folder) or "."
        try:
            mtime = os.stat(key).st_mtime_ns
        except OSError:
            return {}
        with self._lock:
            hit = self._folders.get(key)
            if hit and hit[0] == mtime and not fresh:
                self._folders.move_to_end(key)
                return hit[1]
        groups: dict[str, list[str]] = {}
        try:
            for name in self.names(key):
                k = self.group(name)
                if k is not None:
                    groups.setdefault(k, []).append(name)
        except OSError:
            return {}
        with self._lock:
            self._folders[key] = (mtime, groups)
            while len(self._folders) > self.size:
                self._folders.popitem(last=False)
        return groups

    def forget(self, folder: str | os.PathLike[str]) -> None:
        with self._lock:
            self._folders.pop(os.fspath(folder) or ".", None)

    def keep(self, folder: str | os.PathLike[str]) -> None:
        """The folder changed in a way that leaves these groups as they are (a sidecar written
        beside the photos): take its new mtime, keep the listing."""
        key = os.fspath(folder) or "."
        try:
            mtime = os.stat(key).st_mtime_ns
        except OSError:
            return
        with self._lock:
            hit = self._folders.get(key)
            if hit is not None:
                self._folders[key] = (mtime, hit[1])


def _scandir_names(folder: str) -> list[str]:
    with _scandir(folder) as entries:
        return [e.name for e in entries]


_scandir = os.scandir  # one name for the listing, so a test can count them
_photos = FolderIndex(
    lambda name: os.path.splitext(name)[0].lower() if is_photo(name) else None, 64, _scandir_names
)


def sidecar_written(folder: Path) -> None:
    """A sidecar we just wrote changed the folder's mtime, not its photos: keep the listing
    (else tagging a folder of n photos would list it n times)."""
    _photos.keep(folder)


def same_stem_photos(photo: str | os.PathLike[str]) -> list[Path]:
    """The other photos in the folder with the same name but another extension (IMG.CR2 for
    IMG.JPG), sorted; empty for a photo that stands alone."""
    photo = Path(photo)
    names = _photos.get(photo.parent).get(photo.stem.lower(), [])
    return [photo.with_name(n) for n in sorted(names) if n != photo.name]


def base_sidecar_owner(photo: str | os.PathLike[str]) -> Path:
    """The photo that owns the Adobe-style sidecar `IMG.xmp` among the photos named `IMG.*`.

    The RAW owns it (that is what Lightroom and Adobe Camera Raw write it for); with no RAW,
    or several, the first name in sorted order. Every other photo of the group keeps to its
    own `IMG.JPG.xmp`, whatever the naming setting, so two photos never share one sidecar.
    """
    photo = Path(photo)
    group = sorted([photo, *same_stem_photos(photo)], key=lambda p: p.name)
    raws = [p for p in group if is_raw(p)]
    return (raws or group)[0]


# ----------------------------------------------------------------------------- RAW + JPEG pairs

# What a camera writes beside its RAW when set to RAW+JPEG (Canon, Sony and Fujifilm may write
# RAW+HEIF instead): the camera's own rendering of the same exposure.
RENDERED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".heic", ".heif", ".hif"})

Entry = tuple[Path, tuple[Path, ...]]  # the photo to classify and show, the files tagged with it


def _pair(members: list[Path]) -> list[Entry]:
    """One folder's files of one stem, in name order: a RAW + JPEG pair becomes one entry (the
    JPEG shown and classified, every RAW of that name tagged with it); the rest stand alone."""
    raws = [m for m in members if is_raw(m)]
    rendered = [m for m in members if _ext(m) in RENDERED_EXTENSIONS]
    if not raws or not rendered:
        return [(m, ()) for m in members]
    primary = rendered[0]
    grouped = {primary, *raws}
    return [(primary, tuple(raws)), *((m, ()) for m in members if m not in grouped)]


def pair_raw_jpeg(photos: Iterable[Path]) -> Iterator[Entry]:
    """Entries for photos listed folder by folder in name order (imaging.iter_photos), with
    each RAW + JPEG pair (IMG_0001.CR2 + IMG_0001.JPG: same folder, same name up to the
    extension) as one entry, in listing order. Streams: a big folder's first photos come out at
    once, because the files named `IMG.*` follow each other in name order (whatever sorts
    between two of them starts with `IMG.` too), so a name is complete at the first later file
    that does not start with it."""
    pending: OrderedDict[tuple[Path, str], list[Path]] = OrderedDict()
    for photo in photos:
        photo = Path(photo)
        folder, name = photo.parent, photo.name
        while pending:  # the oldest names first, so entries keep the listing's order
            (f, prefix), members = next(iter(pending.items()))
            if name.startswith(prefix) if f == folder else f in folder.parents:
                break  # may still grow (the walk is inside a subfolder named `IMG.x`)
            del pending[(f, prefix)]
            yield from _pair(members)
        pending.setdefault((folder, os.path.splitext(name)[0] + "."), []).append(photo)
    for members in pending.values():
        yield from _pair(members)


def photo_entries(photos: Iterable[Path], raw_jpeg: str) -> Iterator[Entry]:
    """The listing as entries: pairs as one (`raw_jpeg` "one") or every file alone."""
    if raw_jpeg not in RAW_JPEG_MODES:
        raise ValueError(f"raw_jpeg must be one of {RAW_JPEG_MODES}")
    if raw_jpeg == "one":
        return pair_raw_jpeg(photos)
    return ((Path(p), ()) for p in photos)


def split_entries(entries: Iterable[Entry]) -> tuple[list[Path], dict[Path, tuple[Path, ...]]]:
    """Entries as app.tagging.session takes them: the photos, and the RAW files of those that pair."""
    photos, companions = [], {}
    for photo, raws in entries:
        photos.append(photo)
        if raws:
            companions[photo] = raws
    return photos, companions
