"""Listing folders for photos: in name order, folder by folder, never a symlink loop twice, and
every folder that cannot be read said so (a ListingError), never shown as an empty folder.

The command line prints the errors (a folder named on the command line that cannot be listed
at all is bad usage, exit 2; an unreadable subfolder of a recursive run fails the run, exit 1);
the window shows them in its Errors list and status bar.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.photos.formats import is_photo
from app.photos.oserrors import os_reason


@dataclass(frozen=True)
class ListingError:
    """A folder whose photos could not be listed (or only some of them), and why in the
    words the app shows for an OSError ("permission denied")."""

    folder: Path
    reason: str

    def __str__(self) -> str:
        return f"cannot list {self.folder}: {self.reason}"


def list_photos(
    paths: list[str | os.PathLike[str]] | str | os.PathLike[str],
    recursive: bool = False,
    errors: list[ListingError] | None = None,
) -> list[Path]:
    """Photo files under the given files/folders, sorted, without following symlink loops;
    the folders that could not be listed are appended to `errors`."""
    return list(iter_photos(paths, recursive, errors))


def iter_photos(
    paths: list[str | os.PathLike[str]] | str | os.PathLike[str],
    recursive: bool = False,
    errors: list[ListingError] | None = None,
) -> Iterator[Path]:
    """list_photos one photo at a time, folder by folder in name order, so a caller can show
    the first photos of a big tree before the whole of it is listed. A folder that cannot be
    read (permission denied, an I/O error) is appended to `errors` as soon as it is met, so a
    caller listing in batches can show it with the batch; one that vanishes while it is listed
    is no error (it is simply gone); a symlink loop is entered once."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen_dirs: set[tuple[int, int]] = set()

    def failed(folder: Path, exc: OSError) -> None:
        if errors is not None and exc.errno != errno.ENOENT:
            errors.append(ListingError(folder, os_reason(exc)))

    def walk(folder: Path) -> Iterator[Path]:
        try:
            st = folder.stat()
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                return
            seen_dirs.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            failed(folder, exc)
            return
        entry_error: OSError | None = None  # a folder we may list but not look into (no x)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if recursive:
                        yield from walk(Path(entry.path))
                elif entry.is_file() and is_photo(entry.name):
                    yield Path(entry.path)
            except OSError as exc:
                entry_error = entry_error or exc
        if entry_error is not None:
            failed(folder, entry_error)

    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from walk(p)
        elif is_photo(p) or p.exists():
            yield p
