"""The window's thumbnails and preview for HEIC and RAW: made by the same pool jobs as JPEG's,
and a hostile file gives an error entry, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats_fixtures import FORMATS_DATA, two_halves, write_dng, write_heic

from app.ui.thumbnails import PREVIEW_SIDE, ThumbnailCache

pytest.importorskip("pillow_heif")
pytest.importorskip("rawpy")


def fetch(qtbot, cache: ThumbnailCache, path: Path, side: int):
    assert cache.get(path, side) is None
    with qtbot.waitSignal(cache.ready, timeout=10_000):
        pass
    return cache.get(path, side), cache.error(path, side)


def test_heic_and_raw_thumbnails_are_upright(qtbot, tmp_path: Path) -> None:
    heic = write_heic(tmp_path / "IMG_0001.HEIC", two_halves(400, 300), orientation=6)
    dng = write_dng(tmp_path / "IMG_0002.dng", two_halves(640, 480), orientation=8)
    cache = ThumbnailCache(tmp_path / "cache", threads=1)
    for path, side, size in ((heic, 128, (96, 128)), (dng, PREVIEW_SIDE, (480, 640))):
        pixmap, error = fetch(qtbot, cache, path, side)
        assert error is None and pixmap is not None
        assert (pixmap.width(), pixmap.height()) == size


def test_hostile_heif_thumbnail_is_an_error_entry(qtbot, tmp_path: Path) -> None:
    hostile = FORMATS_DATA / "hostile" / "NullPointerException.HeifPictureHandler.processBox.heif"
    if not hostile.is_file():
        pytest.skip("../shared/data/formats not found")
    cache = ThumbnailCache(None, threads=1)
    pixmap, error = fetch(qtbot, cache, hostile, 128)
    assert pixmap is None and error and "corrupt" in error
