"""Content fingerprints of photo files, and the stat key that may stand in for one.

The results cache (app.cache.library) finds a photo by what is in it: SHA-256 of every byte, cut to
128 bits. Hashing the whole file rather than samples of it (size + head + tail + a few middle
chunks) costs 4 ms for a 12 MP JPEG on a CPU with SHA instructions, against ~70 ms to decode it
and ~300 ms to classify it, and it cannot be fooled: two photos of the same size whose bytes
differ only where a sample does not look get different keys (docs/cache.md has the figures).

The stat key (device, inode, size, mtime_ns, ctime_ns) lets an unchanged file skip the hashing.
On POSIX nothing can change a file's bytes without moving its ctime (utime() moves it too, so
`cp -p` or `touch -r` over a photo are caught), and a key read less than `racy_seconds` after
the file's last change is not trusted (git's "racily clean" rule: a write in the same clock
tick would not move the times). On Windows st_ctime is the creation time: there the key is
never trusted and every lookup hashes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

FINGERPRINT_BYTES = 16
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileKey:
    """What stat says about a file; equal keys on POSIX mean equal contents (see module doc)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def settled(self, now_ns: int, racy_seconds: float) -> bool:
        """Old enough that a later change would move mtime or ctime (not racily clean)."""
        newest = max(self.mtime_ns, self.ctime_ns)
        return os.name == "posix" and self.ino != 0 and now_ns - newest > racy_seconds * 1e9


def fingerprint(path: str | os.PathLike[str]) -> tuple[bytes, FileKey]:
    """SHA-256 of the file's bytes (first 16 bytes), and the stat key it was taken under.

    The file is stat'ed through the open handle before and after reading: a file that changed
    meanwhile raises OSError rather than pairing one content with another's key."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        before = FileKey.of(os.fstat(f.fileno()))
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
        after = FileKey.of(os.fstat(f.fileno()))
    if before != after:
        raise OSError(f"{path} changed while it was read")
    return digest.digest()[:FINGERPRINT_BYTES], before
