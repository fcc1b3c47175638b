"""Photo formats: decode cost, end-to-end photos/s, the RAW preview threshold, hostile files.

    python bench/bench_formats.py [--count 16] [--repeat 2] [--out docs/bench_formats.md]

Four parts, each a table in the output:
  decode      ms per photo from file to the model's 150 px pixels (imaging.load_pixels, one
              thread): 12 MP JPEG, the real iPhone HEIC (12 MP), a 12 MP AVIF, a DNG with a
              12 MP JPEG preview, and the RAW fallbacks (tiny preview -> half-size development)
  folders     end-to-end photos/s of Classifier.classify_paths over a folder of each format,
              beside decode only and the model-only bound (bench_classify.measure)
  preview     the shorter preview side a RAW needs: real-scenes-dev photos shrunk to a preview
              of side S (JPEG q85, as cameras store them), classified, against the full photo
  hostile     each file of ../shared/data/formats opened in its own process: outcome, exit
              status, seconds and peak memory (a 12 MP JPEG for comparison)
The 12 MP test images are one real photo scaled to 4032x3024, so every format holds the same
picture; the files are read once before timing.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests")]

import numpy as np
from bench_classify import header, measure
from formats_fixtures import FORMATS_DATA, write_dng
from PIL import Image

from app.model import scenes
from app.model.engine import Classifier
from app.photos import imaging
from app.photos.rawfiles import MIN_PREVIEW_SIDE

REAL = REPO.parent / "shared" / "data" / "real-scenes-dev"
TWELVE_MP = (4032, 3024)
PREVIEW_SIDES = (None, 480, 240, 160, 120, 96, 80, 64, 48)


# ----------------------------------------------------------------------------- test files


def picture() -> Image.Image:
    """One real photo at 12 MP (a generated gradient would flatter JPEG and HEVC alike)."""
    src = sorted((REAL / "mountain").glob("*.jpg"))[0] if REAL.is_dir() else None
    img = (
        imaging.open_photo(src)
        if src
        else Image.effect_mandelbrot((400, 300), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    )
    return img.resize(TWELVE_MP, Image.Resampling.BICUBIC)


def make_sets(folder: Path, count: int) -> dict[str, list[Path]]:
    """`count` copies of each 12 MP file under its own folder."""
    img = picture()
    one: dict[str, Path] = {}
    (folder / "src").mkdir(parents=True)
    one["JPEG 12 MP"] = folder / "src" / "a.jpg"
    img.save(one["JPEG 12 MP"], quality=90)
    heic = FORMATS_DATA / "heic" / "IMG_1034.heic"
    if heic.is_file():
        one["HEIC 12 MP (iPhone 8)"] = heic
    avif = folder / "src" / "a.avif"
    try:
        img.save(avif, quality=70, speed=8)
        one["AVIF 12 MP"] = avif
    except (OSError, KeyError, ValueError) as exc:
        print(f"no AVIF encoder: {exc}", file=sys.stderr)
    one["DNG, 12 MP JPEG preview"] = write_dng(folder / "src" / "a.dng", np.asarray(img))
    sets = {}
    for name, src in one.items():
        sub = folder / name.split()[0].lower()
        sub.mkdir()
        sets[name] = [shutil.copy(src, sub / f"IMG_{i:04d}{src.suffix}") for i in range(count)]
        sets[name] = [Path(p) for p in sets[name]]
    return sets


def raw_fallbacks(folder: Path) -> dict[str, Path]:
    """RAWs the preview cannot serve: a tiny preview over a 24 MP mosaic, and no preview."""
    small = np.asarray(picture().resize((160, 120)))
    fate = "used" if MIN_PREVIEW_SIDE <= 120 else "too small: 24 MP mosaic developed"
    return {
        f"DNG, 160x120 preview ({fate})": write_dng(
            folder / "tiny.dng", small, raw_shape=(4000, 6000)
        ),
        "DNG, 24 MP mosaic, no preview (developed)": write_dng(
            folder / "none.dng", None, raw_shape=(4000, 6000)
        ),
    }


def ms_per_photo(path: Path, repeat: int) -> float:
    imaging.load_pixels(path)  # warm: page cache, codec initialisation
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        imaging.load_pixels(path)
        best = min(best, time.perf_counter() - start)
    return 1000 * best


# ----------------------------------------------------------------------------- parts


def part_decode(sets: dict[str, list[Path]], extra: dict[str, Path], repeat: int) -> list[str]:
    lines = [
        "## Decode to 150 px, one thread",
        "",
        "| file | size | ms per photo |",
        "|---|---:|---:|",
    ]
    for name, path in [*((n, p[0]) for n, p in sets.items()), *extra.items()]:
        mb = path.stat().st_size / 1e6
        lines.append(f"| {name} | {mb:.1f} MB | {ms_per_photo(path, repeat):.0f} |")
    return [*lines, ""]


def part_folders(clf: Classifier, sets: dict[str, list[Path]], repeat: int) -> list[str]:
    lines = [
        "## Folders, end to end",
        "",
        f"| folder | photos | decode only ({clf.decode_workers} threads) | model only | end-to-end | end-to-end / model only |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, paths in sets.items():
        print(f"folder: {name} …", file=sys.stderr)
        r = measure(clf, paths, repeat)
        lines.append(
            f"| {name} | {len(paths)} | {r['decode']:.1f}/s | {r['model']:.1f}/s | "
            f"{r['e2e']:.1f}/s | {100 * r['e2e'] / r['model']:.0f}% |"
        )
    return [*lines, ""]


def as_preview(img: Image.Image, side: int | None) -> np.ndarray:
    """The photo as a camera preview whose shorter side is `side`, read back like a RAW's."""
    if side is not None:
        w, h = img.size
        scale = side / min(w, h)
        img = img.resize(
            (max(1, round(w * scale)), side if h <= w else max(1, round(h * scale))),
            Image.Resampling.LANCZOS,
        )
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        img = imaging.open_photo(buf.getvalue())
    return imaging.resize_for_model(img)


