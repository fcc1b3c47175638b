"""A real-photo proxy: seg_test rendered as a camera would hand it to the app.

    python bench/make_proxy.py --out /tmp/seg_test_proxy [--seed 42] [--data DIR] [--limit N]

Each seg_test photo (150 px) becomes one JPEG of 1200-4000 px on the long side, in a 4:3, 3:2
or 16:9 frame (landscape, sometimes portrait), made either by cropping the square to that
frame or by squashing the whole square into it (no letterbox), with a mild white-balance,
brightness, contrast and saturation shift, re-encoded at JPEG quality 60-95. The app then
squashes the frame back to 150x150, so a crop arrives stretched, as a real 4:3 photo does.

Every photo draws its own parameters from (seed, index in the sorted seg_test list), so the
set is the same on every machine, a run can be resumed (existing files are kept) and split
across processes. `manifest.tsv` records each photo's parameters. The images are generated
data: keep them out of the repository.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np
from PIL import Image, ImageEnhance

from app.model.scenes import CLASSES

DEFAULT_DATA = Path("/work/shared/data/intel-scenes/seg_test")
ASPECTS = {"4:3": 4 / 3, "3:2": 3 / 2, "16:9": 16 / 9}
LONG_SIDE = (1200, 4000)
QUALITY = (60, 95)
PORTRAIT_SHARE = 0.15
CROP_SHARE = 0.5
WB_SHIFT = 0.08  # red/blue gains 1 +- t: a warmer or cooler white balance
TINT_SHIFT = 0.03  # green gain
TONE = (0.85, 1.15)  # brightness and contrast factors
SATURATION = (0.85, 1.2)
HEADER = "relpath\tlabel\tsource\taspect\tportrait\tmode\twidth\theight\tquality\twb\ttint\tbrightness\tcontrast\tsaturation"


def seg_test_files(data: Path) -> list[tuple[Path, str]]:
    """(file, class) in a fixed order: class order, then file name."""
    if (data / data.name).is_dir():  # the Kaggle layout nests each split once more
        data = data / data.name
    return [(f, c) for c in CLASSES for f in sorted((data / c).glob("*.jpg"))]


def params(seed: int, index: int) -> dict:
    rng = np.random.default_rng([seed, index])
    return {
        "aspect": str(rng.choice(list(ASPECTS))),
        "portrait": bool(rng.random() < PORTRAIT_SHARE),
        "mode": "crop" if rng.random() < CROP_SHARE else "squash",
        "long": int(rng.integers(LONG_SIDE[0], LONG_SIDE[1] + 1)),
        "quality": int(rng.integers(QUALITY[0], QUALITY[1] + 1)),
        "wb": float(rng.uniform(-WB_SHIFT, WB_SHIFT)),
        "tint": float(rng.uniform(-TINT_SHIFT, TINT_SHIFT)),
        "brightness": float(rng.uniform(*TONE)),
        "contrast": float(rng.uniform(*TONE)),
        "saturation": float(rng.uniform(*SATURATION)),
        "offset": float(rng.random()),  # where the crop sits along the side it shortens
    }


def crop_to(img: Image.Image, ratio: float, offset: float) -> Image.Image:
    """The largest window of `ratio` (width / height) inside img, placed at `offset` (0-1)."""
    w, h = img.size
    if w / h > ratio:
        cw = round(h * ratio)
        x = round((w - cw) * offset)
        return img.crop((x, 0, x + cw, h))
    ch = round(w / ratio)
    y = round((h - ch) * offset)
    return img.crop((0, y, w, y + ch))


def render(img: Image.Image, p: dict) -> Image.Image:
    ratio = ASPECTS[p["aspect"]]
    if p["portrait"]:
        ratio = 1 / ratio
    if p["mode"] == "crop":
        img = crop_to(img, ratio, p["offset"])
    # colour first, on the small image: the same shift, a hundred times cheaper than at 4000 px
    gains = np.array([1 + p["wb"], 1 + p["tint"], 1 - p["wb"]], dtype=np.float32)
    arr = np.asarray(img, dtype=np.float32) * gains
    img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    img = ImageEnhance.Brightness(img).enhance(p["brightness"])
    img = ImageEnhance.Contrast(img).enhance(p["contrast"])
    img = ImageEnhance.Color(img).enhance(p["saturation"])
    long = p["long"]
    size = (long, round(long / ratio)) if ratio >= 1 else (round(long * ratio), long)
    return img.resize(size, Image.Resampling.BICUBIC)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the seg_test folder")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all)")
    ap.add_argument("--part", default="1/1", help="K/N: this process makes every N-th photo")
    args = ap.parse_args(argv)
    k, n = (int(x) for x in args.part.split("/"))
    files = seg_test_files(args.data)
    if args.limit:
        files = files[: args.limit]
    rows = []
    made = 0
    start = time.perf_counter()
    for index, (src, label) in enumerate(files):
        p = params(args.seed, index)
        rel = f"{label}/{src.stem}.jpg"
        dst = args.out / rel
        if index % n == k - 1 and not dst.exists():
            with Image.open(src) as img:
                out = render(img.convert("RGB"), p)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".part")
            out.save(tmp, "JPEG", quality=p["quality"])
            tmp.replace(dst)
            made += 1
            if made % 100 == 0:
                print(f"{made} made, {time.perf_counter() - start:.0f} s", flush=True)
        ratio = ASPECTS[p["aspect"]]
        long = p["long"]
        w, h = (long, round(long / ratio))
        if p["portrait"]:
            w, h = h, w
        rows.append(
            f"{rel}\t{label}\t{src.name}\t{p['aspect']}\t{int(p['portrait'])}\t{p['mode']}\t{w}\t{h}\t"
            f"{p['quality']}\t{p['wb']:.4f}\t{p['tint']:.4f}\t{p['brightness']:.4f}\t"
            f"{p['contrast']:.4f}\t{p['saturation']:.4f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.tsv").write_text("\n".join([HEADER, *rows]) + "\n")
    print(f"{made} made, {len(files)} listed in {args.out}, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
