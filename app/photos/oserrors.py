"""What an OSError means, in the words the app shows for a file (one table for the photo
readers, the sidecar writer, the results cache and the corrections store)."""

from __future__ import annotations

import errno

_REASONS = {
    errno.ENOENT: "file not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the file system is read-only",
    getattr(errno, "EDQUOT", -1): "the disk quota is exceeded",
    errno.EIO: "input/output error (a failing disk or a dropped network share?)",
    errno.ENAMETOOLONG: "the name is too long for the file system",
}


def os_reason(exc: OSError, **instead: str) -> str:
    """Plain words for `exc` (its errno), else its own message. `instead` overrides a reason
    by errno name where the context says more: os_reason(e, ENOENT="the folder does not
    exist")."""
    code = exc.errno
    for name, text in instead.items():
        if code == getattr(errno, name, None):
            return text
    return _REASONS.get(code, exc.strerror or str(exc)) if code is not None else str(exc)
