"""`python -m app … | head -1`: a reader of stdout that goes away early never costs a traceback,
and never costs work: `tag` writes every sidecar it would have written (its summary goes to
stderr); a command whose only product is its output (classify, tag -n) stops (exit 141).

Real pipes, real subprocesses. The pipe is shrunk to one page and read one byte at a time, so
the command is still writing when its reader closes, on any machine: what `head -1` does to a
long run."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, make_photo

pytestmark = pytest.mark.skipif(
    not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux pipes (F_SETPIPE_SZ)"
)
N = 80  # photos: their lines fill a one-page pipe twice over


def folder_of(tmp_path: Path, n: int = N) -> Path:
    """`n` photos, hard links of 3 (the results cache classifies each content once: quick)."""
    folder = tmp_path / "photos"
    originals = [make_photo(tmp_path / "src" / f"{i}.jpg", seed=i) for i in range(3)]
    folder.mkdir()
    for i in range(n):
        os.link(originals[i % 3], folder / f"IMG_{i:04d}.jpg")
    return folder


def run_head(*argv: str | Path, lines: int = 1, stderr_too: bool = False):
    """`python -m app ARGV | head -LINES` (with `2>&1` when `stderr_too`): the first lines, the
    exit status, and what went to stderr."""
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    err_path = Path(os.environ["SCENE_TAGGER_CACHE"]).parent / "stderr.txt"
    with open(err_path, "wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *map(str, argv)],
            stdout=w,
            stderr=w if stderr_too else err_file,
            cwd=REPO,
        )
    os.close(w)
    got = b""
    while got.count(b"\n") < lines:
        byte = os.read(r, 1)
        if not byte:
            break
        got += byte
    os.close(r)  # head exits
    code = proc.wait(timeout=300)
    return code, got.decode().splitlines(), err_path.read_text()


def assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "BrokenPipeError" not in stderr, stderr


@pytest.mark.parametrize("stderr_too", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_tag_writes_every_sidecar_when_its_reader_goes_away(
    tmp_path: Path, tiny_card: Path, stderr_too: bool
) -> None:
    folder = folder_of(tmp_path)
    code, lines, err = run_head(
        "tag", "--min-confidence", "0", "--model", tiny_card, folder, stderr_too=stderr_too
    )
    assert code == 0 and len(lines) == 1
    assert_quiet(err)
    assert len(list(folder.glob("*.jpg.xmp"))) == N  # not 2 of 80
    if not stderr_too:
        assert f"{N} written, 0 unchanged" in err  # the summary, where it could go


def test_a_dry_run_stops_when_nobody_reads_it(tmp_path: Path, tiny_card: Path) -> None:
    folder = folder_of(tmp_path)
    code, lines, err = run_head("tag", "-n", "--min-confidence", "0", "--model", tiny_card, folder)
    assert code == 141 and len(lines) == 1 and lines[0].endswith(".xmp")
    assert_quiet(err)
    assert "(stopped: the output was closed)" in err and not list(folder.glob("*.xmp"))


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_classify_stops_when_nobody_reads_it(tmp_path: Path, tiny_card: Path, fmt: str) -> None:
    folder = folder_of(tmp_path)
    code, lines, err = run_head("classify", "--format", fmt, "--model", tiny_card, folder)
    assert code == 141 and len(lines) == 1
    assert_quiet(err)
    summary = next(line for line in err.splitlines() if "(stopped:" in line)
    assert int(summary.split(" ")[0]) < N  # it did not classify for nobody


def test_cache_commands_and_help_are_quiet_when_the_reader_is_gone(
    tmp_path: Path, tiny_card: Path
) -> None:
    folder = folder_of(tmp_path, 3)
    assert run_head("classify", "--model", tiny_card, folder, lines=3)[0] == 0  # fills the cache
    for argv in (["cache", "info"], ["cache", "export", "-"], ["learn", "--list"], ["--help"]):
        code, lines, err = run_head(*argv)
        assert len(lines) == 1, argv
        assert_quiet(err)
        assert code in (0, 141), (argv, code)


def test_a_reader_that_is_gone_before_the_first_line(tmp_path: Path, tiny_card: Path) -> None:
    folder = folder_of(tmp_path, 6)
    r, w = os.pipe()
    os.close(r)
    done = subprocess.run(
        [sys.executable, "-m", "app", "tag", "--min-confidence", "0", "--model", tiny_card, folder],
        stdout=w,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    os.close(w)
    assert done.returncode == 0 and len(list(folder.glob("*.xmp"))) == 6
    assert_quiet(done.stderr)
    assert "6 written" in done.stderr
