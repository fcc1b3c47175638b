"""End-to-end photos/s of Classifier.classify_paths against the model-only bound, in one run.

    python bench/bench_classify.py [--limit 512] [--large 32] [--out docs/bench_classify.md]
    python bench/bench_classify.py --agreement [--limit N] [--out docs/bf16_agreement.md]

Throughput mode, for (a) a slice of seg_test (150 px JPEGs) and (b) generated 4000x3000 JPEGs:
  decode only   the Classifier's decode pool alone (imaging.load_pixels, same thread count)
  model only    pre-decoded uint8 pixels through Classifier.classify_pixels: the bound
  end-to-end    Classifier.classify_paths over the files (decode pool + model overlapped)
Target: end-to-end >= 85% of model only. Files are read once before timing, so the figures
measure decoding and inference, not a cold disk. Each figure is the best of --repeat runs.

Agreement mode classifies seg_test with fp32 and bf16 on the same pixels and reports how often
the labels agree, the largest probability difference and each precision's accuracy.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np
import torch
from PIL import Image

from app.model import devices, networks, scenes
from app.model.engine import Classifier
from app.photos import imaging

DEFAULT_DATA = REPO.parent / "shared" / "data" / "intel-scenes" / "seg_test"
TARGET = 0.85


# --------------------------------------------------------------------------------------------
# Photo sets


def class_folders(root: Path) -> Path:
    """Accept both layouts: seg_test/<class>/ and Kaggle's seg_test/seg_test/<class>/."""
    nested = root / root.name
    return nested if nested.is_dir() and not (root / scenes.CLASSES[0]).is_dir() else root


def seg_test_slice(root: Path, limit: int | None) -> list[tuple[Path, str]]:
    """(photo, true label) taken round-robin over the classes, so any slice is balanced."""
    root = class_folders(root)
    per_class = [[(p, c) for p in imaging.list_photos(root / c)] for c in scenes.CLASSES]
    if not any(per_class):
        raise SystemExit(f"no photos under {root}/<class>/ (use --data)")
    mixed = [row[i] for i in range(max(map(len, per_class))) for row in per_class if i < len(row)]
    return mixed[:limit] if limit else mixed


def make_large_jpegs(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Camera-sized JPEGs with texture (so they compress like photos); every 4th is EXIF-rotated."""
    w, h = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = rng.normal(0, 8, (h, w, 3)).astype(np.float32)
    paths = []
    for i in range(count):
        angle = i * 0.7
        wave = 60 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / (40 + 7 * i))
        base = np.stack([xx / w * 200, yy / h * 200, 120 + wave], -1)
        arr = np.clip(base + np.roll(texture, 97 * i, axis=1), 0, 255).astype(np.uint8)
        exif = Image.Exif()
        if i % 4 == 3:
            exif[0x0112] = 6
        path = folder / f"DSC_{i:04d}.jpg"
        Image.fromarray(arr, "RGB").save(path, quality=90, exif=exif.tobytes())
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Measurements


def seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def decode_list(clf: Classifier, paths: list[Path]) -> list[np.ndarray | None]:
    """Every photo decoded with as many threads as the classifier's pool; None when unreadable."""
    size = clf.card.input_size
    with cf.ThreadPoolExecutor(clf.decode_workers) as pool:
        return list(pool.map(lambda p: _try_load(p, size), paths))


def decode_all(clf: Classifier, paths: list[Path]) -> np.ndarray:
    arrays = [a for a in decode_list(clf, paths) if a is not None]
    size = clf.card.input_size
    return np.stack(arrays) if arrays else np.empty((0, size, size, 3), np.uint8)


def _try_load(path: Path, size: int) -> np.ndarray | None:
    try:
        return imaging.load_pixels(path, size)
    except imaging.ImageError:
        return None


def measure(clf: Classifier, paths: list[Path], repeat: int) -> dict[str, float]:
    pixels = decode_all(clf, paths)  # also warms the page cache
    clf.classify_pixels(pixels[: clf.batch_size])  # warm-up: kernels, allocator, oneDNN primitives
    n = len(paths)
    errors = 0

    def end_to_end() -> None:
        nonlocal errors
        errors = sum(not p.ok for p in clf.classify_paths(paths))

    best = {"decode": math.inf, "model": math.inf, "e2e": math.inf}
    for _ in range(repeat):  # alternated, so a change in background load hits all three alike
        best["decode"] = min(best["decode"], seconds(lambda: decode_all(clf, paths)))
        best["model"] = min(best["model"], seconds(lambda: clf.classify_pixels(pixels)))
        best["e2e"] = min(best["e2e"], seconds(end_to_end))
    return {
        "photos": n,
        "errors": errors,
        "decode": n / best["decode"],
        "model": len(pixels) / best["model"],
        "e2e": n / best["e2e"],
    }


def machine() -> str:
    return f"{devices.cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()}"


def header(clf: Classifier, title: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='minutes')}",
        f"- machine: {machine()}",
        f"- torch {torch.__version__}, device {clf.device_name}, model {clf.model_id}",
        f"- batch size {clf.batch_size}, decode workers {clf.decode_workers}",
        "",
    ]


