"""The app's name on disk and its folders in the user's home, in one place for every room.

    APP_NAME       "scene-tagger": the folders' name, the settings' organisation, the desktop id
    DISPLAY_NAME   "Scene Tagger": what people read
    version()      the installed version (--version, Help ▸ About)
    cache_dir()    the results cache, training's caches: `$SCENE_TAGGER_CACHE`, else the
                   platform's user cache folder (safe to empty at any time)
    data_dir()     the corrections and personal models: `$SCENE_TAGGER_DATA`, else the
                   platform's user data folder (never a cache: a cache may be emptied, these not)
    thumbnails_dir()  the window's thumbnails, in the platform's cache folder
    sample_photos()   the user's copy of the bundled sample photos, in the data folder

Folders are named here, never made here (their users make them when they write), but for the
copy of the samples, which is what sample_photos() is for.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

APP_NAME = "scene-tagger"
DISPLAY_NAME = "Scene Tagger"
SAMPLES_FOLDER = "Sample Photos"


def version() -> str:
    """The installed distribution's version, else the one in pyproject.toml beside the sources
    (a checkout; the packaged app keeps pyproject.toml beside `app`)."""
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        return dist_version(APP_NAME)
    except (ImportError, PackageNotFoundError):
        pass
    try:
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except Exception:
        return "unknown"


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("SCENE_TAGGER_CACHE") or user_cache_dir(APP_NAME))


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get("SCENE_TAGGER_DATA") or user_data_dir(APP_NAME))


def thumbnails_dir() -> Path:
    """Under the platform's cache folder whatever `$SCENE_TAGGER_CACHE` says: it moves the
    results cache (e.g. to a job's scratch disk), not the desktop's thumbnails."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME)) / "thumbnails"


def sample_photos(bundled: Path) -> Path:
    """The sample photos the user opens, tags and saves: a copy of `bundled` (the app's own,
    read-only once installed or packaged) in the user data folder, made on first use and
    left as the user leaves it afterwards (made again only when it is gone). Raises OSError
    when it cannot be made; a failed copy leaves nothing half made."""
    target = data_dir() / SAMPLES_FOLDER
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".samples-", dir=target.parent))
    try:
        for src in sorted(bundled.iterdir()):
            if src.is_file() and not src.name.startswith("."):
                # copyfile, not copy2: the installed files' read-only modes must not follow
                shutil.copyfile(src, staging / src.name)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
