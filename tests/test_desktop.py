"""The desktop entry and icons: `install-desktop` / `uninstall-desktop` for a pip install, the
packaged app's install.sh through the same command, the MIME types from the one list of photo
extensions, Exec quoting, and `desktop-file-validate` (Debian's desktop-file-utils) on the
result."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from app.cli import desktop
from app.photos.formats import MIME_TYPES, PHOTO_EXTENSIONS, RAW_EXTENSIONS, photo_mime_types

VALIDATOR = shutil.which("desktop-file-validate")
needs_validator = pytest.mark.skipif(
    VALIDATOR is None, reason="needs desktop-file-validate (apt-get install desktop-file-utils)"
)


def read_entry(path: Path) -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None, strict=True)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(path, encoding="utf-8")
    return entry["Desktop Entry"]


def validate(path: Path) -> None:
    """desktop-file-validate prints nothing for a clean entry (not even a hint)."""
    assert VALIDATOR is not None
    done = subprocess.run([VALIDATOR, str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and (done.stdout + done.stderr).strip() == "", done.stdout


def run_app(*args: str, data: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=120,
    )


def parse_exec(value: str) -> list[str]:
    """An Exec value read back as the Desktop Entry spec says a launcher does: the string
    type's escapes first, then quoted arguments with their own escapes, then %% -> %."""
    unescaped = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t"}.get(m[1], m[1]), value)
    args, current, quoted, i, started = [], "", False, 0, False
    while i < len(unescaped):
        c = unescaped[i]
        if quoted and c == "\\":
            current += unescaped[i + 1]
            i += 2
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started or current:
                args.append(current)
            current, started = "", False
        else:
            current += c
        i += 1
    if started or current:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


# --- the entry's content -------------------------------------------------------------------


def test_every_photo_extension_has_its_mime_types_and_the_entry_lists_them() -> None:
    assert set(MIME_TYPES) == set(PHOTO_EXTENSIONS)
    text = desktop.entry_text(["/usr/bin/scene-tagger"])
    listed = re.search(r"^MimeType=(.*)$", text, re.M)[1].split(";")  # type: ignore[index]
    assert listed[-1] == "" and len(listed[:-1]) == len(set(listed[:-1]))  # ;-terminated, once
    for ext in PHOTO_EXTENSIONS:
        assert set(MIME_TYPES[ext]) <= set(listed), ext
    assert "inode/directory" in listed  # Open With on a folder
    assert "image/x-dcraw" in listed  # every RAW type's parent
    assert listed[:-1] == [*photo_mime_types(), "inode/directory"]


@pytest.mark.skipif(
    not Path("/usr/share/mime/globs2").is_file(), reason="no shared-mime-info database here"
)
def test_mime_types_agree_with_the_systems_shared_mime_info() -> None:
    """Whatever type this system's database gives one of our extensions, the entry lists it
    (so "Open With" offers the app for those files here)."""
    globs: dict[str, set[str]] = {}
    for line in Path("/usr/share/mime/globs2").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.count(":") < 2:
            continue
        _weight, mime, glob = line.split(":")[:3]
        if glob.startswith("*.") and not any(c in glob[2:] for c in "*?["):
            globs.setdefault(glob[1:].lower(), set()).add(mime)
    known = [ext for ext in PHOTO_EXTENSIONS if ext in globs]
    assert len(known) >= 25  # the common ones are in every shared-mime-info
    for ext in known:
        assert globs[ext] <= set(MIME_TYPES[ext]), (ext, globs[ext])
    for ext in RAW_EXTENSIONS & set(globs):
        assert all(m.startswith("image/x-") for m in globs[ext])


@pytest.mark.parametrize(
    "command",
    [
        ["/usr/bin/scene-tagger"],
        ["/home/ann/My Apps/Scene Tagger/SceneTagger"],
        ["/opt/py 3/bin/python", "-m", "app"],
        ['/tmp/odd"name$with`all\\of%them'],
    ],
)
def test_exec_line_reads_back_as_the_command(command: list[str], tmp_path: Path) -> None:
    text = desktop.entry_text(command)
    exec_value = re.search(r"^Exec=(.*)$", text, re.M)[1]  # type: ignore[index]
    assert parse_exec(exec_value) == [*command, "%F"]
    if VALIDATOR is not None:
        (tmp_path / "x.desktop").write_text(text, encoding="utf-8")
        validate(tmp_path / "x.desktop")


def test_launcher_is_this_installations_absolute_command() -> None:
    command = desktop.launcher()
    assert os.path.isabs(command[0]) and os.access(command[0], os.X_OK)
    script = Path(sys.executable).with_name("scene-tagger")
    if script.is_file():
        assert command == [str(script.absolute())]
    else:
        assert command == [os.path.abspath(sys.executable), "-m", "app"]


# --- install-desktop / uninstall-desktop -------------------------------------------------------


