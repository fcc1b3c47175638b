"""Contact sheets for checking labels by eye: photos in a grid, each with a caption under it.

    python bench/contact_sheet.py LIST.tsv OUT_PREFIX [--per-sheet 25] [--cols 5] [--tile 200]

LIST.tsv: a header line, then `path<TAB>caption` (captions may hold ' | ' for a second line).
Writes OUT_PREFIX-01.png, -02.png, …; every tile is numbered from 1 over the whole list, so a
verdict can name the photo by its number.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def font(size: int):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default()


def sheets(
    items: list[tuple[Path, str]], out: Path, per_sheet: int = 25, cols: int = 5, tile: int = 200
) -> list[Path]:
    f = font(13)
    caption_h = 36
    written = []
    for s in range(0, len(items), per_sheet):
        chunk = items[s : s + per_sheet]
        rows = -(-len(chunk) // cols)
        sheet = Image.new("RGB", (cols * (tile + 6), rows * (tile + caption_h + 6)), "white")
        draw = ImageDraw.Draw(sheet)
        for k, (path, caption) in enumerate(chunk):
            x, y = (k % cols) * (tile + 6), (k // cols) * (tile + caption_h + 6)
            try:
                with Image.open(path) as im:
                    photo = ImageOps.exif_transpose(im).convert("RGB").resize((tile, tile))
            except OSError as exc:
                photo = Image.new("RGB", (tile, tile), "grey")
                caption = f"{caption} | {exc}"
            sheet.paste(photo, (x, y))
            lines = [
                f"{s + k + 1}. {part}" if i == 0 else part
                for i, part in enumerate(caption.split(" | "))
            ]
            for i, line in enumerate(lines[:2]):
                draw.text((x + 2, y + tile + 2 + 16 * i), line, fill="black", font=f)
        path = Path(f"{out}-{s // per_sheet + 1:02d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("list", type=Path)
    ap.add_argument("out")
    ap.add_argument("--per-sheet", type=int, default=25)
    ap.add_argument("--cols", type=int, default=5)
    ap.add_argument("--tile", type=int, default=200)
    args = ap.parse_args(argv)
    lines = args.list.read_text(encoding="utf-8").splitlines()[1:]
    items = [(Path(a), b) for a, b in (ln.split("\t", 1) for ln in lines if ln.strip())]
    for p in sheets(items, Path(args.out), args.per_sheet, args.cols, args.tile):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
