"""The results cache (app.cache.library, app.photos.fingerprint, app.cache.cached, app.cache.library_export) on real
files: keys, the stat short cut, the bound, damaged files, two processes, a full disk."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, make_photo

from app.cache.cached import CachedClassifier
from app.cache.library import Library
from app.cache.library_export import export_jsonl, import_jsonl
from app.model import scenes
from app.model.engine import Classifier, Prediction
from app.photos.fingerprint import fingerprint
from tests.tolerances import assert_same_prediction, assert_same_predictions

MODEL = "test-model@0123456789ab/fp32"


def prediction(path: Path, seed: int, feature: bool = True) -> Prediction:
    """A prediction as a runtime with pooled features makes it: six scores, 512 values."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(scenes.CLASSES))).astype(np.float32)
    scores = {c: float(v) for c, v in zip(scenes.CLASSES, p, strict=True)}
    label = max(scores, key=scores.get)
    vector = rng.standard_normal(512).astype(np.float32) if feature else None
    return Prediction(path, label, scores[label], scores, feature=vector)


def same_size_pair(folder: Path) -> tuple[Path, bytes, bytes]:
    """Two different BMP photos of the same size (BMP size depends on dimensions only)."""
    a = make_photo(folder / "a.bmp", seed=1, fmt="BMP").read_bytes()
    b = make_photo(folder / "b.bmp", seed=2, fmt="BMP").read_bytes()
    assert len(a) == len(b) and a != b
    return folder / "IMG_0001.bmp", a, b


