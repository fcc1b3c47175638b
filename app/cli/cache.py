"""The results cache on the command line: `--no-cache` / `--shard` of classify and tag, and

python -m app cache info               where it is, its size, rows per model, its limit
python -m app cache clear              empty it
python -m app cache limit SIZE         keep it under SIZE (e.g. 500MB, 2GiB; LRU)
python -m app cache export FILE        write it as JSON lines (FILE '-' = stdout)
python -m app cache import FILE…       merge exports (e.g. from the tasks of an array job)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import defaults
from app.cache import shards
from app.cli.common import err, out, prog

SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options classify and tag share: bypass the cache, take one shard of the photos."""
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the results cache (every photo goes through the model)",
    )
    p.add_argument(
        "--bundled",
        action="store_true",
        help="run the bundled model even when a personal model is active (python -m app learn)",
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        type=shards.parse_shard,
        help="only the photos of shard K of N (K from 0), split by their path relative to "
        "the folder given, so the N tasks of an array job cover every photo exactly once",
    )


def select_shard(photos: Sequence[Path], roots: Sequence[Path], args: argparse.Namespace):
    """The photos of this run's shard (all of them without --shard)."""
    if getattr(args, "shard", None) is None:
        return list(photos)
    return shards.select(photos, roots, args.shard)


def open_session(args: argparse.Namespace, **options: Any):
    """`tag`'s session: the folder's photos (only this shard's with --shard), listed and read
    as Session.open lists and reads them."""
    from app.tagging.batches import folder_entries
    from app.tagging.session import Session

    raw_jpeg = getattr(args, "raw_jpeg", defaults.RAW_JPEG)
    errors: list = []  # folders that cannot be read: tag says so (ListingError)
    entries = folder_entries(args.folder, args.recursive, raw_jpeg, errors)
    if getattr(args, "shard", None) is not None:
        listed = list(entries)  # a pair goes to its JPEG's shard
        chosen = set(shards.select([photo for photo, _ in listed], [args.folder], args.shard))
        entries = (entry for entry in listed if entry[0] in chosen)
    session = Session.from_entries(args.folder, entries, **options)
    session.listing_errors = errors
    return session


def parse_size(text: str) -> int:
    """'500MB', '2GiB', '1.5g', '1048576' -> bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if not m:
        raise ValueError(text)
    number, unit, binary = m.groups()
    scale = 1024 ** "kmgt".index(unit) * 1024 if binary and unit else SIZE_UNITS[unit]
    value = int(float(number) * scale)
    if value < 1 << 20:
        raise ValueError(text)  # under 1 MiB the cache would hold next to nothing
    return value


parse_size.__name__ = "size (e.g. 500MB, 2GiB; at least 1 MiB)"


def human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def cache_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} cache",
        description="The results cache: every prediction by photo content and model, so an "
        "unchanged photo is never classified twice.",
    )
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("info", help="where it is, its size, results per model, its limit")
    sub.add_parser("clear", help="remove every result")
    sp = sub.add_parser("limit", help="keep the cache under SIZE (least recently used go)")
    sp.add_argument("size", type=parse_size, metavar="SIZE", help="e.g. 500MB, 2GiB")
    sp = sub.add_parser("export", help="write the results as JSON lines")
    sp.add_argument("file", metavar="FILE", help="where to write ('-' for stdout)")
    sp.add_argument("--model", metavar="ID", help="only this model id's results")
    sp = sub.add_parser("import", help="merge exported results (e.g. from other machines)")
    sp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return p


def cmd_cache(args: argparse.Namespace) -> int:
    """0 done, 1 an import file could not be read."""
    from app.cache.library import Library
    from app.cache.library_export import export_jsonl

    with Library(warn=lambda message: err(f"warning: {message}")) as lib:
        if args.action == "info":
            _info(lib)
        elif args.action == "clear":
            out(f"removed {lib.clear()} results from {lib.path}")
        elif args.action == "limit":
            lib.set_max_bytes(args.size)
            out(f"limit {human(args.size)}; {human(lib.info().used_bytes)} in use")
        elif args.action == "export":
            if args.file == "-":
                n = export_jsonl(lib, sys.stdout, args.model)
            else:
                with open(args.file, "w", encoding="utf-8") as f:
                    n = export_jsonl(lib, f, args.model)
            err(f"exported {n} results")
        else:
            return _import(lib, args.files)
    return 0


def _info(lib: Any) -> None:
    info = lib.info()
    out(f"cache: {info.path}")
    out(
        f"size: {human(info.file_bytes)} on disk, {human(info.used_bytes)} of data, "
        f"limit {human(info.max_bytes)}"
    )
    out(f"results: {info.rows}; files known by stat: {info.files}")
    for m in info.models:
        out(f"  {m.model_id}: {m.rows} results, {m.with_feature} with features")


def _import(lib: Any, files: Sequence[Path]) -> int:
    from app.cache.library_export import import_jsonl

    status = 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                imported, refused = import_jsonl(lib, f)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            err(f"error: {path}: {exc}")
            status = 1
            continue
        extra = f", {refused} malformed lines skipped" if refused else ""
        out(f"{path}: {imported} results imported{extra}")
    return status
