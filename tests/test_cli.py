"""`python -m app classify`, `--self-test`, `--version` and the window launcher, run in-process."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, make_photo
from test_imaging import png_bomb

from app.cli import main as cli
from app.model import scenes
from app.model.engine import Classifier
from tests.unprivileged import run_app


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, list[str], str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def labels_by_path(card: Path, photos: list[Path]) -> dict[str, str | None]:
    with Classifier(card, device="cpu") as clf:
        return {str(p.path): p.label for p in clf.classify_paths(photos)}


# --- classify ------------------------------------------------------------------------------


def test_classify_text(capsys, tiny_card: Path, photo_folder: Path) -> None:
    code, lines, err = run(capsys, "classify", "--model", tiny_card, photo_folder)
    assert code == 0
    photos = sorted(photo_folder.glob("*.jpg"))
    expected = labels_by_path(tiny_card, photos)
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in photos]
    for line in lines:
        path, label, confidence = line.split("\t")
        assert label == expected[path]
        assert confidence.endswith("%") and 100 / 6 <= float(confidence[:-1]) <= 100
    assert (
        "6 photos, 0 errors" in err and "CPU" in err and "photos/s" in err and "tiny-test@" in err
    )


def test_classify_json(capsys, tiny_card: Path, photo_folder: Path) -> None:
    code, lines, err = run(
        capsys, "classify", "--json", "--precision", "fp32", "--model", tiny_card, photo_folder
    )
    assert code == 0 and len(lines) == 6
    for line in lines:
        obj = json.loads(line)
        assert set(obj) == {"path", "label", "confidence", "source", "scores", "model"}
        assert obj["source"] == "automatic"
        assert obj["model"].startswith("tiny-test@") and obj["model"] in err  # the summary's
        assert list(obj["scores"]) == list(scenes.CLASSES)
        assert sum(obj["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert obj["label"] == max(obj["scores"], key=obj["scores"].get)
        assert obj["confidence"] == obj["scores"][obj["label"]]
        assert Path(obj["path"]).parent == photo_folder


def test_classify_files_folders_and_recursion(
    capsys, tiny_card: Path, photo_folder: Path, tmp_path: Path
) -> None:
    nested = make_photo(photo_folder / "sub" / "deep.png", fmt="PNG")
    single = make_photo(tmp_path / "single.webp", fmt="WEBP")
    _, flat, _ = run(capsys, "classify", "--model", tiny_card, photo_folder, single)
    assert len(flat) == 7 and flat[-1].startswith(f"{single}\t")
    _, deep, _ = run(
        capsys, "classify", "-r", "--batch-size", "2", "--model", tiny_card, photo_folder
    )
    assert len(deep) == 7 and any(line.startswith(f"{nested}\t") for line in deep)


# Each bad file sits among good photos: the run completes, the good ones are all labelled and
# the bad one gets an error line saying why.
def _zero_byte(folder: Path) -> Path:
    path = folder / "zero.jpg"
    path.write_bytes(b"")
    return path


def _text_as_jpg(folder: Path) -> Path:
    path = folder / "readme.jpg"
    path.write_text("this is not a photo\n" * 50)
    return path


def _truncated(folder: Path) -> Path:
    data = make_photo(folder.parent / "whole.jpg", size=(800, 600)).read_bytes()
    path = folder / "truncated.jpg"
    path.write_bytes(data[: len(data) // 3])
    return path


def _corrupt(folder: Path) -> Path:
    data = make_photo(folder.parent / "whole.png", fmt="PNG").read_bytes()
    path = folder / "corrupt.png"
    path.write_bytes(data[:40] + b"\x00garbage" * 200)
    return path


def _bomb(folder: Path) -> Path:
    return png_bomb(folder / "bomb.png")


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero-byte": (_zero_byte, "not a readable image"),
    "text-named-jpg": (_text_as_jpg, "not a readable image"),
    "truncated": (_truncated, "truncated"),
    "corrupt": (_corrupt, "corrupt"),
    "decompression-bomb": (_bomb, "decompression bomb"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_classify_bad_file_is_reported_and_the_run_continues(
    capsys, tiny_card: Path, photo_folder: Path, kind: str
) -> None:
    build, message = BAD_FILES[kind]
    bad = build(photo_folder)
    for as_json in (False, True):
        code, lines, err = run(
            capsys, "classify", *(["--json"] if as_json else []), "--model", tiny_card, photo_folder
        )
        assert code == 1 and "1 photo failed" in err  # completed, but not every photo
        assert len(lines) == 7 and "7 photos, 1 error;" in err
        if as_json:
            rows = {r["path"]: r for r in map(json.loads, lines)}
            assert set(rows[str(bad)]) == {"path", "error"} and message in rows[str(bad)]["error"]
            assert sum("label" in r for r in rows.values()) == 6
        else:
            bad_line = next(line for line in lines if line.startswith(f"{bad}\t"))
            assert bad_line.split("\t")[1].startswith("ERROR: ") and message in bad_line.lower()
            assert sum(line.split("\t")[1] in scenes.CLASSES for line in lines) == 6


def test_classify_unreadable_file(tiny_card: Path, photo_folder: Path) -> None:
    locked = make_photo(photo_folder / "locked.jpg")
    locked.chmod(0)
    try:
        done = run_app("classify", "--model", tiny_card, photo_folder, denied=locked)
        lines = done.stdout.splitlines()
        assert done.returncode == 1 and f"{locked}\tERROR: permission denied" in lines
        assert "1 error;" in done.stderr and len(lines) == 7
    finally:
        locked.chmod(0o644)


def test_classify_unicode_and_spaces(capsys, tiny_card: Path, tmp_path: Path) -> None:
    folder = tmp_path / "vacances d'été"
    names = ["plage à Nice.jpg", "山 と 海.png", "  spaces  .jpg", "emoji 🌊.webp"]
    fmts = ["JPEG", "PNG", "JPEG", "WEBP"]
    for i, (name, fmt) in enumerate(zip(names, fmts, strict=True)):
        make_photo(folder / name, seed=i, fmt=fmt)
    code, lines, _ = run(capsys, "classify", "--json", "--model", tiny_card, folder)
    assert code == 0
    paths = sorted(Path(json.loads(line)["path"]).name for line in lines)
    assert paths == sorted(names)
    assert all("label" in json.loads(line) for line in lines)
    code, lines, _ = run(capsys, "classify", "--model", tiny_card, folder / "plage à Nice.jpg")
    assert code == 0 and lines[0].startswith(f"{folder / 'plage à Nice.jpg'}\t")


def test_classify_recursive_scan_survives_symlink_loops(
    capsys, tiny_card: Path, photo_folder: Path
) -> None:
    make_photo(photo_folder / "sub" / "inner.jpg")
    os.symlink(photo_folder, photo_folder / "sub" / "back-to-top")
    code, lines, err = run(capsys, "classify", "-r", "--model", tiny_card, photo_folder)
    assert code == 0 and len(lines) == 7 and "7 photos, 0 errors" in err


def test_classify_empty_folder(capsys, tiny_card: Path, tmp_path: Path) -> None:
    code, lines, err = run(capsys, "classify", "--model", tiny_card, tmp_path)
    assert code == 0 and lines == [] and "no photos found" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["classify"],
        ["classify", "--bogus", "x"],
        ["classify", "--batch-size", "0", "x"],
        ["classify", "--precision", "int4", "x"],
        ["tag"],
        ["tag", "--min-confidence", "1.5", "x"],
        ["--bogus"],
    ],
    ids=[
        "no-path",
        "unknown-option",
        "batch-size-0",
        "bad-precision",
        "tag-no-folder",
        "bad-threshold",
        "top-level",
    ],
)
def test_bad_usage_exits_2(capsys, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err


def test_unknown_device_exits_2(capsys, tiny_card: Path, photo_folder: Path) -> None:
    code, lines, err = run(
        capsys, "classify", "--device", "toaster", "--model", tiny_card, photo_folder
    )
    assert code == 2 and lines == [] and "unknown device 'toaster'" in err


def test_a_missing_path_among_several_is_a_per_photo_error(
    capsys, tiny_card: Path, photo_folder: Path
) -> None:
    gone, gone_dir = photo_folder / "gone.jpg", photo_folder / "no-such-folder"
    code, lines, err = run(capsys, "classify", "--model", tiny_card, gone, photo_folder, gone_dir)
    assert code == 1 and "2 photos failed" in err and "8 photos, 2 errors;" in err
    assert f"{gone}\tERROR: no such file or folder" in lines
    assert f"{gone_dir}\tERROR: no such file or folder" in lines
    assert sum(line.split("\t")[1] in scenes.CLASSES for line in lines) == 6
    code, lines, err = run(capsys, "classify", "--json", "--model", tiny_card, gone)
    assert code == 1 and json.loads(lines[0]) == {
        "path": str(gone),
        "error": "no such file or folder",
    }


def test_non_utf8_file_names_round_trip_through_json(
    capsysbinary, tiny_card: Path, tmp_path: Path
) -> None:
    """caf\\xe9.jpg (Latin-1, as old FAT and Samba shares hold it): the JSON names it with a
    visible replacement mark and carries the raw bytes, and a program that is not Python (a
    shell with coreutils' base64) opens the very file from them."""
    if sys.platform == "darwin":
        pytest.skip("macOS file systems refuse names that are not UTF-8")
    folder = tmp_path / "share"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9.jpg"
    make_photo(Path(os.fsdecode(raw)), seed=3)
    make_photo(folder / "plain.jpg", seed=4)
    code = cli.main(["classify", "--json", "--model", str(tiny_card), str(folder)])
    assert code == 0
    rows = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    odd = next(r for r in rows if "path_bytes" in r)
    plain = next(r for r in rows if r["path"].endswith("plain.jpg"))
    assert odd["path"].endswith("caf\ufffd.jpg") and "label" in odd
    assert "path_bytes" not in plain  # only when the bytes are not UTF-8
    assert base64.b64decode(odd["path_bytes"]) == raw
    shell = subprocess.run(
        ["sh", "-c", 'f=$(printf %s "$1" | base64 -d) && wc -c < "$f"', "sh", odd["path_bytes"]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(shell.stdout) == os.path.getsize(raw)
    # text output: the name's own bytes, so `cut -f1 | xargs` style scripts still work
    code = cli.main(["classify", "--model", str(tiny_card), os.fsdecode(raw)])
    out = capsysbinary.readouterr().out
    assert code == 0 and out.startswith(raw + b"\t")


def test_installed_script_names_itself_in_usage(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/home/me/.venv/bin/scene-tagger", "--help"])
    code, lines, _ = run(capsys, "--help")
    text = "\n".join(lines)
    assert code == 0 and "usage: scene-tagger" in text and "python -m app" not in text
    assert "exit status:" in text and "130" in text
    monkeypatch.setattr(sys, "argv", ["/repo/app/__main__.py"])
    code, lines, _ = run(capsys, "tag", "--help")
    assert code == 0 and lines[0].startswith("usage: python -m app tag")


# --- unusable weights: exit 3, the file named -----------------------------------------------


def _break_missing(card: Path) -> str:
    (card.parent / "tiny.safetensors").unlink()
    return "tiny.safetensors"


def _break_truncated(card: Path) -> str:
    weights = card.parent / "tiny.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    return "tiny.safetensors"


def _break_mismatch(card: Path) -> str:
    model = scenes.ModelCard.read(card)
    model.weights_sha256 = "f" * 64
    model.write(card)
    return "tiny.safetensors"


def _break_card(card: Path) -> str:
    card.write_text("{not json", encoding="utf-8")
    return card.name


@pytest.mark.parametrize(
    "breakage", [_break_missing, _break_truncated, _break_mismatch, _break_card]
)
@pytest.mark.parametrize("command", ["classify", "tag"])
def test_unusable_weights_exit_3(
    capsys, tiny_card: Path, photo_folder: Path, tmp_path: Path, breakage, command: str
) -> None:
    card = tmp_path / "model" / tiny_card.name
    shutil.copytree(tiny_card.parent, card.parent)
    filename = breakage(card)
    code, lines, err = run(capsys, command, "--model", card, photo_folder)
    assert code == 3 and lines == []
    assert err.startswith("error: ") and filename in err
    assert not list(photo_folder.glob("*.xmp"))


# --- version, self-test, window ------------------------------------------------------------


def test_version(capsys) -> None:
    code, lines, _ = run(capsys, "--version")
    assert code == 0 and lines == [f"scene-tagger {cli.version()}"] and cli.version()[0].isdigit()


def test_python_dash_m_app_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("scene-tagger ")


def test_self_test_passes(capsys, tiny_card: Path, tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    photo = make_photo(samples / "IMG_1.jpg")
    (label,) = labels_by_path(tiny_card, [photo]).values()
    make_photo(samples / f"{label}_2.jpg")  # named after its class: the label is checked
    code, lines, _ = run(capsys, "--self-test", "--model", tiny_card, "--samples", samples)
    assert code == 0, lines
    assert lines[0].startswith("self-test ok: 2 samples classified, weights sha256 ok (tiny-test@")


def test_self_test_fails_on_a_wrong_label_or_bad_sample(
    capsys, tiny_card: Path, tmp_path: Path
) -> None:
    samples = tmp_path / "samples"
    photo = make_photo(samples / "IMG_1.jpg")
    (label,) = labels_by_path(tiny_card, [photo]).values()
    wrong = next(c for c in scenes.CLASSES if c != label)
    make_photo(samples / f"{wrong}-1.jpg")
    (samples / "broken.png").write_bytes(b"")
    code, lines, _ = run(capsys, "--self-test", "--model", tiny_card, "--samples", samples)
    assert code == 1
    assert lines[0].startswith("self-test FAILED") and f"expected {wrong}, got {label}" in lines[0]
    assert "broken.png" in lines[0]


def test_self_test_without_samples_or_weights(capsys, tiny_card: Path, tmp_path: Path) -> None:
    code, lines, _ = run(
        capsys, "--self-test", "--model", tiny_card, "--samples", tmp_path / "none"
    )
    assert code == 1 and "no sample photos" in lines[0]
    code, lines, _ = run(
        capsys, "--self-test", "--model", tmp_path / "absent.json", "--samples", tmp_path
    )
    assert code == 3 and "absent.json" in lines[0]


def test_expected_label_from_sample_names() -> None:
    assert cli._expected_label(Path("sea.jpg"), scenes.CLASSES) == "sea"
    assert cli._expected_label(Path("Forest_03.png"), scenes.CLASSES) == "forest"
    assert cli._expected_label(Path("seashore.jpg"), scenes.CLASSES) is None
    assert cli._expected_label(Path("IMG_1.jpg"), scenes.CLASSES) is None


def test_window_opens_on_a_folder(
    capsys, monkeypatch: pytest.MonkeyPatch, photo_folder: Path
) -> None:
    opened: list[tuple[Path | None, bool, Path | None]] = []
    fake = types.ModuleType("app.ui.main")
    fake.run_gui = lambda folder, recursive=False, photo=None: (
        opened.append((folder, recursive, photo)) or 0
    )  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.ui.main", fake)
    assert run(capsys, photo_folder)[0] == 0
    assert run(capsys)[0] == 0
    assert run(capsys, "--recursive", photo_folder)[0] == 0
    photo = photo_folder / "IMG_0001.jpg"  # a file manager's Open With: the photo's folder
    assert run(capsys, photo)[0] == 0
    assert opened == [
        (photo_folder, False, None),
        (None, False, None),
        (photo_folder, True, None),
        (None, False, photo),
    ]
    code, _, err = run(capsys, photo_folder / "missing")
    assert (
        code == 2
        and f"no such file or folder: {photo_folder / 'missing'}" in err
        and len(opened) == 4
    )


def test_window_unavailable_says_so(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "app.ui.main", None)  # import raises ImportError
    code, _, err = run(capsys)
    assert code == 1 and "the window cannot open" in err and "classify" in err
