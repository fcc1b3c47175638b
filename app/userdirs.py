"""The app's name on disk and its folders in the user's home, in one place for every room.

    APP_NAME       "scene-tagger": the folders' name, the settings' organisation, the desktop id
    DISPLAY_NAME   "Scene Tagger": what people read
    cache_dir()    the results cache, training's caches: `$SCENE_TAGGER_CACHE`, else the
                   platform's user cache folder (safe to empty at any time)
    data_dir()     the corrections and personal models: `$SCENE_TAGGER_DATA`, else the
                   platform's user data folder (never a cache: a cache may be emptied, these not)
    thumbnails_dir()  the window's thumbnails, in the platform's cache folder

Folders are named here, never made here (their users make them when they write).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "scene-tagger"
DISPLAY_NAME = "Scene Tagger"


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
