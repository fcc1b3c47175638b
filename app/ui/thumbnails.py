"""Thumbnails made off the GUI thread, kept in a memory LRU and on disk.

`get()` never decodes: it answers from memory or returns None after queueing a job on a
QThreadPool; the job reads the disk cache or decodes the photo with app.photos.imaging, and posts a
QImage back. On disk, the grid's 128-pixel thumbnails live in the freedesktop.org store
(~/.cache/thumbnails/normal, shared with file managers and digiKam: what they made is reused,
what we make they reuse; see xdg_thumbnails.py); other sizes (the preview's) and other systems
use the app's own cache folder, keyed by path + mtime + size + side, so an edited photo gets
a new thumbnail.
Only the GUI thread turns it into a QPixmap and emits `ready`, which the item model turns into
`dataChanged` for that row.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from app import priority
from app.photos import imaging
from app.ui import xdg_thumbnails
from app.ui.workers import lower_thread_priority

log = logging.getLogger("app.ui")

GRID_SIDE = 128  # thumbnails in the group views
PREVIEW_SIDE = 640  # the preview pane
# Larger pictures (the larger preview's 1600 px) are decoded each time they are asked for and
# kept in memory only: on disk they would cost ~0.3 MB a photo for every photo ever looked at.
DISK_MAX_SIDE = PREVIEW_SIDE
MEMORY_BYTES = 384 * 2**20  # the memory LRU's bound in pixels' bytes, whatever their sizes
# Requests waiting to be decoded, newest first; older ones are dropped. A few screens of the
# group views: paging through 100,000 rows no longer leaves thousands to decode.
MAX_QUEUED = 512


def cache_key(path: Path, side: int) -> str | None:
    """Stable name of a thumbnail on disk; None when the photo cannot be stat'ed."""
    try:
        st = path.stat()
    except OSError:
        return None
    raw = f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|{side}".encode(
        "utf-8", "surrogateescape"
    )
    return hashlib.sha1(raw).hexdigest()


def _to_qimage(img: Image.Image) -> QImage:
    img = img.convert("RGB")
    data = img.tobytes()
    qimg = QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888)
    return qimg.copy()  # own the pixels: `data` is freed when this function returns


