"""A progress bar for classify and tag on a terminal (count, rate, time left), and not one
byte of it when stderr is a pipe or a file. The terminal is a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import REPO, make_photo

N = 12
# tqdm's bar at its end: 100%|█████| 12/12 [00:01<00:00, 9.50 photos/s]
FINAL_BAR = re.compile(rf"100%\|.*\| {N}/{N} \[\d\d:\d\d<\d\d:\d\d, +[\d.]+ photos/s\]")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    for i in range(N):
        make_photo(tmp_path / "photos" / f"IMG_{i:02d}.jpg", seed=i)
    return tmp_path / "photos"


def on_a_terminal(
    argv: list[str | Path], stdout_too: bool = False, sized: bool = True
) -> tuple[int, str, str]:
    """Run `python -m app ARGV` with stderr (and stdout when `stdout_too`) on a pty of 100x30
    (or of no size at all, as `script` and some CI runners make them, when not `sized`)."""
    master, slave = pty.openpty()
    if sized:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *map(str, argv)],
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        cwd=REPO,
    )
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the pty is gone
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=300), out, screen.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("command", "sized"), [("classify", True), ("tag", True), ("classify", False)]
)
def test_a_terminal_gets_a_bar_with_rate_and_time_left(
    photos: Path, tiny_card: Path, command: str, sized: bool
) -> None:
    argv = [command, "--no-cache", "--model", tiny_card, photos]
    code, out, screen = on_a_terminal(argv, sized=sized)
    assert code == 0, screen
    assert FINAL_BAR.search(screen), screen
    assert len(out.splitlines()) == N and "photos/s]" not in out  # the lines stay clean
    summary = screen.splitlines()[-1]
    assert "; tiny-test@" in summary and FINAL_BAR.search(summary) is None  # after the bar


def test_lines_on_the_same_terminal_go_above_the_bar(photos: Path, tiny_card: Path) -> None:
    code, _, screen = on_a_terminal(["classify", "--model", tiny_card, photos], stdout_too=True)
    assert code == 0 and FINAL_BAR.search(screen)
    for photo in sorted(photos.iterdir()):  # each line whole, none cut by the bar
        assert re.search(rf"(^|\n|\r){re.escape(str(photo))}\t\w+\t[\d.]+%\r?\n", screen), photo


@pytest.mark.parametrize("command", ["classify", "tag"])
def test_a_pipe_gets_nothing_but_the_summary(photos: Path, tiny_card: Path, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", command, "--model", tiny_card, photos],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0
    assert done.stderr.count("\n") == 1 and "\r" not in done.stderr and "|" not in done.stderr
    assert "; tiny-test@" in done.stderr  # the summary line, alone
