"""Before the window: the xcb plugin's missing libraries are named with the package to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.ui import platform_check

REPO = Path(__file__).resolve().parent.parent


def test_missing_cursor_library_names_debian_and_fedora_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform_check, "_loads", lambda soname: soname != "libxcb-cursor.so.0")
    monkeypatch.setattr(platform_check, "_ldd_missing", lambda files: {"libweird.so.3"})
    missing = platform_check.missing_xcb_libraries()
    assert missing == ["libweird.so.3", "libxcb-cursor.so.0"]
    hint = platform_check.install_hint(missing)
    assert "sudo apt-get install libxcb-cursor0" in hint
    assert "sudo dnf install xcb-util-cursor" in hint
    assert "libweird.so.3" in hint
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}
    assert platform_check.display_problem(env) == hint
    # every known library loads: no ldd at start-up
    monkeypatch.setattr(platform_check, "_loads", lambda soname: True)
    monkeypatch.setattr(platform_check, "_ldd_missing", lambda files: pytest.fail("ldd ran"))
    assert platform_check.missing_xcb_libraries() == []


def test_only_an_xcb_start_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert platform_check.will_use_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert platform_check.will_use_xcb({"DISPLAY": ":0"})
    assert not platform_check.will_use_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert not platform_check.will_use_xcb({"QT_QPA_PLATFORM": "wayland;xcb"})
    wayland = {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}
    assert not platform_check.will_use_xcb(wayland)
    assert platform_check.display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert "DISPLAY is not set" in (
        platform_check.display_problem({"QT_QPA_PLATFORM": "xcb"}) or ""
    )


def test_the_app_explains_a_missing_display_instead_of_aborting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "no X display" in proc.stderr and "python -m app classify" in proc.stderr