def test_a_stored_prediction_comes_back_exactly_and_follows_the_content(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG_0001.jpg")
    lib = Library(tmp_path / "cache.sqlite3")
    pred = prediction(photo, 0)
    assert lib.lookup([photo], MODEL).misses == [photo]
    assert lib.store([pred], MODEL) == 1
    (hit,) = lib.lookup([photo], MODEL).hits
    assert hit.path == photo and hit.label == pred.label and hit.scores == pred.scores
    assert hit.confidence == pred.confidence
    assert hit.feature.dtype == np.float16 and hit.feature.shape == (512,)
    assert np.array_equal(hit.feature, pred.feature.astype(np.float16))
    # renamed and moved: found again by content; another model: not found
    moved = tmp_path / "elsewhere" / "renamed.jpg"
    moved.parent.mkdir()
    photo.rename(moved)
    assert [h.path for h in lib.lookup([moved], MODEL).hits] == [moved]
    assert lib.lookup([moved], MODEL + "-int8").misses == [moved]
    # edited in place: a new key
    with open(moved, "ab") as f:
        f.write(b"\0")
    assert lib.lookup([moved], MODEL).misses == [moved]
    # a failed prediction is never stored
    assert lib.store([Prediction(moved, error="cannot read")], MODEL) == 0


@pytest.mark.parametrize("racy_seconds", [0.0, 2.0])
def test_a_photo_replaced_by_another_of_the_same_name_size_and_mtime_is_classified_again(
    tmp_path: Path, racy_seconds: float
) -> None:
    """racy_seconds=0 trusts every stat key at once, so the short cut is in play: the inode and
    size and mtime match, and only ctime (which no program can set back) tells them apart."""
    photo, a, b = same_size_pair(tmp_path)
    photo.write_bytes(a)
    lib = Library(tmp_path / "cache.sqlite3", racy_seconds=racy_seconds)
    lib.store([prediction(photo, 0)], MODEL)
    assert len(lib.lookup([photo], MODEL).hits) == 1
    known_by_stat = lib.info().files
    assert known_by_stat == (1 if racy_seconds == 0 else 0)  # a fresh file is racily clean
    before = os.stat(photo)
    with open(photo, "r+b") as f:  # rewritten in place, same inode, as cp -p does
        f.write(b)
    os.utime(photo, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(photo)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    found = lib.lookup([photo], MODEL)
    assert found.misses == [photo] and not found.hits
    assert found.keys[photo][0] == fingerprint(photo)[0] != fingerprint(tmp_path / "a.bmp")[0]


def bytes_read() -> int:
    """What this process has read through read() so far (Linux /proc accounting)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_the_stat_short_cut_skips_reading_unchanged_files(tmp_path: Path) -> None:
    files = [tmp_path / f"p{i}.jpg" for i in range(3)]
    for f in files:
        f.write_bytes(os.urandom(2 << 20))
    for racy_seconds, expect_read in ((0.0, False), (3600.0, True)):
        lib = Library(tmp_path / f"cache-{racy_seconds}.sqlite3", racy_seconds=racy_seconds)
        lib.store([prediction(f, i) for i, f in enumerate(files)], MODEL)
        before = bytes_read()
        found = lib.lookup(files, MODEL)
        read = bytes_read() - before
        assert [h.path for h in found.hits] == files
        # settled files: known by stat, not one photo read; unsettled: every byte hashed again
        assert (read >= 3 * (2 << 20)) if expect_read else (read < 1 << 20), read
        lib.close()


def test_lru_keeps_the_cache_under_its_byte_limit(tmp_path: Path) -> None:
    files = []
    for i in range(1600):
        f = tmp_path / "files" / f"{i:05d}.jpg"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(i.to_bytes(4, "big") * 8)  # any bytes: the key is the content
        files.append(f)
    path = tmp_path / "cache.sqlite3"
    lib = Library(path, max_bytes=1 << 20)
    old, new = files[:800], files[800:]
    lib.store([prediction(f, i) for i, f in enumerate(old)], MODEL)
    with sqlite3.connect(path) as db:  # the first 800 were last used ten days ago
        db.execute("UPDATE results SET used = used - 864000")
    db.close()
    for start in range(0, len(new), 100):
        lib.store([prediction(f, start + i) for i, f in enumerate(new[start : start + 100])], MODEL)
    info = lib.info()
    assert info.used_bytes <= 1 << 20 < 1600 * 1100  # all 1600 would not fit
    assert 500 < info.rows < 1000
    assert len(lib.lookup(new[-300:], MODEL).hits) == 300  # the recent ones stayed
    assert len(lib.lookup(old[:300], MODEL).hits) == 0  # the old ones went first
    per_row = info.used_bytes / info.rows
    assert 1000 < per_row < 1700  # docs/cache.md: about 1.2 KB per photo with a feature


@pytest.mark.parametrize("kind", ["garbage", "foreign-sqlite", "folder", "truncated"])
def test_an_unusable_cache_file_is_set_aside_and_rebuilt_with_one_warning(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "cache.sqlite3"
    photo = make_photo(tmp_path / "p.jpg")
    if kind == "garbage":
        path.write_bytes(os.urandom(10000))
    elif kind == "foreign-sqlite":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE photos(name TEXT)")
        db.close()
    elif kind == "folder":
        path.mkdir()
    else:
        with Library(path) as lib:
            lib.store([prediction(photo, 0)], MODEL)
        path.write_bytes(path.read_bytes()[:1000])
    original = path.read_bytes() if path.is_file() else None
    warnings: list[str] = []
    lib = Library(path, warn=warnings.append)
    assert len(warnings) == 1 and "moved to" in warnings[0]
    (aside,) = lib.set_aside
    assert aside.exists() and (original is None or aside.read_bytes() == original)  # kept
    lib.store([prediction(photo, 0)], MODEL)
    assert len(lib.lookup([photo], MODEL).hits) == 1 and len(warnings) == 1


def test_a_cache_damaged_while_open_is_set_aside_and_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    files = []
    for i in range(300):
        files.append(tmp_path / f"{i}.jpg")
        files[-1].write_bytes(i.to_bytes(4, "big"))
    with Library(path) as lib:
        lib.store([prediction(f, i) for i, f in enumerate(files)], MODEL)
    data = bytearray(path.read_bytes())
    assert len(data) > 40000
    data[8192:] = b"\x55" * (len(data) - 8192)  # every page after the second is noise
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    lib = Library(path, warn=warnings.append)
    found = lib.lookup(files, MODEL)  # answers "not cached", never a wrong label
    assert not found.hits and len(found.misses) == 300
    assert len(warnings) == 1 and "damaged" in warnings[0] and lib.set_aside
    lib.store([prediction(files[0], 0)], MODEL)
    assert len(lib.lookup(files[:1], MODEL).hits) == 1


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path[:0] = [{repo!r}, {tests!r}]
    from test_library import MODEL, prediction
    from app.cache.library import Library
    folder, cache, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    lib = Library(cache)
    files = sorted(folder.iterdir())
    while not go.exists():
        pass
    for i, f in enumerate(files):  # one transaction each: the two writers interleave
        assert lib.store([prediction(f, i)], MODEL) == 1, f
    print(len(files))
    """
)


def test_two_processes_writing_at_once_lose_nothing_and_corrupt_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    go = tmp_path / "go"
    script = WRITER.format(repo=str(REPO), tests=str(REPO / "tests"))
    procs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(150):
            (folder / f"{i}.jpg").write_bytes(f"{name}{i}".encode())
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(folder), str(cache), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "150", err
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    lib = Library(cache)
    assert lib.info().rows == 300
    both = sorted((tmp_path / "a").iterdir()) + sorted((tmp_path / "b").iterdir())
    assert len(lib.lookup(both, MODEL).hits) == 300


def test_export_and_import_merge_two_caches(tmp_path: Path) -> None:
    files = [tmp_path / f"{i}.jpg" for i in range(6)]
    for i, f in enumerate(files):
        f.write_bytes(bytes([i]) * 100)
    shard0, shard1 = Library(tmp_path / "s0.sqlite3"), Library(tmp_path / "s1.sqlite3")
    shard0.store([prediction(f, i) for i, f in enumerate(files[:3])], MODEL)
    shard1.store([prediction(f, i, feature=False) for i, f in enumerate(files[3:])], MODEL)
    exports = []
    for lib in (shard0, shard1):
        buf = io.StringIO()
        assert export_jsonl(lib, buf) == 3
        exports.append(buf.getvalue().splitlines())
    assert json.loads(exports[0][0]) == {"format": "scene-tagger-results", "version": 1}
    merged = Library(tmp_path / "merged.sqlite3")
    assert import_jsonl(merged, exports[0]) == (3, 0)
    assert import_jsonl(merged, [*exports[1], "not json", '{"fingerprint": "zz"}']) == (3, 2)
    assert import_jsonl(merged, exports[0]) == (3, 0)  # again: merged, not duplicated
    hits = merged.lookup(files, MODEL).hits
    assert len(hits) == 6 and merged.info().rows == 6
    assert [h.feature is not None for h in hits] == [True] * 3 + [False] * 3
    original = shard0.lookup(files[:1], MODEL).hits[0]
    assert hits[0].scores == original.scores and np.array_equal(hits[0].feature, original.feature)
    with pytest.raises(ValueError, match="not a scene-tagger-results export"):
        import_jsonl(merged, ['{"a": 1}'])


def test_the_cached_classifier_answers_in_order_and_classifies_each_content_once(
    tiny_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    photos = [make_photo(folder / f"IMG_{i}.jpg", seed=i) for i in range(5)]
    os.link(photos[1], folder / "IMG_1_link.jpg")  # same inode
    (folder / "IMG_2_copy.jpg").write_bytes(photos[2].read_bytes())  # same bytes
    paths = sorted(folder.iterdir())
    with Classifier(tiny_card, device="cpu") as plain:
        expected = list(plain.classify_paths(paths))
    clf = CachedClassifier(Classifier(tiny_card, device="cpu"), Library(tmp_path / "c.sqlite3"))
    first = list(clf.classify_paths(paths))  # the model sees 5 photos, a batch of 5, not 7
    assert_same_predictions(first, expected)
    assert clf.classified == 5 and clf.hits == 0
    progress: list[tuple[int, int, int]] = []
    second = list(clf.classify_paths(paths, progress=lambda *a: progress.append(a)))
    assert second == first  # what the cache stored comes back exactly
    assert clf.classified == 5 and clf.hits == 7
    assert progress[0] == (0, 7, 0) and progress[-1] == (7, 7, 0)
    clf.close()


def test_a_folder_changing_while_it_is_classified_stores_no_stale_label(
    tiny_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    photo_a, a, b = same_size_pair(tmp_path)
    photos = [make_photo(folder / f"IMG_{i:02d}.jpg", seed=i) for i in range(12)]
    changing = folder / "IMG_99.bmp"
    changing.write_bytes(a)
    lib = Library(tmp_path / "c.sqlite3", racy_seconds=0.0)
    clf = CachedClassifier(Classifier(tiny_card, device="cpu", batch_size=1), lib)
    run = clf.classify_paths([*photos, changing])
    first = next(run)  # looked up (and fingerprinted) all 13; decoding runs 3 photos ahead
    assert first.ok
    photos[10].unlink()  # deleted, and the last replaced by another photo of the same size
    changing.write_bytes(b)
    rest = list(run)
    assert not rest[9].ok and rest[9].path == photos[10]  # a value, not an exception
    assert all(p.ok for i, p in enumerate(rest) if i != 9)
    with Classifier(tiny_card, device="cpu") as plain:
        (truth,) = plain.classify_paths([changing])
    assert_same_prediction(rest[-1], truth)  # what was classified is the new content …
    again = lib.lookup([changing], clf.model_id)
    assert again.misses == [changing]  # … and nothing was stored under the old content
    clf.close()


FULL_DISK = textwrap.dedent(
    """
    import resource, sys
    sys.path[:0] = [{repo!r}]
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    from app.cli import main as cli
    sys.exit(cli.main(sys.argv[2:]))
    """
)


def test_a_full_disk_skips_the_cache_write_with_one_warning(
    tiny_card: Path, tmp_path: Path, private_cache: Path
) -> None:
    """No file may grow past its current size (RLIMIT_FSIZE: writes fail as on a full disk)
    once the cache exists: every prediction is still printed, the cache says so once."""
    folder = tmp_path / "photos"
    for i in range(200):
        make_photo(folder / f"IMG_{i:04d}.jpg", size=(40, 30), seed=i)
    Library().close()  # the empty cache exists; the run must grow it
    limit = max(32768, (private_cache / "results.sqlite3").stat().st_size)
    args = ["classify", "--json", "--batch-size", "8", "--model", str(tiny_card), str(folder)]
    script = FULL_DISK.format(repo=str(REPO))
    full = subprocess.run(
        [sys.executable, "-c", script, str(limit), *args], capture_output=True, text=True
    )
    free = subprocess.run(
        [sys.executable, "-c", script, str(1 << 40), "classify", "--no-cache", *args[1:]],
        capture_output=True,
        text=True,
    )
    assert full.returncode == 0 and free.returncode == 0, full.stderr
    assert full.stdout == free.stdout and len(full.stdout.splitlines()) == 200
    warnings = [line for line in full.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "results cache" in warnings[0], full.stderr
    with sqlite3.connect(private_cache / "results.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_library_is_shared_by_threads(tmp_path: Path) -> None:
    files = [tmp_path / f"{i}.jpg" for i in range(40)]
    for i, f in enumerate(files):
        f.write_bytes(bytes([i]) * 10)
    lib = Library(tmp_path / "c.sqlite3")
    errors: list[BaseException] = []

    def work(part: list[Path], seed: int) -> None:
        try:
            for i, f in enumerate(part):
                lib.store([prediction(f, seed + i)], MODEL)
                assert lib.lookup([f], MODEL).hits
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(files[i::4], i * 100)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(lib.lookup(files, MODEL).hits) == 40


def test_a_look_without_hashing_answers_known_files_and_reads_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hash_unknown=False (the window, while it lists a folder): a photo whose stat key the
    cache knows is a hit; any other is a miss, and no file is read to find out."""
    import app.cache.library as library_module

    seen = make_photo(tmp_path / "seen.jpg", seed=1)
    fresh = make_photo(tmp_path / "fresh.jpg", seed=2)
    lib = Library(tmp_path / "cache.sqlite3", racy_seconds=0)
    lib.lookup([seen], MODEL)  # hashed once: its stat key is remembered
    lib.store([prediction(seen, 0)], MODEL)
    read: list[Path] = []
    real = library_module.fingerprint

    def spy(path: Any) -> Any:
        read.append(Path(path))
        return real(path)

    monkeypatch.setattr(library_module, "fingerprint", spy)
    found = lib.lookup([seen, fresh], MODEL, hash_unknown=False)
    assert [p.path for p in found.hits] == [seen] and found.misses == [fresh]
    assert read == []
    found = lib.lookup([fresh], MODEL)  # the scan's look does read it
    assert read == [fresh] and found.misses == [fresh]
    stats: list[Any] = []
    real_stat = library_module.os.stat
    monkeypatch.setattr(library_module.os, "stat", lambda p: stats.append(p) or real_stat(p))
    unknown = lib.lookup([seen, fresh], "other-model@1", hash_unknown=False)
    assert unknown.misses == [seen, fresh] and stats == []  # nothing stored for it: no stat
