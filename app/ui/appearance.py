"""Light or dark: as the desktop says (Qt 6.5+ colour scheme), or as Settings ▸ Appearance says.

Where Qt's platform theme knows the desktop's scheme (GNOME, KDE, Windows, macOS), a dark
desktop already gives a dark palette and nothing is done. Where it does not (a plain X11
session reports no scheme), or when the user asks for the other one (photo editors are often
kept dark on a light desktop), the app takes Qt's Fusion style with a palette of its own. The
choice is remembered; "system" follows the desktop as it changes (colorSchemeChanged). Every
colour the app paints itself is read from the palette, but the scene badges (white on the
scene's colour) and the larger preview's neutral grey ground, which read the same in both.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

CHOICES = {"system": "Follow the desktop", "light": "Light", "dark": "Dark"}
_original: dict[str, Any] = {}  # the platform's own style name and palette, before any change


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    """A neutral dark palette for Fusion (greys, not blue-black: photos are judged on it)."""
    p = QPalette()
    c = QPalette.ColorRole
    grey = {
        c.Window: "#2d2d2d",
        c.WindowText: "#e6e6e6",
        c.Base: "#232323",
        c.AlternateBase: "#2a2a2a",
        c.ToolTipBase: "#3a3a3a",
        c.ToolTipText: "#e6e6e6",
        c.PlaceholderText: "#8a8a8a",
        c.Text: "#e6e6e6",
        c.Button: "#353535",
        c.ButtonText: "#e6e6e6",
        c.BrightText: "#ff6b6b",
        c.Light: "#4a4a4a",
        c.Midlight: "#3e3e3e",
        c.Mid: "#555555",
        c.Dark: "#1e1e1e",
        c.Shadow: "#101010",
        c.Highlight: "#3d6fb4",
        c.HighlightedText: "#ffffff",
        c.Link: "#7fb2ff",
        c.LinkVisited: "#b79cff",
    }
    for role, color in grey.items():
        p.setColor(role, QColor(color))
    disabled = QPalette.ColorGroup.Disabled
    for role in (c.WindowText, c.Text, c.ButtonText):
        p.setColor(disabled, role, QColor("#7a7a7a"))
    p.setColor(disabled, c.Highlight, QColor("#4a4a4a"))
    return p


def wanted(choice: str, desktop: Qt.ColorScheme) -> Qt.ColorScheme:
    """The scheme to show for the user's choice and what the desktop reports."""
    if choice == "dark":
        return Qt.ColorScheme.Dark
    if choice == "light":
        return Qt.ColorScheme.Light
    return Qt.ColorScheme.Dark if desktop == Qt.ColorScheme.Dark else Qt.ColorScheme.Light


def apply(choice: str, app: QApplication | None = None) -> Qt.ColorScheme:
    """Show the app light or dark for `choice` ("system", "light", "dark"); returns which."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    assert isinstance(app, QApplication)
    if not _original:
        _original.update(style=app.style().name(), palette=QPalette(app.palette()))
    hints = QGuiApplication.styleHints()
    scheme = wanted(choice, hints.colorScheme())
    platform_palette: QPalette = _original["palette"]
    if is_dark(platform_palette) == (scheme == Qt.ColorScheme.Dark):
        if app.style().name().lower() != str(_original["style"]).lower():
            app.setStyle(str(_original["style"]))
        app.setPalette(platform_palette)  # the desktop's own look already is the one wanted
    else:
        app.setStyle(QStyleFactory.create("Fusion"))
        fusion = app.style().standardPalette()
        app.setPalette(dark_palette() if scheme == Qt.ColorScheme.Dark else fusion)
    return scheme


class Follower(QObject):
    """Applies the setting now, and again when the desktop changes its scheme ("system")."""

    changed = Signal(object)  # Qt.ColorScheme shown now (icons drawn for the palette follow)

    def __init__(self, choice_of: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.choice_of = choice_of  # () -> "system" | "light" | "dark"
        self.scheme = apply(choice_of())
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._desktop_changed)

    def _desktop_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.choice_of() == "system":
            self.scheme = apply("system")
            self.changed.emit(self.scheme)

    def set_choice(self) -> None:
        self.scheme = apply(self.choice_of())
        self.changed.emit(self.scheme)
