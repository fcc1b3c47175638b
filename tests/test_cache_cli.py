"""The results cache through `python -m app`: classify and tag reuse it, --no-cache bypasses it,
`cache info|clear|limit|export|import`, `--shard K/N`, and the bad inputs of issue 11."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import make_photo
from test_cli import run

from app.cache.library import Library
from app.cli import main as cli
from app.tagging import sidecar
from tests.tolerances import assert_same_json_lines, assert_same_tag


def results_file(private_cache: Path) -> Path:
    return private_cache / "results.sqlite3"


def test_a_second_classify_comes_from_the_cache_with_identical_output(
    capsys, tiny_card: Path, photo_folder: Path, private_cache: Path
) -> None:
    make_photo(photo_folder / "sub" / "deep.png", fmt="PNG")
    argv = ["classify", "-r", "--json", "--model", tiny_card, photo_folder]
    code1, first, err1 = run(capsys, *argv)
    code2, second, err2 = run(capsys, *argv)
    assert code1 == code2 == 0 and len(first) == 7
    assert second == first  # byte for byte, every score: the cache gives back what it stored
    assert (
        "; 0 from the cache" in err1 and ", all 7 from the cache" in err2 and "photos/s" not in err2
    )
    _, uncached, err3 = run(capsys, *argv, "--no-cache")
    assert_same_json_lines(uncached, first)  # the model again: the last digits may move
    assert "from the cache" not in err3
    _, text, _ = run(capsys, "classify", "-r", "--model", tiny_card, photo_folder)
    _, text_again, _ = run(capsys, "classify", "-r", "--model", tiny_card, photo_folder)
    assert text == text_again and len(text) == 7


def test_no_cache_leaves_no_cache_behind(capsys, tiny_card, photo_folder, private_cache) -> None:
    code, lines, _ = run(capsys, "classify", "--no-cache", "--model", tiny_card, photo_folder)
    assert code == 0 and len(lines) == 6 and not results_file(private_cache).exists()


def test_cache_info_clear_and_limit(capsys, tiny_card, photo_folder, private_cache) -> None:
    run(capsys, "classify", "--model", tiny_card, photo_folder)
    code, lines, _ = run(capsys, "cache", "info")
    assert code == 0 and lines[0] == f"cache: {results_file(private_cache)}"
    assert "results: 6;" in lines[2] and "limit 1.0 GiB" in lines[1]
    assert lines[3].startswith("  tiny-test@") and lines[3].endswith(": 6 results, 0 with features")
    code, lines, _ = run(capsys, "cache", "limit", "2GiB")
    assert code == 0 and lines[0].startswith("limit 2.0 GiB")
    assert Library().max_bytes == 2 << 30  # kept in the file, for the window too
    assert run(capsys, "cache", "limit", "12")[0] == 2  # under 1 MiB: bad usage
    code, lines, _ = run(capsys, "cache", "clear")
    assert code == 0 and lines == [f"removed 6 results from {results_file(private_cache)}"]
    _, lines, _ = run(capsys, "cache", "info")
    assert "results: 0;" in lines[2] and len(lines) == 3
    _, _, err = run(capsys, "classify", "--model", tiny_card, photo_folder)
    assert "; 0 from the cache" in err


def shard_lines(capsys, tiny_card: Path, folder: Path, spec: str) -> list[str]:
    code, lines, _ = run(capsys, "classify", "-r", "--shard", spec, "--model", tiny_card, folder)
    assert code == 0
    return lines


def test_shards_partition_the_folder_the_same_way_wherever_it_is_mounted(
    capsys, tiny_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    for i in range(30):
        make_photo(folder / f"roll{i % 3}" / f"IMG_{i:04d}.jpg", size=(40, 30), seed=i)
    _, everything, _ = run(capsys, "classify", "-r", "--model", tiny_card, folder)
    parts = [shard_lines(capsys, tiny_card, folder, f"{k}/4") for k in range(4)]
    assert sorted(line for part in parts for line in part) == sorted(everything)  # all …
    assert sum(len(p) for p in parts) == 30 and all(parts)  # … exactly once, none empty
    elsewhere = tmp_path / "mnt" / "nas" / "archive"
    shutil.copytree(folder, elsewhere)
    moved = shard_lines(capsys, tiny_card, elsewhere, "2/4")
    assert [line.split("\t")[0].replace(str(elsewhere), str(folder)) for line in moved] == [
        line.split("\t")[0] for line in parts[2]
    ]
    for bad in ("4/4", "1", "-1/3", "a/b", "0/0"):
        assert run(capsys, "classify", "--shard", bad, folder)[0] == 2


def test_shard_caches_merge_through_export_and_import(
    capsys, tiny_card: Path, photo_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    exports = []
    for k in range(2):  # two "machines", each with its own cache
        monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / f"node{k}"))
        shard_lines(capsys, tiny_card, photo_folder, f"{k}/2")
        exports.append(tmp_path / f"shard{k}.jsonl")
        code, _, err = run(capsys, "cache", "export", exports[-1])
        assert code == 0 and err.startswith("exported ")
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "merged"))
    code, lines, _ = run(capsys, "cache", "import", *exports)
    assert code == 0 and len(lines) == 2 and all("results imported" in line for line in lines)
    code, lines, err = run(capsys, "classify", "--json", "--model", tiny_card, photo_folder)
    assert code == 0 and len(lines) == 6 and ", all 6 from the cache" in err
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text("hello\n")
    code, _, err = run(capsys, "cache", "import", bogus)
    assert code == 1 and "not a scene-tagger-results export" in err


def test_tag_reuses_the_cache_and_writes_the_same_sidecars(
    capsys, tiny_card: Path, photo_folder: Path, tmp_path: Path
) -> None:
    uncached = tmp_path / "uncached"
    shutil.copytree(photo_folder, uncached)
    # 100 %: every label stays below the threshold, so a rerun classifies again; the cache answers
    argv = ["tag", "--min-confidence", "100%", "--model", tiny_card]
    code, first, err1 = run(capsys, *argv, photo_folder)
    code2, second, err2 = run(capsys, *argv, photo_folder)
    assert code == code2 == 0 and first == second and "6 below threshold" in err2
    assert ", all 6 from the cache" in err2
    write = ["tag", "--min-confidence", "0", "--model", tiny_card]  # now write them all
    code, lines, err = run(capsys, *write, photo_folder)
    assert code == 0 and "6 written" in err and ", all 6 from the cache" in err
    run(capsys, *write, "--no-cache", uncached)
    for photo in sorted(photo_folder.glob("*.jpg")):
        ours = sidecar.read_sidecar(photo).scene
        theirs = sidecar.read_sidecar(uncached / photo.name).scene
        assert_same_tag(ours, theirs)


def test_a_photo_replaced_by_another_with_the_same_name_and_size_gets_its_own_label(
    capsys, tiny_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    a = make_photo(tmp_path / "a.bmp", seed=1, fmt="BMP").read_bytes()
    b = make_photo(tmp_path / "b.bmp", seed=2, fmt="BMP").read_bytes()
    photo = folder / "IMG_0001.bmp"
    folder.mkdir()
    photo.write_bytes(a)
    argv = ["classify", "--json", "--model", tiny_card, folder]
    _, before, _ = run(capsys, *argv)
    st = os.stat(photo)
    photo.write_bytes(b)
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(photo).st_size == st.st_size
    _, after, err = run(capsys, *argv)
    _, truth, _ = run(capsys, *argv, "--no-cache")
    assert_same_json_lines(after, truth)
    assert json.loads(after[0])["scores"] != json.loads(before[0])["scores"]
    assert "; 0 from the cache" in err


@pytest.mark.parametrize("damage", ["garbage", "folder"])
def test_an_unreadable_cache_costs_one_warning_and_no_sidecar(
    capsys, tiny_card: Path, photo_folder: Path, tmp_path: Path, private_cache: Path, damage
) -> None:
    uncached = tmp_path / "uncached"
    shutil.copytree(photo_folder, uncached)
    db = results_file(private_cache)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"SQLite format 3\0" + os.urandom(5000)) if damage == "garbage" else db.mkdir()
    write = ["tag", "--min-confidence", "0", "--model", tiny_card]
    code, lines, err = run(capsys, *write, photo_folder)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert code == 0 and len(warnings) == 1 and "moved to results.sqlite3.broken-" in warnings[0]
    assert "6 written" in err
    run(capsys, *write, "--no-cache", uncached)
    for photo in sorted(photo_folder.glob("*.jpg")):
        ours = sidecar.read_sidecar(photo).scene
        theirs = sidecar.read_sidecar(uncached / photo.name).scene
        assert_same_tag(ours, theirs)
    assert any(p.name.startswith("results.sqlite3.broken-") for p in private_cache.iterdir())
    _, again, err = run(capsys, "classify", "--model", tiny_card, photo_folder)
    assert "warning" not in err and ", all 6 from the cache" in err  # the rebuilt cache works


def test_help_documents_the_cache(capsys) -> None:
    assert cli.main(["cache", "--help"]) == 0
    text = capsys.readouterr().out
    for action in ("info", "clear", "limit", "export", "import"):
        assert action in text
    assert cli.main(["classify", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--no-cache" in text and "--shard K/N" in text
