"""How to split the cores between decoding and the model (issue 27): end-to-end photos/s of
`Classifier.classify_paths` for each (decode workers, model threads) pair, per kind of photo.

    python bench/decode_split.py [--seg-test DIR] [--count 32] [--repeat 2] [--out FILE]

Photo sets: a seg_test slice (150 px JPEGs, the model's own size), the real-scenes-dev photos
(0.1-2 MP JPEGs from the web), and generated 12 MP files from bench_formats (one real photo
enlarged: JPEG, HEIC when the fixture is there, DNG with a 12 MP JPEG preview). For each set:
decode alone on one thread (the app's decoder, Pillow's DCT draft for JPEG), then every pair of
decode workers x model threads, interleaved, best of `--repeat`. The load average is written
beside each figure: read them on a quiet machine only. The runtime is `auto`'s (the default).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests")]

from bench_formats import make_sets  # noqa: E402

from app.model import scenes  # noqa: E402
from app.model.engine import Classifier, default_decode_workers  # noqa: E402
from app.photos import imaging  # noqa: E402

DEFAULT_SEG_TEST = REPO.parent / "shared" / "data" / "intel-scenes" / "seg_test"
REAL = REPO.parent / "shared" / "data" / "real-scenes-dev"


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def slice_of(folder: Path, limit: int) -> list[Path]:
    """`limit` photos, round robin over the class folders (the same slice every run)."""
    per_class = [sorted(d.glob("*.jpg")) for d in sorted(folder.iterdir()) if d.is_dir()]
    out = [p for group in itertools.zip_longest(*per_class) for p in group if p]
    return out[:limit]


def decode_rate(paths: list[Path], size: int) -> float:
    t0 = time.perf_counter()
    for p in paths:
        imaging.load_pixels(p, size)  # what the engine's decode workers run
    return len(paths) / (time.perf_counter() - t0)


def e2e_rate(workers: int, threads: int, paths: list[Path]) -> tuple[float, str]:
    with Classifier(device="cpu", decode_workers=workers, threads=threads) as clf:
        list(clf.classify_paths(paths[: clf.batch_size]))  # warm: first compile, pool start
        before = load()
        t0 = time.perf_counter()
        n = sum(1 for _ in clf.classify_paths(paths))
        return n / (time.perf_counter() - t0), f"{before} → {load()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seg-test", type=Path, default=DEFAULT_SEG_TEST)
    ap.add_argument("--limit", type=int, default=384, help="seg_test photos (default 384)")
    ap.add_argument("--count", type=int, default=32, help="12 MP files of each kind")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    pairs = (
        [(w, t) for w in (1, 2) for t in (1, 2)]
        if cores <= 2
        else [(w, t) for w in (1, 2, cores // 2) for t in (cores // 2, cores)]
    )
    size = scenes.ModelCard.read(scenes.default_card_path()).input_size
    with Classifier(device="cpu") as clf:
        runtime, default_w, default_t = clf.device_name, clf.decode_workers, clf.runtime.threads
    assert default_w == default_decode_workers(clf.device)
    with tempfile.TemporaryDirectory() as tmp:
        sets: dict[str, list[Path]] = {}
        if args.seg_test.is_dir():
            sets["seg_test JPEG, 150 px"] = slice_of(args.seg_test, args.limit)
        if REAL.is_dir():
            sets["real-scenes-dev JPEG, 0.1-2 MP"] = slice_of(REAL, 10_000)
        sets.update({k: v for k, v in make_sets(Path(tmp), args.count).items() if "AVIF" not in k})
        lines = [
            "| photos | n | decode alone, 1 thread | "
            + " | ".join(f"{w} decode + {t} model" for w, t in pairs)
            + " | best |",
            "|---|---:|---:|" + "---:|" * (len(pairs) + 1),
        ]
        for name, paths in sets.items():
            print(f"{name}: {len(paths)} photos …", file=sys.stderr)
            dec = max(decode_rate(paths, size) for _ in range(args.repeat))
            best: dict[tuple[int, int], tuple[float, str]] = {}
            for _ in range(args.repeat):
                for pair in pairs:
                    rate, ld = e2e_rate(*pair, paths)
                    if pair not in best or rate > best[pair][0]:
                        best[pair] = (rate, ld)
            top = max(best, key=lambda p: best[p][0])
            cells = [
                f"{best[p][0]:.1f}" + (" ←" if p == (default_w, default_t) else "") for p in pairs
            ]
            lines.append(
                f"| {name} | {len(paths)} | {dec:.1f}/s | "
                + " | ".join(cells)
                + f" | {top[0]} + {top[1]} |"
            )
    text = "\n".join(
        [
            f"photos/s end to end (`Classifier.classify_paths`), {runtime}, {cores} CPUs; "
            f"← = the app's default ({default_w} decode worker(s), {default_t} model threads); "
            f"best of {args.repeat} interleaved; load (1 min) at the start {load()}",
            "",
            *lines,
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
