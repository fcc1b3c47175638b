"""Before the QApplication exists: can Qt's X11 (xcb) platform plugin load on this machine?

Since Qt 6.5 the xcb plugin needs a handful of small X libraries that a desktop Debian or
Fedora does not always have (`libxcb-cursor0`, `libxcb-icccm4`, `libxcb-keysyms1`, …). Without
them Qt prints a generic "no Qt platform plugin could be initialized" and aborts the process
(exit 134). This module finds the missing libraries first and names the packages to install.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> (Debian/Ubuntu package, Fedora package): what the xcb plugin loads, directly or
# through libQt6XcbQpa (ldd on both, Qt 6.11), plus libxcb-cursor, which Qt opens at run time.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
}


def will_use_xcb(environ: dict[str, str] | None = None) -> bool:
    """Whether Qt will try the xcb plugin first (Linux, and not a Wayland session or another
    platform chosen with QT_QPA_PLATFORM)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    # Qt picks Wayland first in a Wayland session and falls back to xcb only if that fails.
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def _plugin_files() -> list[Path]:
    """The xcb plugin and Qt's xcb support library of the PySide6 in use (absent: empty)."""
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return []
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    libs = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
    found = [plugins / "platforms" / "libqxcb.so"] + sorted(libs.glob("libQt6XcbQpa.so*"))
    return [f for f in found if f.is_file()]


def _ldd_missing(files: list[Path]) -> set[str]:
    """Libraries ldd reports as 'not found' for the plugin files (none when ldd is absent)."""
    ldd = shutil.which("ldd")
    missing: set[str] = set()
    if ldd is None:
        return missing
    for f in files:
        try:
            out = subprocess.run(
                [ldd, str(f)], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            if "not found" in line:
                missing.add(line.split()[0])
    return missing


def missing_xcb_libraries() -> list[str]:
    """Sonames the xcb plugin needs that cannot be loaded here, in a stable order. The table
    is what ldd lists for this Qt's plugin, so when all of it loads (a few milliseconds) the
    plugin does too; only then is ldd skipped, which keeps it off every start-up."""
    missing = {soname for soname in XCB_LIBRARIES if not _loads(soname)}
    if missing:  # name anything else the plugin lacks in the same message
        missing |= _ldd_missing(_plugin_files())
    return sorted(missing)


def install_hint(missing: list[str]) -> str:
    """The message for the user: which packages to install, for Debian/Ubuntu and Fedora."""
    debian = sorted({XCB_LIBRARIES[s][0] for s in missing if s in XCB_LIBRARIES})
    fedora = sorted({XCB_LIBRARIES[s][1] for s in missing if s in XCB_LIBRARIES})
    unknown = [s for s in missing if s not in XCB_LIBRARIES]
    lines = [
        "the window cannot open: Qt's X11 (xcb) platform plugin needs libraries that are "
        f"not installed: {', '.join(missing)}."
    ]
    if debian:
        lines.append(f"  Debian/Ubuntu: sudo apt-get install {' '.join(debian)}")
        lines.append(f"  Fedora:        sudo dnf install {' '.join(fedora)}")
    if unknown:
        lines.append(f"  Also install the packages that provide: {', '.join(unknown)}")
    lines.append(
        "The headless commands work without a display: python -m app classify PATH…, "
        "python -m app tag FOLDER"
    )
    return "\n".join(lines)


def display_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why the window cannot open on this display, or None when it should."""
    env = os.environ if environ is None else environ
    if not will_use_xcb(env):
        return None
    if not env.get("DISPLAY"):
        return (
            "the window cannot open: no X display (DISPLAY is not set). Run it from a desktop "
            "session, or use the headless commands: python -m app classify PATH…, "
            "python -m app tag FOLDER"
        )
    missing = missing_xcb_libraries()
    return install_hint(missing) if missing else None