@needs_validator
def test_install_desktop_writes_a_valid_entry_and_the_icons_uninstall_removes_them(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    other = data / "applications" / "someone-else.desktop"  # never touched
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nType=Application\nName=X\nExec=x\n")
    done = run_app("install-desktop", data=data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    entry_file = data / "applications" / "scene-tagger.desktop"
    validate(entry_file)
    entry = read_entry(entry_file)
    assert entry["Name"] == "Scene Tagger" and entry["Icon"] == desktop.DESKTOP_ID
    assert parse_exec(entry["Exec"]) == [*desktop.launcher(), "%F"]
    assert entry["TryExec"] == desktop.launcher()[0]
    assert "image/jpeg;" in entry["MimeType"] and "image/x-canon-cr2;" in entry["MimeType"]
    hicolor = data / "icons" / "hicolor"
    icons = REPO / "app" / "resources" / "icons"
    assert (hicolor / "scalable/apps/scene-tagger.svg").read_bytes() == (
        icons / "scene-tagger.svg"
    ).read_bytes()
    assert (hicolor / "256x256/apps/scene-tagger.png").read_bytes() == (
        icons / "scene-tagger-256.png"
    ).read_bytes()
    assert (hicolor / "64x64/apps/scene-tagger.png").is_file()
    if shutil.which("update-desktop-database"):  # "Open With" knows the app for JPEGs now
        cache = (data / "applications" / "mimeinfo.cache").read_text(encoding="utf-8")
        assert re.search(r"^image/jpeg=.*scene-tagger\.desktop;", cache, re.M)
    for line in (str(entry_file), str(hicolor / "scalable/apps/scene-tagger.svg")):
        assert f"wrote {line}" in done.stdout
    first = entry_file.read_text(encoding="utf-8")
    again = run_app("install-desktop", data=data, cwd=tmp_path)  # idempotent
    assert again.returncode == 0 and entry_file.read_text(encoding="utf-8") == first

    gone = run_app("uninstall-desktop", data=data, cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert not entry_file.exists() and not list(hicolor.rglob("scene-tagger*"))
    assert other.is_file()
    left = sorted(p.name for p in data.rglob("*") if p.is_file())
    assert left in (["someone-else.desktop"], ["mimeinfo.cache", "someone-else.desktop"])
    nothing = run_app("uninstall-desktop", data=data, cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to remove" in nothing.stdout


def test_install_desktop_says_why_it_cannot_write(tmp_path: Path) -> None:
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data folder should be")
    done = run_app("install-desktop", data=blocked, cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot install the desktop entry" in done.stderr
    assert "Traceback" not in done.stderr


def test_install_desktop_print_writes_nothing(tmp_path: Path) -> None:
    done = run_app("install-desktop", "--print", data=tmp_path / "data", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("[Desktop Entry]\n") and "MimeType=" in done.stdout
    assert not (tmp_path / "data").exists()


# --- the packaged app's install.sh uses the same command -------------------------------------


@needs_validator
def test_packaged_install_sh_writes_the_same_entry_for_the_bundle(tmp_path: Path) -> None:
    """install.sh in a stand-in bundle folder whose SceneTagger runs this app as the frozen
    executable would (sys.frozen, sys.executable = the bundle's SceneTagger)."""
    bundle = tmp_path / "Scene Tagger bundle"  # a space in the path: Exec must quote it
    bundle.mkdir()
    shutil.copy2(REPO / "packaging" / "linux" / "install.sh", bundle / "install.sh")
    exe = bundle / "SceneTagger"
    exe.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" -c "import sys; sys.frozen = True; '
        f"sys.executable = '{exe}'; sys.path.insert(0, '{REPO}'); "
        'from app.cli.main import main; sys.exit(main(sys.argv[1:]))" "$@"\n'
    )
    exe.chmod(0o755)
    home, data = tmp_path / "home", tmp_path / "home" / ".local" / "share"
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(data)}
    done = subprocess.run(
        ["sh", str(bundle / "install.sh")], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    entry_file = data / "applications" / "scene-tagger.desktop"
    validate(entry_file)
    entry = read_entry(entry_file)
    assert parse_exec(entry["Exec"]) == [str(exe), "%F"]
    assert entry_file.read_text(encoding="utf-8") == desktop.entry_text([str(exe)])
    assert (home / ".local" / "bin" / "SceneTagger").resolve() == exe.resolve()
    assert (data / "icons/hicolor/256x256/apps/scene-tagger.png").is_file()
    removed = subprocess.run(
        ["sh", str(bundle / "install.sh"), "--remove"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert removed.returncode == 0, removed.stderr
    assert not entry_file.exists() and not (home / ".local" / "bin" / "SceneTagger").exists()


# --- what "Open With" passes ----------------------------------------------------------------


def test_a_photo_on_the_command_line_opens_its_folder_with_it_selected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main as cli_main
    from tests.conftest import make_photo

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        cli_main, "run_window", lambda folder, recursive=False, photo=None: calls.append(
            (folder, recursive, photo)
        ) or 0
    )  # fmt: skip
    photo = make_photo(tmp_path / "trip" / "IMG_0001.JPG")
    other = make_photo(tmp_path / "trip" / "IMG_0002.jpg")
    assert cli_main.main([str(photo), str(other)]) == 0  # %F: several; the first is selected
    assert calls[-1] == (None, False, photo)
    assert cli_main.main([str(tmp_path / "trip")]) == 0  # a folder, as before
    assert calls[-1] == (tmp_path / "trip", False, None)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    assert cli_main.main([str(notes)]) == 2
    assert "not a photo or a folder" in capsys.readouterr().err
    assert len(calls) == 2
