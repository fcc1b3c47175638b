"""The bundled model on seg_test, the real-photo proxy and real-scenes-dev, with and without
flip test-time augmentation, per class, with calibration (ECE) and cost.

    python bench/real_photos.py [--proxy /tmp/seg_test_proxy] [--runs seg_test:int8,proxy:fp32,…]
                                [--work /tmp/real_photos] [--out FILE.md]
                                [--card CANDIDATE/model_card.json --tag NAME]

A candidate model (`python -m training export RECIPE --dest DIR`) is measured with --card and
a --tag that names its cached logits; precision "torch" runs its fp16 safetensors in torch
(fp32 compute), for a candidate that has no ONNX files yet.

Photos are read the app's way (app.photos.imaging.load_pixels: draft decoding, squash to 150x150) once
per set and kept in --work; each runtime's logits for the photos and for their mirrors are kept
there too, so a rerun (or an interrupted one) only computes what is missing. The three ways to
score come from the same logits: one pass, flip TTA averaging probabilities (what
app.model.engine.flip_average ships), flip TTA averaging logits. The proxy comes from
bench/make_proxy.py; real-scenes-dev is for measurement only (never for training).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from app.model import choice, runtimes
from app.model.calibration import softmax
from app.model.engine import flip_average, mirror
from app.model.scenes import CLASSES
from app.photos import imaging
from training.metrics import expected_calibration_error

SETS = {
    "seg_test": Path("/work/shared/data/intel-scenes/seg_test"),
    "proxy": Path("/tmp/seg_test_proxy"),
    "real-scenes-dev": Path("/work/shared/data/real-scenes-dev"),
}
GLACIER, MOUNTAIN = CLASSES.index("glacier"), CLASSES.index("mountain")


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def listing(root: Path) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for k, c in enumerate(CLASSES):
        for f in sorted((root / c).iterdir()):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png"):
                files.append(f)
                labels.append(k)
    return files, np.array(labels, dtype=np.int64)


def center_square(path: Path) -> np.ndarray:
    """The --fit crop alternative to the app's squash: the largest centred square, resized."""
    img = imaging.open_photo(path, min_side=2 * 150)
    w, h = img.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return imaging.resize_for_model(img.crop(box))