def throughput(args: argparse.Namespace) -> list[str]:
    clf = Classifier(
        args.model,
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        decode_workers=args.decode_workers,
    )
    rows: list[tuple[str, dict[str, float]]] = []
    with clf:
        if args.limit != 0:
            small = [p for p, _ in seg_test_slice(args.data, args.limit)]
            print(f"seg_test slice: {len(small)} photos …", file=sys.stderr)
            rows.append(
                (f"seg_test slice, {clf.card.input_size} px JPEG", measure(clf, small, args.repeat))
            )
        if args.large:
            with tempfile.TemporaryDirectory(prefix="bench_large_") as tmp:
                w, h = args.large_size
                print(f"generating {args.large} {w}x{h} JPEGs …", file=sys.stderr)
                large = make_large_jpegs(Path(tmp), args.large, (w, h))
                mb = sum(p.stat().st_size for p in large) / len(large) / 1e6
                rows.append(
                    (f"generated {w}x{h} JPEG (~{mb:.1f} MB)", measure(clf, large, args.repeat))
                )
        lines = header(clf, "Classifier throughput: end-to-end vs model only")
    lines += [
        f"| photo set | photos | decode only ({clf.decode_workers} threads) | model only | end-to-end | end-to-end / model only |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        ratio = r["e2e"] / r["model"] if r["model"] else 0.0
        mark = "ok" if ratio >= TARGET else "below target"
        errors = f" ({int(r['errors'])} unreadable)" if r["errors"] else ""
        lines.append(
            f"| {name} | {int(r['photos'])}{errors} | {r['decode']:.1f}/s | {r['model']:.1f}/s | "
            f"{r['e2e']:.1f}/s | {100 * ratio:.0f}% ({mark}) |"
        )
    lines += [
        "",
        f"Target: end-to-end >= {100 * TARGET:.0f}% of model only. Photos/s, best of {args.repeat} "
        "run(s), files already in the page cache. Decode only = load_pixels (open, EXIF orient, "
        "draft, resize to the model input) in the classifier's pool, without the model.",
    ]
    return lines


def agreement(args: argparse.Namespace) -> list[str]:
    items = seg_test_slice(args.data, args.limit or None)
    paths = [p for p, _ in items]
    truth = np.array([scenes.CLASSES.index(c) for _, c in items])
    runs: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    pixels = None
    keep = None
    for precision in ("fp32", "bf16"):
        with Classifier(
            args.model,
            backend=args.backend,
            device=args.device,
            precision=precision,
            batch_size=args.batch_size,
            decode_workers=args.decode_workers,
        ) as clf:
            if pixels is None:
                print(f"decoding {len(paths)} photos …", file=sys.stderr)
                decoded = decode_list(clf, paths)
                keep = np.array([d is not None for d in decoded])
                pixels = np.stack([d for d in decoded if d is not None])
                lines = header(clf, "bf16 vs fp32 agreement")
            print(f"{precision} …", file=sys.stderr)
            start = time.perf_counter()
            runs[precision] = clf.classify_pixels(pixels)
            seconds[precision] = time.perf_counter() - start
    assert keep is not None and pixels is not None
    truth = truth[keep]
    kept_paths = [p for p, k in zip(paths, keep, strict=True) if k]
    p32, p16 = runs["fp32"], runs["bf16"]
    l32, l16 = p32.argmax(1), p16.argmax(1)
    diff = np.abs(p32 - p16)
    disagree = np.flatnonzero(l32 != l16)
    lines += [
        f"- photos: {len(pixels)} from {class_folders(args.data)} ({int((~keep).sum())} unreadable)",
        "",
        "| | fp32 | bf16 |",
        "|---|---:|---:|",
        f"| accuracy | {100 * (l32 == truth).mean():.2f}% | {100 * (l16 == truth).mean():.2f}% |",
        f"| photos/s (model only) | {len(pixels) / seconds['fp32']:.1f} | {len(pixels) / seconds['bf16']:.1f} |",
        "",
        f"- labels agree on {len(pixels) - len(disagree)}/{len(pixels)} photos "
        f"({100 * (1 - len(disagree) / len(pixels)):.2f}%)",
        f"- probability difference: max {diff.max():.4f}, mean {diff.mean():.5f}",
    ]
    if len(disagree):
        lines += ["", "| photo | truth | fp32 | bf16 |", "|---|---|---|---|"]
        for i in disagree[:50]:
            c = scenes.CLASSES
            lines.append(
                f"| {kept_paths[i].relative_to(class_folders(args.data))} | {c[truth[i]]} | "
                f"{c[l32[i]]} {100 * p32[i].max():.1f}% | {c[l16[i]]} {100 * p16[i].max():.1f}% |"
            )
    return lines


def random_vgg16_card(folder: Path) -> Path:
    """VGG16-scene with random weights: the real network's cost, before trained weights exist."""
    torch.manual_seed(0)
    sha = scenes.save_state_dict(
        networks.VGG16Scene(scenes.NUM_CLASSES).state_dict(),
        folder / "random.safetensors",
        torch.float16,
    )
    card = scenes.ModelCard("vgg16_scene", "random.safetensors", sha, name="vgg16-random")
    card.write(folder / scenes.MODEL_CARD_NAME)
    return folder / scenes.MODEL_CARD_NAME


def size_arg(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, help="model card (default: the bundled one)")
    p.add_argument("--device", help="auto, cpu, cuda, mps")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8", "bf16"))
    p.add_argument(
        "--backend",
        default="torch",
        choices=("auto", "torch", "onnx", "openvino"),
        help="runtime (default torch: this benchmark's figures are torch's; "
        "bench/bench_runtimes.py compares the runtimes)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--decode-workers", type=int, default=None, help="default: the engine's choice")
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="seg_test folder (class sub-folders)"
    )
    p.add_argument(
        "--limit",
        type=int,
        default=512,
        help="photos from --data (0: skip that set; agreement: 0 = all)",
    )
    p.add_argument("--large", type=int, default=32, help="how many big JPEGs to generate (0: skip)")
    p.add_argument("--large-size", type=size_arg, default=(4000, 3000), metavar="WxH")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the best counts")
    p.add_argument(
        "--agreement", action="store_true", help="bf16 vs fp32 agreement over --data instead"
    )
    p.add_argument("--out", type=Path, help="also write the markdown table to this file")
    p.add_argument(
        "--random-vgg16",
        action="store_true",
        help="time a VGG16-scene with random weights instead of --model (throughput only)",
    )
    args = p.parse_args(argv)
    if args.random_vgg16 and args.agreement:
        p.error("--agreement needs trained weights, not --random-vgg16")
    if args.random_vgg16:
        with tempfile.TemporaryDirectory(prefix="bench_vgg16_") as tmp:
            args.model = random_vgg16_card(Path(tmp))
            return report(args)
    return report(args)


def report(args: argparse.Namespace) -> int:
    lines = agreement(args) if args.agreement else throughput(args)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