def part_preview(clf: Classifier) -> list[str]:
    photos = [(p, c) for c in scenes.CLASSES for p in sorted((REAL / c).glob("*.jpg"))]
    if not photos:
        return ["## Preview size", "", f"skipped: {REAL} not found", ""]
    images = [imaging.open_photo(p) for p, _ in photos]
    truth = np.array([scenes.CLASSES.index(c) for _, c in photos])
    labels = {}
    for side in PREVIEW_SIDES:
        print(f"preview side {side} …", file=sys.stderr)
        pixels = np.stack([as_preview(img, side) for img in images])
        labels[side] = clf.classify_pixels(pixels).argmax(1)
    full = labels[None]
    lines = [
        "## RAW preview size: how small may the preview be?",
        "",
        f"{len(photos)} real photos (real-scenes-dev), each shrunk to a JPEG preview whose shorter "
        "side is S, then classified as a RAW's preview would be.",
        "",
        "| preview shorter side | accuracy | same label as the full photo |",
        "|---|---:|---:|",
    ]
    for side, got in labels.items():
        name = "full photo" if side is None else f"{side} px"
        lines.append(
            f"| {name} | {100 * (got == truth).mean():.1f}% | {100 * (got == full).mean():.1f}% |"
        )
    return [*lines, ""]


_PROBE = """
import json, sys, time
from app.photos import imaging
def hwm():  # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak
    line = [x for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
    return int(line.split()[1]) / 1024
base = hwm()
start = time.perf_counter()
try:
    imaging.load_pixels(sys.argv[1]); outcome = "classified"
except imaging.ImageError as exc:
    outcome = f"error: {exc}"
print(json.dumps([outcome, time.perf_counter() - start, hwm() - base]))
"""


def part_hostile(jpeg: Path) -> list[str]:
    files = sorted(p for p in FORMATS_DATA.glob("*/*") if p.suffix.lower() not in (".md", ".tsv"))
    files = [p for p in files if p.name != "SHA256SUMS"] + [jpeg]
    lines = [
        "## Every shared format file in its own process",
        "",
        "| file | outcome | exit | seconds | extra peak memory |",
        "|---|---|---:|---:|---:|",
    ]
    for path in files:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        try:
            outcome, secs, mb = json.loads(proc.stdout.strip().splitlines()[-1])
            row = f"{outcome} | {proc.returncode} | {secs:.2f} | {mb:.0f} MB"
        except (ValueError, IndexError):
            row = f"crashed: {proc.stderr.strip()[-120:]} | {proc.returncode} | - | -"
        name = path.name if path != jpeg else "generated 12 MP JPEG (comparison)"
        lines.append(f"| {name} | {row} |")
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=16, help="photos per folder (default 16)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=("decode", "folders", "preview", "hostile")
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    clf = Classifier(device=args.device)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    lines = header(clf, "Photo formats: decode cost and photos/s")
    lines.insert(-1, f"- load average at start: {' '.join(load)} (other jobs were running)")
    with clf, tempfile.TemporaryDirectory(prefix="bench_formats_") as tmp:
        print("writing test files …", file=sys.stderr)
        sets = make_sets(Path(tmp), args.count)
        if "decode" not in args.skip:
            lines += part_decode(sets, raw_fallbacks(Path(tmp)), args.repeat + 1)
        if "folders" not in args.skip:
            lines += part_folders(clf, sets, args.repeat)
        if "preview" not in args.skip:
            lines += part_preview(clf)
        if "hostile" not in args.skip:
            lines += part_hostile(sets["JPEG 12 MP"][0])
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    lines.append(f"Load average at the end: {' '.join(load)}.")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
