"""The window's preferences: defaults and typed accessors over QSettings, in one place.

QSettings stores strings on some platforms, so every accessor converts and validates; a bad or
missing value falls back to its default instead of breaking the window. Tests pass their own
QSettings (an ini file in a temporary folder) so they never touch the user's preferences.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from app import defaults
from app.defaults import BACKENDS, NAMINGS
from app.userdirs import APP_NAME, DISPLAY_NAME, thumbnails_dir

DEVICES = ("auto", "cpu", "cuda")
MAX_RECENT = 8
THUMBNAIL_SIZE = 128
COLOR_SCHEMES = ("system", "light", "dark")


def default_cache_dir() -> Path:
    """Thumbnails go to the user's cache folder (safe to delete at any time)."""
    return thumbnails_dir()


class _Choice:
    """A setting that is one of a few strings: a stored value not among them (an older or
    edited settings file) reads as the default; setting one raises ValueError."""

    def __init__(self, key: str, default: str, allowed: tuple[str, ...]) -> None:
        self.key, self.default, self.allowed = key, default, allowed

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else obj._str(self.key, self.default, self.allowed)

    def __set__(self, obj: Any, value: str) -> None:
        if value not in self.allowed:
            raise ValueError(f"{self.name} must be one of {self.allowed}")
        obj.store.setValue(self.key, value)


class Settings:
    """Typed view of the stored preferences; every setter writes through immediately."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(APP_NAME, DISPLAY_NAME)

    # ------------------------------------------------------------------------- plain values
    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        """Set several settings by name; returns what they were (to put them back)."""
        before = {key: getattr(self, key) for key in values}
        for key, value in values.items():
            setattr(self, key, value)
        return before

    def _str(self, key: str, default: str, allowed: tuple[str, ...] | None = None) -> str:
        value = self.store.value(key, default)
        value = str(value) if value is not None else default
        return value if allowed is None or value in allowed else default

    device = _Choice("model/device", "auto", DEVICES)
    backend = _Choice("model/backend", defaults.BACKEND, BACKENDS)
    tta = _Choice("model/tta", defaults.TTA, defaults.TTAS)

    @property
    def threshold(self) -> float:
        try:
            value = float(self.store.value("review/threshold", defaults.THRESHOLD))
        except (TypeError, ValueError):
            return defaults.THRESHOLD
        return value if 0.0 <= value <= 1.0 else defaults.THRESHOLD

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.store.setValue("review/threshold", min(1.0, max(0.0, float(value))))

    @property
    def none_threshold(self) -> float | None:
        """ "Not a scene" strictness: the open-set score above which a photo is none of the
        six scenes (app.model.openset); None = the model card's (the default)."""
        try:
            value = float(self.store.value("review/none_threshold", 0.0))
        except (TypeError, ValueError):
            return None
        return value if 0.0 < value <= 2.0 else None

    @none_threshold.setter
    def none_threshold(self, value: float | None) -> None:
        self.store.setValue("review/none_threshold", 0.0 if value is None else float(value))

    naming = _Choice("sidecar/naming", defaults.NAMING, NAMINGS)

    @property
    def parent(self) -> str:
        value = self._str("sidecar/parent", defaults.PARENT).strip()
        return value or defaults.PARENT

    @parent.setter
    def parent(self, value: str) -> None:
        self.store.setValue("sidecar/parent", value.strip() or defaults.PARENT)

    # ------------------------------------------------------------------------- looks
    @property
    def thumbnail_size(self) -> int:
        """The grid's thumbnails, in pixels (the size slider)."""
        try:
            value = int(str(self.store.value("view/thumbnail_size", THUMBNAIL_SIZE)))
        except ValueError:
            return THUMBNAIL_SIZE
        return value if 32 <= value <= 512 else THUMBNAIL_SIZE

    @thumbnail_size.setter
    def thumbnail_size(self, value: int) -> None:
        self.store.setValue("view/thumbnail_size", int(value))

    # light, dark, or what the desktop says (Settings ▸ Appearance; app.ui.appearance)
    color_scheme = _Choice("view/color_scheme", "system", COLOR_SCHEMES)

    @property
    def introduced(self) -> bool:
        """The first-launch introduction was seen (closed, or a folder of one's own opened)."""
        return str(self.store.value("intro/seen", "false")).lower() in ("true", "1")

    @introduced.setter
    def introduced(self, value: bool) -> None:
        self.store.setValue("intro/seen", "true" if value else "false")

    # ------------------------------------------------------------------------- recent folders
    @property
    def recursive(self) -> bool:
        """Open folders with their subfolders (View ▸ Include Subfolders)."""
        return str(self.store.value("folders/recursive", "false")).lower() in ("true", "1")

    @recursive.setter
    def recursive(self, value: bool) -> None:
        self.store.setValue("folders/recursive", "true" if value else "false")

    # RAW + JPEG pairs as one photo or two (View ▸ RAW + JPEG as One Photo)
    raw_jpeg = _Choice("folders/raw_jpeg", defaults.RAW_JPEG, defaults.RAW_JPEG_MODES)

    @property
    def recent_folders(self) -> list[Path]:
        raw = self.store.value("recent/folders", [])
        if isinstance(raw, str):  # QSettings collapses a one-item list into a string
            raw = [raw]
        if not isinstance(raw, list):
            return []
        return [Path(p) for p in raw if isinstance(p, str) and p][:MAX_RECENT]

    def add_recent(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder).resolve()
        items = [folder] + [p for p in self.recent_folders if p != folder]
        self.store.setValue("recent/folders", [str(p) for p in items[:MAX_RECENT]])

    def clear_recent(self) -> None:
        self.store.remove("recent/folders")

    # ------------------------------------------------------------------------- window state
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def sync(self) -> None:
        self.store.sync()
