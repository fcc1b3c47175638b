"""The user's folders (app.userdirs): the data folder and the copy of the sample photos."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import make_photo

from app import userdirs


def bundled(tmp_path: Path) -> Path:
    """A read-only folder of samples, as an installed package's are."""
    folder = tmp_path / "site-packages" / "app" / "resources" / "samples"
    for name in ("sea_1.jpg", "forest_1.jpg"):
        make_photo(folder / name).chmod(0o444)
    return folder


def test_the_data_folder_follows_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SCENE_TAGGER_DATA", str(tmp_path / "d"))
    assert userdirs.data_dir() == tmp_path / "d"
    monkeypatch.delenv("SCENE_TAGGER_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert userdirs.data_dir() == tmp_path / "xdg" / "scene-tagger"


def test_the_samples_are_copied_once_writable_and_then_left_to_the_user(tmp_path: Path) -> None:
    source = bundled(tmp_path)
    copy = userdirs.sample_photos(source)
    assert copy == userdirs.data_dir() / "Sample Photos" and copy != source
    assert sorted(p.name for p in copy.iterdir()) == ["forest_1.jpg", "sea_1.jpg"]
    assert (copy / "sea_1.jpg").read_bytes() == (source / "sea_1.jpg").read_bytes()
    assert all(os.stat(p).st_mode & 0o200 for p in copy.iterdir())  # the user's to tag
    (copy / "sea_1.jpg.xmp").write_text("<x:xmpmeta/>")  # what a save leaves
    (copy / "forest_1.jpg").unlink()  # and what the user removed stays removed
    assert userdirs.sample_photos(source) == copy
    assert sorted(p.name for p in copy.iterdir()) == ["sea_1.jpg", "sea_1.jpg.xmp"]
    assert sorted(p.name for p in source.iterdir()) == ["forest_1.jpg", "sea_1.jpg"]


def test_a_copy_that_cannot_be_made_raises_and_leaves_nothing_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = bundled(tmp_path)
    real, copied = shutil.copyfile, []

    def disk_full_on_the_second(src, dst):
        if copied:
            raise OSError(errno.ENOSPC, "No space left on device")
        copied.append(src)
        return real(src, dst)

    monkeypatch.setattr(shutil, "copyfile", disk_full_on_the_second)
    with pytest.raises(OSError):
        userdirs.sample_photos(source)
    assert list(userdirs.data_dir().iterdir()) == []  # no staging folder, no partial copy
    monkeypatch.setattr(shutil, "copyfile", real)
    assert len(list(userdirs.sample_photos(source).iterdir())) == 2
