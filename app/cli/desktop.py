"""`python -m app install-desktop` / `uninstall-desktop`: the app on a Linux desktop, its
freedesktop entry and icons, for the current user.

`python -m app install-desktop` writes `scene-tagger.desktop` into $XDG_DATA_HOME/applications
and the icons into $XDG_DATA_HOME/icons/hicolor/…, then refreshes the desktop's caches
(update-desktop-database, so a file manager's "Open With" offers the app for every photo type
it opens); `uninstall-desktop` removes exactly those files. The packaged app's install.sh runs
the same command of the bundle, so the entry's content has this one source. As Photini's
`photini-post-install` does it, but without root and without touching anything outside
$XDG_DATA_HOME (default ~/.local/share).

The entry starts this very installation: the packaged app's executable, else the `scene-tagger`
script beside the running Python (a venv's), else that Python with `-m app`, by absolute path,
so it works whatever the menu's PATH is. It passes the chosen files (%F): a photo opens its
folder with that photo selected, a folder opens as it is. Pure Python, no Qt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.cli.common import EXIT_FAILED, EXIT_OK, err, out, prog
from app.model.scenes import resources_dir
from app.photos.formats import photo_mime_types
from app.userdirs import APP_NAME, DISPLAY_NAME

DESKTOP_ID = APP_NAME  # the entry's file name, the icon's name, Qt's desktopFileName
ENTRY_NAME = f"{DESKTOP_ID}.desktop"
# bundled icon -> the hicolor size folder it goes to (the window uses the same three files)
ICONS = {
    "scene-tagger.svg": "scalable",
    "scene-tagger-256.png": "256x256",
    "scene-tagger-64.png": "64x64",
}
FOLDER_MIME = "inode/directory"  # "Open With" on a folder opens it
# characters that make the Desktop Entry spec's Exec argument need quotes
RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share (the XDG Base Directory default)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher() -> list[str]:
    """The command that starts this installation, by absolute paths."""
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    script = Path(sys.executable).with_name("scene-tagger")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script.absolute())]
    return [os.path.abspath(sys.executable), "-m", "app"]


def quote_arg(arg: str) -> str:
    """One argument of an Exec line, as the Desktop Entry spec wants it written in the file:
    % doubled, quoted (with ", `, $ and \\ escaped) when it holds a reserved character, then
    every backslash doubled again (the value is a `string`, which has escapes of its own)."""
    arg = arg.replace("%", "%%")
    if any(c in RESERVED for c in arg):
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        arg = f'"{escaped}"'
    return arg.replace("\\", "\\\\")


def entry_text(command: list[str]) -> str:
    """The desktop entry for `command` (see launcher())."""
    mime = [*photo_mime_types(), FOLDER_MIME]
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.4",  # 1.5 is newer than Debian 12's desktop-file-validate knows
            f"Name={DISPLAY_NAME}",
            "GenericName=Photo Scene Tagger",
            "Comment=Sort photos by scene (buildings, forest, glacier, mountain, sea, street) "
            "and tag them in XMP sidecars",
            "Exec=" + " ".join(quote_arg(a) for a in command) + " %F",
            "TryExec=" + command[0].replace("\\", "\\\\"),
            f"Icon={DESKTOP_ID}",
            "Terminal=false",
            "Categories=Graphics;Photography;",
            "Keywords=photo;picture;tag;keyword;XMP;scene;classify;sort;",
            "MimeType=" + "".join(f"{m};" for m in mime),
            "StartupNotify=true",
            f"StartupWMClass={DESKTOP_ID}",
            "",
        ]
    )


@dataclass
class Outcome:
    written: list[Path]  # or removed
    notes: list[str]  # what the cache refresh said, tools that were not there


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def icon_paths(data: Path) -> dict[str, Path]:
    """Bundled icon name -> where it goes in the user's hicolor theme."""
    hicolor = data / "icons" / "hicolor"
    return {
        name: hicolor / size / "apps" / f"{DESKTOP_ID}{Path(name).suffix}"
        for name, size in ICONS.items()
    }


def install(data: Path | None = None, command: list[str] | None = None) -> Outcome:
    """Write the entry and the icons under `data` (default: data_home()); refresh the caches."""
    data = data or data_home()
    written = []
    icons = resources_dir() / "icons"
    for name, dest in icon_paths(data).items():
        if (icons / name).is_file():
            _write(dest, (icons / name).read_bytes())
            written.append(dest)
    entry = data / "applications" / ENTRY_NAME
    _write(entry, entry_text(command or launcher()).encode("utf-8"))
    entry.chmod(0o644)
    written.append(entry)
    return Outcome(written, refresh(data))


def uninstall(data: Path | None = None) -> Outcome:
    """Remove what install() writes (nothing else); refresh the caches."""
    data = data or data_home()
    removed = []
    for path in [*icon_paths(data).values(), data / "applications" / ENTRY_NAME]:
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    return Outcome(removed, refresh(data))


def refresh(data: Path) -> list[str]:
    """Tell the desktop: the MIME cache of the applications folder ("Open With"), and the icon
    cache where the user's hicolor theme has one. A missing tool is a note, not a failure."""
    notes = []
    jobs = [("update-desktop-database", ["-q", str(data / "applications")])]
    hicolor = data / "icons" / "hicolor"
    if (hicolor / "index.theme").is_file():
        jobs.append(("gtk-update-icon-cache", ["-q", "-t", str(hicolor)]))
    for tool, args in jobs:
        found = shutil.which(tool)
        if found is None:
            notes.append(f"{tool} not found (the desktop will notice the change on its own)")
            continue
        try:
            done = subprocess.run([found, *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            notes.append(f"{tool}: {exc}")
            continue
        if done.returncode != 0:
            notes.append(f"{tool}: {(done.stderr or done.stdout).strip()[:300]}")
    return notes


# --------------------------------------------------------------------------------------------
# the commands


EXIT_LINES = (
    "exit status:\n  0    done\n  1    a file could not be written or removed (said why)\n"
    "  2    bad usage (an unknown option)"
)


def install_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} install-desktop",
        description="Add Scene Tagger to the desktop's applications menu and to 'Open With' for "
        "the photo types it opens, for the current user: scene-tagger.desktop in "
        "$XDG_DATA_HOME/applications, the icon in $XDG_DATA_HOME/icons/hicolor (default "
        "~/.local/share). No root needed; uninstall-desktop undoes it.",
        epilog=EXIT_LINES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="install under DIR instead of $XDG_DATA_HOME (e.g. a staging folder)",
    )
    p.add_argument(
        "--print",
        action="store_true",
        dest="print_only",
        help="print the desktop entry this installation would write, write nothing",
    )
    return p


def uninstall_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} uninstall-desktop",
        description="Remove what install-desktop wrote (the entry and the icons), nothing else.",
        epilog=EXIT_LINES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", type=Path, metavar="DIR", help="as given to install-desktop")
    return p


def cmd_install(args: argparse.Namespace) -> int:
    if args.print_only:
        out(entry_text(launcher()).rstrip("\n"))
        return EXIT_OK
    try:
        done = install(args.data_dir)
    except OSError as exc:
        err(f"error: cannot install the desktop entry: {exc}")
        return EXIT_FAILED
    for path in done.written:
        out(f"wrote {path}")
    for note in done.notes:
        err(f"note: {note}")
    out("Scene Tagger is in the applications menu (Graphics), and in 'Open With' for photos.")
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    try:
        done = uninstall(args.data_dir)
    except OSError as exc:
        err(f"error: cannot remove the desktop entry: {exc}")
        return EXIT_FAILED
    for path in done.written:
        out(f"removed {path}")
    for note in done.notes:
        err(f"note: {note}")
    if not done.written:
        out("nothing to remove: the desktop entry was not installed")
    return EXIT_OK
