"""The data set: find the splits, decode every photo once through app.photos.imaging, batch, augment.

Photos go through `app.photos.imaging.load_pixels` (the app's own open/orient/resize) and then
`app.model.scenes.to_input` (scale, augment in training only, normalize): the same two steps that run
in the app, so an un-augmented training batch is exactly the app's input. Decoded pixels are
cached as one uint8 array per split in the user cache folder, so a resumed run or the next model
starts in seconds instead of re-decoding 17,000 JPEGs.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from app import userdirs
from app.model.scenes import CLASSES, INPUT_SIZE, Normalization, to_input
from app.photos.imaging import ImageError, is_photo, load_pixels

SPLITS = ("seg_train", "seg_test")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "intel-scenes"


class DataError(RuntimeError):
    """The data folder cannot be used; the message says what is wrong and where."""


def default_data_dir() -> Path | None:
    return DEFAULT_DATA.resolve() if DEFAULT_DATA.is_dir() else None


def cache_dir() -> Path:
    """The app's cache folder (app.userdirs), made."""
    d = userdirs.cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


def split_dir(root: Path, split: str) -> Path:
    """`root/split/<class>` or the Kaggle download's `root/split/split/<class>`."""
    root = Path(root)
    for candidate in (root / split / split, root / split):
        if candidate.is_dir() and any((candidate / c).is_dir() for c in CLASSES):
            return candidate
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    raise DataError(
        f"no {split} split with class folders under {root} "
        f"(expected {root}/{split}/<class>/ or {root}/{split}/{split}/<class>/, classes: {', '.join(CLASSES)})"
    )


@dataclass
class SplitIndex:
    split: str
    folder: Path
    paths: list[Path]
    labels: np.ndarray  # int64, index into CLASSES

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(CLASSES)}


