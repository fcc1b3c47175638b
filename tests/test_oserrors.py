"""One table turns an OSError into the words shown for a file (app.photos.oserrors)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from conftest import make_photo

from app.photos import imaging
from app.photos.oserrors import os_reason
from app.tagging import sidecar
from app.tagging.session_io import SaveItem, execute_save


def test_reasons_by_errno_with_a_context_override() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert os_reason(full) == "the disk is full"
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory")
    assert os_reason(gone) == "file not found"
    assert os_reason(gone, ENOENT="the folder does not exist") == "the folder does not exist"
    assert os_reason(OSError(errno.EXDEV, "Invalid cross-device link")) == (
        "Invalid cross-device link"  # not in the table: the system's own words
    )
    assert os_reason(OSError("image file is truncated")) == "image file is truncated"  # no errno


def test_the_readers_and_the_writer_say_it_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(imaging.ImageError, match="^is a folder, not a photo$"):
        imaging.load_pixels(tmp_path)
    with pytest.raises(imaging.ImageError, match="^file not found$"):
        imaging.load_pixels(tmp_path / "gone.jpg")
    photo = make_photo(tmp_path / "a.jpg")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sidecar, "_atomic_write", full)
    [outcome] = execute_save([SaveItem(0, photo, sidecar.SceneTag("sea", "manual"))])
    assert outcome.error is not None and "the disk is full" in outcome.error