def pixels_of(name: str, root: Path, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """name "SET" reads the app's way (squash), "SET@crop" through center_square."""
    cache = work / f"{name}.pixels.npz"
    if cache.exists():
        z = np.load(cache)
        return z["pixels"], z["labels"]
    files, labels = listing(root)
    t0 = time.perf_counter()
    read = center_square if name.endswith("@crop") else imaging.load_pixels
    with cf.ThreadPoolExecutor(2) as pool:
        pixels = np.stack(list(pool.map(read, files)))
    print(f"{name}: {len(files)} photos decoded in {time.perf_counter() - t0:.0f} s ({load()})")
    np.savez(cache, pixels=pixels, labels=labels)
    return pixels, labels


def logits_of(
    rt: runtimes.Runtime, pixels: np.ndarray, batch: int = 32
) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = [rt.run_pixels(pixels[i : i + batch])[0] for i in range(0, len(pixels), batch)]
    return np.concatenate(out).astype(np.float32), time.perf_counter() - t0


def scored(
    name: str,
    precision: str,
    pixels: np.ndarray,
    work: Path,
    threads: int | None,
    card: Path | None = None,
    tag: str = "",
    flips: bool = True,
) -> dict:
    cache = work / f"{tag}{name}.{precision}.logits.npz"
    if cache.exists():
        return dict(np.load(cache))
    if precision == "torch":
        rt = choice.open_runtime(card, "torch", "fp32", "cpu", threads, print)
    else:
        rt = choice.open_runtime(card, "onnx", precision, None, threads, print)
    plain, s_plain = logits_of(rt, pixels)
    flipped, s_flip = logits_of(rt, mirror(pixels)) if flips else (None, 0.0)
    rec = {
        "plain": plain,
        **({"flipped": flipped} if flipped is not None else {}),
        "seconds": np.array([s_plain, s_flip]),
        "temperature": np.array(rt.temperature),
        "load": np.array(os.getloadavg()),
    }
    rt.close()
    print(f"{name} {precision}: {len(pixels) / s_plain:.1f} photos/s per pass ({load()})")
    np.savez(cache, **rec)
    return rec


def ways(rec: dict) -> dict[str, np.ndarray]:
    t = float(rec["temperature"])
    if "flipped" not in rec:  # --no-flip
        return {"one pass": softmax(rec["plain"], t)}
    return {
        "one pass": softmax(rec["plain"], t),
        "flip (probs)": flip_average(rec["plain"], rec["flipped"], t),
        "flip (logits)": softmax((rec["plain"] + rec["flipped"]) / 2, t),
    }


def figures(probs: np.ndarray, labels: np.ndarray) -> dict:
    pred = probs.argmax(1)
    recall = [float((pred[labels == k] == k).mean()) for k in range(len(CLASSES))]
    return {
        "acc": float((pred == labels).mean()),
        "ece": expected_calibration_error(probs, labels),
        "recall": recall,
        "g2m": float((pred[labels == GLACIER] == MOUNTAIN).mean()),
        "m2g": float((pred[labels == MOUNTAIN] == GLACIER).mean()),
        "correct": pred == labels,
    }


def report(results: list[tuple[str, str, dict, np.ndarray]]) -> str:
    head = "| set | runtime | scoring | n | accuracy | ECE | " + " | ".join(CLASSES)
    lines = [
        head + " | glacier→mountain | mountain→glacier | fixed/broken vs one pass | photos/s |",
        "|" + "---|" * (len(CLASSES) + 10),
    ]
    for name, precision, rec, labels in results:
        secs = rec["seconds"]
        base = None
        for way, probs in ways(rec).items():
            f = figures(probs, labels)
            if base is None:
                base, delta, speed = f["correct"], "", len(labels) / secs[0]
            else:
                fixed = int((f["correct"] & ~base).sum())
                broken = int((~f["correct"] & base).sum())
                delta, speed = f"{fixed}/{broken}", len(labels) / secs.sum()
            rec_cols = " | ".join(f"{r:.3f}" for r in f["recall"])
            lines.append(
                f"| {name} | {precision} | {way} | {len(labels)} | {f['acc']:.4f} | "
                f"{f['ece']:.4f} | {rec_cols} | {f['g2m']:.3f} | {f['m2g']:.3f} | {delta} | "
                f"{speed:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxy", type=Path, default=SETS["proxy"])
    ap.add_argument(
        "--runs",
        default=",".join(f"{s}:{p}" for s in SETS for p in ("int8", "fp32")),
        help="SET[@crop]:PRECISION,… (sets: " + ", ".join(SETS) + "; precisions: int8, fp32; "
        "@crop: a centred square instead of the app's squash)",
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--work", type=Path, default=Path("/tmp/real_photos"))
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    ap.add_argument("--card", type=Path, default=None, help="a candidate's model card")
    ap.add_argument("--tag", default="", help="prefix of the candidate's cached logits")
    ap.add_argument("--no-flip", action="store_true", help="one pass only (half the time)")
    args = ap.parse_args(argv)
    if args.card is not None and not args.tag:
        ap.error("--card needs a --tag (its logits must not mix with the bundled model's)")
    args.work.mkdir(parents=True, exist_ok=True)
    roots = {**SETS, "proxy": args.proxy}
    results = []
    for run in args.runs.split(","):
        name, precision = run.split(":")
        pixels, labels = pixels_of(name, roots[name.split("@")[0]], args.work)
        results.append(
            (
                name,
                precision,
                scored(
                    name,
                    precision,
                    pixels,
                    args.work,
                    args.threads,
                    args.card,
                    args.tag,
                    not args.no_flip,
                ),
                labels,
            )
        )
    table = report(results)
    stamp = f"{dt.datetime.now():%Y-%m-%d %H:%M}, {load()} at the end"
    print(table)
    print(stamp)
    if args.out:
        args.out.write_text(table + "\n\n" + stamp + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