def index_split(root: Path, split: str) -> SplitIndex:
    folder = split_dir(root, split)
    extra = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in CLASSES)
    if extra:
        raise DataError(
            f"{folder} has folders that are not classes: {', '.join(extra)} (classes: {', '.join(CLASSES)})"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for i, cls in enumerate(CLASSES):
        cdir = folder / cls
        if not cdir.is_dir():
            raise DataError(f"class folder missing: {cdir}")
        files = sorted(p for p in cdir.iterdir() if p.is_file() and is_photo(p))
        if not files:
            raise DataError(f"class folder has no photos: {cdir}")
        paths += files
        labels += [i] * len(files)
    return SplitIndex(split, folder, paths, np.asarray(labels, dtype=np.int64))


@dataclass
class DecodedSplit:
    split: str
    paths: list[Path]
    labels: np.ndarray  # (N,) int64
    pixels: np.ndarray  # (N, S, S, 3) uint8
    skipped: list[tuple[Path, str]]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> DecodedSplit:
        return DecodedSplit(
            self.split, [self.paths[i] for i in idx], self.labels[idx], self.pixels[idx], []
        )


def _cache_key(index: SplitIndex, size: int) -> str:
    h = hashlib.sha256(f"v1|{size}|{index.folder.resolve()}".encode())
    for p in index.paths:
        try:
            st = p.stat()
            h.update(f"{p.name}|{st.st_size}|{int(st.st_mtime)}\n".encode())
        except OSError:
            h.update(f"{p.name}|missing\n".encode())
    return h.hexdigest()[:20]


def decode_split(
    index: SplitIndex,
    size: int = INPUT_SIZE,
    workers: int = 4,
    use_cache: bool = True,
    progress: bool = True,
) -> DecodedSplit:
    """Decode every photo once (cached); unreadable files are skipped and listed, never fatal."""
    cache_file = cache_dir() / f"pixels-{index.split}-{_cache_key(index, size)}.npz"
    if use_cache and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                keep = z["keep"]
                pixels = z["pixels"]
            paths = [index.paths[i] for i in keep]
            skipped_idx = sorted(set(range(len(index.paths))) - set(keep.tolist()))
            skipped = [(index.paths[i], "unreadable (cached result)") for i in skipped_idx]
            return DecodedSplit(index.split, paths, index.labels[keep], pixels, skipped)
        except Exception:
            pass  # a damaged cache is rebuilt below
    n = len(index.paths)
    pixels = np.empty((n, size, size, 3), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    skipped: list[tuple[Path, str]] = []

    def work(i: int) -> tuple[int, str | None]:
        try:
            pixels[i] = load_pixels(index.paths[i], size)
            return i, None
        except ImageError as exc:
            return i, str(exc)
        except Exception as exc:  # one bad file never ends a long run
            return i, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(work, range(n))
        for i, err in tqdm(
            results,
            total=n,
            desc=f"decode {index.split}",
            unit="img",
            disable=not progress,
            leave=False,
        ):
            if err is None:
                ok[i] = True
            else:
                skipped.append((index.paths[i], err))
    keep = np.flatnonzero(ok)
    if len(keep) == 0:
        raise DataError(f"no readable photos in {index.folder}")
    pixels = pixels[keep] if len(keep) < n else pixels
    if use_cache:
        tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npz")  # one per process
        np.savez(tmp, keep=keep, pixels=pixels)
        os.replace(tmp, cache_file)
    return DecodedSplit(
        index.split, [index.paths[i] for i in keep], index.labels[keep], pixels, skipped
    )


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, holdout), `fraction` of each class held out, reproducibly."""
    rng = np.random.default_rng(seed)
    train_idx, hold_idx = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) > 1:
            k = max(k, 1)  # every class is represented, even in tiny data sets
        hold_idx.append(idx[:k])
        train_idx.append(idx[k:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(hold_idx))


# --------------------------------------------------------------------------------------------
# Augmentation, as Keras' ImageDataGenerator does it, on whole batches


@dataclass(frozen=True)
class Augment:
    """Keras ImageDataGenerator settings: rotation_range degrees, zoom/shift ranges as fractions."""

    hflip: bool = True
    rotation: float = 10.0
    zoom: float = 0.1
    width_shift: float = 0.1
    height_shift: float = 0.1

    @property
    def enabled(self) -> bool:
        return self.hflip or any((self.rotation, self.zoom, self.width_shift, self.height_shift))


STUDY_AUGMENT = Augment()
NO_AUGMENT = Augment(False, 0.0, 0.0, 0.0, 0.0)


def augment_batch(
    x: torch.Tensor,
    aug: Augment,
    generator: torch.Generator,
    rows: slice | None = None,
    total: int | None = None,
) -> torch.Tensor:
    """Random affine per image on float (N,3,H,W) in [0,1]; edges filled with the nearest pixel.

    With `rows` and `total`, `x` is this process's rows of a global batch of `total` photos:
    the draws are made for the whole batch and `rows` of them applied (training.distributed).

    Keras maps each output pixel to input = R(theta) @ (Z @ out + shift) about the image centre,
    with theta ~ U(±rotation), zx, zy ~ U(1±zoom) independently, shifts ~ U(±range)·size and a
    horizontal flip with p=0.5. affine_grid works in [-1, 1] coordinates, where a shift of
    f·size pixels is 2f; fill_mode="nearest" is grid_sample's "border" padding.
    """
    if not aug.enabled:
        return x
    n = total if total is not None else x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    theta = u(-aug.rotation, aug.rotation) * (math.pi / 180.0)
    zx = u(1 - aug.zoom, 1 + aug.zoom)
    zy = u(1 - aug.zoom, 1 + aug.zoom)
    tx = u(-aug.width_shift, aug.width_shift) * 2.0
    ty = u(-aug.height_shift, aug.height_shift) * 2.0
    flip = (
        torch.rand(n, generator=generator) < 0.5 if aug.hflip else torch.zeros(n, dtype=torch.bool)
    )
    cos, sin = torch.cos(theta), torch.sin(theta)
    # A = R @ Z, t = R @ shift; a horizontal flip negates the output x coordinate first.
    fx = torch.where(flip, -1.0, 1.0)
    mat = torch.zeros(n, 2, 3)
    mat[:, 0, 0] = cos * zx * fx
    mat[:, 0, 1] = -sin * zy
    mat[:, 1, 0] = sin * zx * fx
    mat[:, 1, 1] = cos * zy
    mat[:, 0, 2] = cos * tx - sin * ty
    mat[:, 1, 2] = sin * tx + cos * ty
    if rows is not None:
        mat = mat[rows]
    grid = F.affine_grid(mat.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def epoch_batches(
    n: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    drop_last: bool,
    steps: int | None = None,
) -> tuple[torch.Generator, list[np.ndarray]]:
    """One epoch's batches of indices, a function of (seed, epoch) only, so a resumed run sees
    exactly the batches an uninterrupted run would. The returned generator has drawn the order
    and goes on to draw the augmentation."""
    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(n, generator=gen).numpy() if shuffle else np.arange(n)
    n_batches = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps is not None:
        n_batches = min(n_batches, steps)
    return gen, [np.sort(order[b * batch_size : (b + 1) * batch_size]) for b in range(n_batches)]


def iterate_batches(
    data: DecodedSplit,
    batch_size: int,
    norm: Normalization,
    *,
    shuffle: bool,
    seed: int = 42,
    epoch: int = 0,
    aug: Augment = NO_AUGMENT,
    drop_last: bool = False,
    steps: int | None = None,
    part: tuple[int, int] = (0, 1),
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(normalized float NCHW, int64 labels) batches in `epoch_batches` order; with `part` =
    (rank, world), this process's share of each batch (photo i goes to process i mod world)."""
    gen, batches = epoch_batches(
        len(data),
        batch_size,
        shuffle=shuffle,
        seed=seed,
        epoch=epoch,
        drop_last=drop_last,
        steps=steps,
    )
    labels = torch.from_numpy(data.labels)
    rank, world = part
    rows = slice(rank, None, world) if world > 1 else None

    for idx in batches:
        mine = idx[rows] if rows is not None else idx

        def augment(x: torch.Tensor, total: int = len(idx)) -> torch.Tensor:
            return augment_batch(x, aug, gen, rows, total if rows is not None else None)

        x = to_input(data.pixels[mine], norm, augment=augment if aug.enabled else None)
        yield x.contiguous(memory_format=torch.channels_last), labels[mine]


def data_root(data: str | Path | None) -> Path:
    """The data set folder given (`--data`), else ../shared/data/intel-scenes."""
    root = Path(data) if data else default_data_dir()
    if root is None:
        raise DataError("no --data given and ../shared/data/intel-scenes does not exist")
    return root


def decode_splits(
    root: Path, limit_per_class: int = 0, progress: bool = True
) -> dict[str, DecodedSplit]:
    """seg_train and seg_test decoded (the first `limit_per_class` photos of each class only,
    for smoke runs); unreadable photos are skipped with one warning line per split."""
    out = {}
    for split in SPLITS:
        index = index_split(root, split)
        if limit_per_class:
            keep = np.concatenate(
                [np.flatnonzero(index.labels == c)[:limit_per_class] for c in range(len(CLASSES))]
            )
            index = SplitIndex(
                split, index.folder, [index.paths[i] for i in keep], index.labels[keep]
            )
        decoded = decode_split(index, progress=progress)
        if decoded.skipped:
            first, why = decoded.skipped[0]
            print(
                f"warning: {len(decoded.skipped)} unreadable photos skipped in {split}, "
                f"e.g. {first}: {why}"
            )
        out[split] = decoded
    return out


# --------------------------------------------------------------------------------------------
# Lists of photos with a label issue (training.label_issues writes them, Recipe.exclude reads)

LIST_HEADER = ("relpath", "given", "suggested", "self_confidence")


def write_list(path: Path, rows: list[tuple[str, str, str, float]], comment: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {c}" for c in comment] + ["\t".join(LIST_HEADER)]
    lines += [f"{r}\t{g}\t{s}\t{conf:.4f}" for r, g, s, conf in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_list(path: Path) -> list[dict[str, str]]:
    """The photos of a list written by write_list (comments skipped)."""
    lines = [
        ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if not ln.startswith("#")
    ]
    if not lines or tuple(lines[0].split("\t")) != LIST_HEADER:
        raise ValueError(f"{path}: not a label-issue list (header {LIST_HEADER})")
    return [dict(zip(LIST_HEADER, ln.split("\t"), strict=True)) for ln in lines[1:] if ln.strip()]


def list_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
