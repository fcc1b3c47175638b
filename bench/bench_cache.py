"""The results cache, end to end: a second `classify` against the first, a 100,000-entry tree.

    python bench/bench_cache.py [--data ../shared/data/intel-scenes/seg_test] [--links 100000]
                                [--work /tmp/scene-tagger-bench-cache] [--out docs/bench_cache.md]

1. `classify --recursive --json` over seg_test with an empty cache (every photo through the
   model), then again: wall times, their ratio (target <= 5 %), and whether the two JSON
   outputs are byte-identical.
2. A tree of --links hard links to those photos (copyNN/<class>/<id>.jpg, built under --work;
   no photo is copied), classified twice with the warm cache (target <= 60 s).
3. Bytes per photo in the database, with and without a 512-value feature.
4. What a fingerprint costs on a generated 12 MP JPEG: whole-file SHA-256 and BLAKE2b, a
   5 x 64 KiB sample, against decoding it for the model.

Every command runs as its own process (`python -m app`, as a user runs it), so times include
interpreter start, imports and the model load. The load average is printed beside each figure:
this machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "intel-scenes" / "seg_test"


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_app(args: list[str], cache: Path, out: Path) -> tuple[float, str]:
    env = {**os.environ, "SCENE_TAGGER_CACHE": str(cache)}
    start = time.perf_counter()
    with open(out, "wb") as f:
        done = subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=REPO,
            env=env,
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"python -m app {' '.join(args)} failed:\n{done.stderr}")
    return took, done.stderr.strip().splitlines()[-1]


def build_tree(data: Path, root: Path, links: int) -> int:
    photos = sorted(p for p in data.rglob("*.jpg"))
    if root.exists():
        shutil.rmtree(root)
    made = 0
    copy = 0
    while made < links:
        for p in photos:
            if made == links:
                break
            dest = root / f"copy{copy:02d}" / p.relative_to(data)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, dest)
            made += 1
        copy += 1
    return made


def bytes_per_row(work: Path, n: int = 5000) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    import numpy as np

    from app.cache.library import Library
    from app.model.engine import Prediction
    from app.model.scenes import CLASSES

    out = {}
    for with_feature in (True, False):
        folder = work / f"rows-{with_feature}"
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for i in range(n):
            f = folder / f"{i}.bin"
            f.write_bytes(i.to_bytes(8, "big"))
            files.append(f)
        rng = np.random.default_rng(0)
        lib = Library(folder / "cache.sqlite3", racy_seconds=0.0)
        preds = []
        for f in files:
            p = rng.dirichlet(np.ones(6))
            scores = {c: float(v) for c, v in zip(CLASSES, p, strict=True)}
            label = max(scores, key=scores.get)
            feature = rng.standard_normal(512).astype(np.float32) if with_feature else None
            preds.append(Prediction(f, label, scores[label], scores, feature=feature))
        for start in range(0, n, 500):
            lib.store(preds[start : start + 500], "scene-vgg16@5552b92d5f9c/int8")
        lib.lookup(files, "scene-vgg16@5552b92d5f9c/int8")  # adds the stat short cuts
        info = lib.info()
        out["with feature" if with_feature else "without feature"] = info.used_bytes / n
        lib.close()
    return out


def fingerprint_costs(work: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    import numpy as np
    from PIL import Image

    from app.photos import imaging

    path = work / "12mp.jpg"
    rng = np.random.default_rng(0)
    h, w = 3000, 4000
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], -1)
    pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    size = path.stat().st_size

    def whole(algo: str) -> None:
        digest = hashlib.new(algo)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)

    def sampled() -> None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for off in (0, size // 4, size // 2, 3 * size // 4, max(0, size - 65536)):
                f.seek(off)
                digest.update(f.read(65536))

    def best_ms(fn, repeat: int) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return 1000 * min(times)

    return {
        "file MB": size / 1e6,
        "sha256 whole file": best_ms(lambda: whole("sha256"), 20),
        "blake2b whole file": best_ms(lambda: whole("blake2b"), 20),
        "sha256 of 5 x 64 KiB samples": best_ms(sampled, 20),
        "decode for the model (load_pixels)": best_ms(lambda: imaging.load_pixels(path, 150), 5),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--links", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "st-bench-cache")
    ap.add_argument("--out", type=Path, help="also write the markdown here")
    ap.add_argument("--skip-cold", action="store_true", help="reuse the cache in --work")
    args = ap.parse_args()
    work = args.work
    cache = work / "cache"
    work.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Results cache figures ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; `python -m app` "
        "processes; other jobs were running on this shared machine (load averages beside "
        "each figure).",
        "",
    ]

    def note(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    classify = ["classify", "--recursive", "--json", str(args.data)]
    if not args.skip_cold:
        shutil.rmtree(cache, ignore_errors=True)
        before = load()
        cold, summary = run_app(classify, cache, work / "first.jsonl")
        note(f"- first run, empty cache: **{cold:.1f} s** ({before} -> {load()}); {summary}")
    warm, summary = run_app(classify, cache, work / "second.jsonl")
    note(f"- second run, unchanged folder: **{warm:.1f} s** ({load()}); {summary}")
    if not args.skip_cold:
        same = (work / "first.jsonl").read_bytes() == (work / "second.jsonl").read_bytes()
        note(f"- ratio: **{100 * warm / cold:.1f} %** (target <= 5 %); identical JSON: {same}")

    tree = work / "tree"
    t = time.perf_counter()
    n = build_tree(args.data, tree, args.links)
    note(f"- built {n} hard links in {time.perf_counter() - t:.1f} s")
    tree_cmd = ["classify", "--recursive", "--json", str(tree)]
    for attempt in ("first", "second"):
        took, summary = run_app(tree_cmd, cache, work / f"tree-{attempt}.jsonl")
        note(f"- {n}-entry tree, {attempt} run, warm cache: **{took:.1f} s** ({load()}); {summary}")
    shutil.rmtree(tree)

    note("")
    note("Bytes per photo in the database (5,000 results, page use after the stat short cuts):")
    for k, v in bytes_per_row(work).items():
        note(f"- {k}: {v:.0f} bytes")
    note("")
    note(f"Fingerprint cost on a generated 12 MP JPEG, best of 20 ({load()}):")
    costs = fingerprint_costs(work)
    note(f"- file size: {costs.pop('file MB'):.1f} MB")
    for k, v in costs.items():
        note(f"- {k}: {v:.1f} ms")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