def load_thumbnail(
    path: Path, side: int, cache_dir: Path | None, shared: Path | None = None
) -> QImage:
    """Disk cache, else decode (and fill the disk cache). Runs in a pool thread. Raises ImageError.
    `shared`: the freedesktop store's root, used for the sizes the spec knows."""
    if shared is not None and side in xdg_thumbnails.SPEC_SIZES:
        found = xdg_thumbnails.read(shared, path, side)
        if found is not None:
            return _to_qimage(found)
        img = imaging.make_thumbnail(path, side)
        xdg_thumbnails.write(shared, path, side, img)
        return _to_qimage(img)
    key = cache_key(path, side)
    keep = cache_dir is not None and key and side <= DISK_MAX_SIDE
    cached = cache_dir / key[:2] / f"{key}.jpg" if keep else None  # type: ignore[operator]
    if cached is not None and cached.is_file():
        try:
            with Image.open(cached) as img:
                img.load()
                return _to_qimage(img)
        except Exception:  # a damaged cache file is simply rebuilt
            log.debug("rebuilding damaged cache entry %s", cached)
    img = imaging.make_thumbnail(path, side)
    if cached is not None:
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            img.save(tmp, "JPEG", quality=85)
            os.replace(tmp, cached)
        except OSError as exc:  # a read-only or full cache folder costs speed, not thumbnails
            log.debug("thumbnail cache not written: %s", exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
    return _to_qimage(img)


def _size(pix: QPixmap) -> int:
    return pix.width() * pix.height() * max(1, pix.depth() // 8)


class _Bridge(QObject):
    """Lives in the GUI thread; a pool thread emitting on it is delivered there (queued)."""

    # the path travels as a Python object: a name that is not valid UTF-8 would not survive
    # the trip through a QString, and its thumbnail would never be matched to its photo
    done = Signal(object, int, int, object, str)  # path, side, generation, QImage | None, error


class _Drainer(QRunnable):
    """Takes requests from the shared queue until it is empty (newest first: what the user
    looks at now), so a burst of requests costs a couple of thread starts, not hundreds."""

    def __init__(self, cache: ThumbnailCache) -> None:
        super().__init__()
        self.cache = cache

    def run(self) -> None:
        lower_thread_priority()
        cache, bridge = self.cache, self.cache._bridge
        while True:
            with cache._lock:
                if not cache._queue:
                    cache._drainers -= 1
                    return
                path, side, generation = cache._queue.pop()
            priority.pause()  # decoding goes on once the window has painted
            image, error = None, ""
            try:
                image = load_thumbnail(Path(path), side, cache.cache_dir, cache.shared)
            except imaging.ImageError as exc:
                error = str(exc)
            except Exception as exc:  # never let a decoder bug escape a pool thread
                error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(RuntimeError):  # the window is gone
                bridge.done.emit(path, side, generation, image, error)


class ThumbnailCache(QObject):
    """Memory LRU in front of the pool jobs; `ready(path, side)` when a request is answered."""

    ready = Signal(object, int)  # path (str, as os.fspath gives it), side

    def __init__(
        self,
        cache_dir: Path | None,
        capacity: int = 1500,
        max_bytes: int = MEMORY_BYTES,
        threads: int = 2,
        parent: QObject | None = None,
        shared: Path | None | bool = True,
    ) -> None:
        """`shared`: the freedesktop store's root; True = the user's (~/.cache/thumbnails on
        Linux), False/None = only the app's own `cache_dir`."""
        super().__init__(parent)
        self.cache_dir = cache_dir
        self.shared = xdg_thumbnails.store_root() if shared is True else (shared or None)
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0  # of the pixmaps in _memory
        self._memory: OrderedDict[tuple[str, int], QPixmap] = OrderedDict()
        self._failed: dict[tuple[str, int], str] = {}
        self._in_flight: set[tuple[str, int]] = set()
        self.threads = max(1, threads)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(self.threads)
        self._lock = threading.Lock()
        self._queue: list[tuple[str, int, int]] = []  # requests, shared with the drainers
        self._drainers = 0
        self._generation = 0
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._job_done)

    def get(self, path: Path | str, side: int = GRID_SIDE) -> QPixmap | None:
        """The pixmap if ready; otherwise queue it (once) and return None. Never decodes."""
        key = (os.fspath(path), side)
        pix = self._memory.get(key)
        if pix is not None:
            self._memory.move_to_end(key)
            return pix
        if key not in self._in_flight and key not in self._failed:
            self._in_flight.add(key)
            with self._lock:
                self._queue.append((key[0], side, self._generation))
                # rows flung past long ago are not decoded (asked again if they come back)
                stale = self._queue[:-MAX_QUEUED]
                del self._queue[:-MAX_QUEUED]
                start = self._drainers < self.threads
                if start:
                    self._drainers += 1
            self._in_flight.difference_update((p, s) for p, s, _ in stale)
            if start:
                self.pool.start(_Drainer(self))
        return None

    def cached(self, path: Path | str, side: int) -> QPixmap | None:
        """The pixmap if it is in memory, else None; asks for nothing."""
        return self._memory.get((os.fspath(path), side))

    def error(self, path: Path | str, side: int = GRID_SIDE) -> str | None:
        return self._failed.get((os.fspath(path), side))

    def pending(self) -> int:
        return len(self._in_flight)

    def clear_queue(self) -> None:
        """Forget queued requests (a new folder was opened); running ones finish, ignored."""
        with self._lock:
            self._queue.clear()
            self._generation += 1
        self._in_flight.clear()

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)

    @Slot(object, int, int, object, str)
    def _job_done(
        self, path: str, side: int, generation: int, image: QImage | None, error: str
    ) -> None:
        key = (path, side)
        if generation != self._generation or key not in self._in_flight:
            return  # dropped by clear_queue
        self._in_flight.discard(key)
        if image is None or image.isNull():
            self._failed[key] = error or "no thumbnail"
        else:
            pix = QPixmap.fromImage(image)
            old = self._memory.pop(key, None)
            self._bytes += _size(pix) - (_size(old) if old is not None else 0)
            self._memory[key] = pix
            while len(self._memory) > 1 and (
                len(self._memory) > self.capacity or self._bytes > self.max_bytes
            ):
                _key, gone = self._memory.popitem(last=False)
                self._bytes -= _size(gone)
        self.ready.emit(path, side)
