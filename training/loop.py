"""train_one_epoch / evaluate / make_optimizer, and the feature caches of frozen stages.

The run that strings them together (phases, checkpoints, resume) is training.run.

A model is viewed as a chain of stages: its `features` layers, then `pool` (if any), then
`head`. A phase trains the stages from `train_from` on. When a phase has no augmentation, the
input of its first trainable stage is computed once for every photo and cached on disk (the
frozen part never changes), which turns a VGG16 head epoch from minutes into a second.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.format import open_memmap
from torch import nn
from tqdm import tqdm

from app.model.devices import autocast_dtype
from app.model.scenes import Normalization, to_input
from training.data import DecodedSplit, cache_dir, epoch_batches
from training.models import Phase
from training.views import View, render, view_seed


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def stages(model: nn.Module) -> list[nn.Module]:
    mods = list(model.features)
    if hasattr(model, "pool"):
        mods.append(model.pool)
    mods.append(model.head)
    return mods


def head_stage(model: nn.Module) -> int:
    return len(stages(model)) - 1


def resolve_stage(model: nn.Module, train: str) -> int:
    """'all' -> 0, 'head' -> the head's index, 'from:N' -> N (a features index)."""
    if train == "all":
        return 0
    if train == "head":
        return head_stage(model)
    if train.startswith("from:"):
        return int(train.split(":", 1)[1])
    raise ValueError(f"unknown trainable set {train!r}")


def run_stages(mods: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for m in mods:
        x = m(x)
    return x


@dataclass
class Context:
    device: torch.device
    amp: torch.dtype | None
    progress: bool = True

    def autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)


# --------------------------------------------------------------------------------------------
# Feature caches for frozen, un-augmented phases


def _cache_path(tag: str, split: str, stage: int, n: int, view: str | None = None) -> Path:
    name = split if view is None else f"{split}-{view}"
    return cache_dir() / "features" / f"{tag}-{name}-stage{stage}-n{n}.npy"


def compute_stage(
    model: nn.Module,
    split: DecodedSplit,
    stage: int,
    norm: Normalization,
    ctx: Context,
    tag: str,
    source: tuple[int, np.ndarray] | None = None,
    batch_size: int = 64,
    view: View | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Outputs of stages[:stage] for every photo (fp16, memory-mapped, resumable per batch);
    `source` = (a shallower stage, its outputs) to start from instead of the pixels; `view` =
    an augmented view (training.views) of every photo, seeded by (seed, view, batch)."""
    path = _cache_path(tag, split.split, stage, len(split), view.name if view else None)
    done_file = path.with_suffix(".done")
    mods = stages(model)
    source_stage, source_features = source if source is not None else (0, None)
    with torch.inference_mode():
        probe_in = torch.zeros(
            1, 3, split.pixels.shape[1], split.pixels.shape[2], device=ctx.device
        )
        shape = tuple(run_stages(mods[:stage], probe_in).shape[1:])
    n = len(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = int(done_file.read_text()) if done_file.is_file() and path.is_file() else 0
    if done >= n:
        return np.load(path, mmap_mode="r")
    out = open_memmap(path, mode="r+" if done else "w+", dtype=np.float16, shape=(n, *shape))
    to_run = mods[source_stage:stage]
    for module in to_run:
        module.eval()
    bar = tqdm(
        total=n,
        initial=done,
        desc=f"features {split.split}{' ' + view.name if view else ''} (stage {stage})",
        unit="img",
        disable=not ctx.progress,
    )
    with torch.inference_mode():
        for start in range(done, n, batch_size):
            end = min(start + batch_size, n)
            if source_features is None:
                x = to_input(split.pixels[start:end], norm, augment=_view_of(view, seed, start))
                x = x.contiguous(memory_format=torch.channels_last)
            else:
                x = torch.from_numpy(np.asarray(source_features[start:end], dtype=np.float32))
            with ctx.autocast():
                y = run_stages(to_run, x.to(ctx.device))
            out[start:end] = y.float().cpu().numpy().astype(np.float16)
            if (start // batch_size) % 10 == 9 or end == n:
                out.flush()
                done_file.write_text(str(end))
            bar.update(end - start)
    bar.close()
    del out
    return np.load(path, mmap_mode="r")


def _view_of(view: View | None, seed: int, start: int):
    if view is None:
        return None
    generator = torch.Generator().manual_seed(view_seed(seed, view.name, start))
    return lambda x: render(x, view, generator)


def feature_rows(feats: np.ndarray | list[np.ndarray], idx: np.ndarray) -> np.ndarray:
    """Rows `idx` (sorted) of one cache, or of several (views) stacked one after the other."""
    if not isinstance(feats, list):
        return np.asarray(feats[idx], dtype=np.float32)
    n = len(feats[0])
    out = np.empty((len(idx), *feats[0].shape[1:]), dtype=np.float32)
    for v, part in enumerate(feats):
        sel = np.flatnonzero(idx // n == v)
        if len(sel):
            out[sel] = part[idx[sel] - v * n]
    return out


def cached_batches(
    feats: np.ndarray | list[np.ndarray],
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    steps: int | None = None,
    part: tuple[int, int] = (0, 1),
    keep: np.ndarray | None = None,
    skip: int = 0,
):
    """Batches of cached features in the same `epoch_batches` order as photo batches (with
    `part` = (rank, world), this process's share of each, as iterate_batches deals them).
    A list of caches (the original and its views) is one set of rows, `labels` for each.
    `keep` (bool, one per photo): only these photos' rows (and their views') are dealt.
    `skip`: leave out the epoch's first batches (a resumed mid-epoch checkpoint)."""
    if isinstance(feats, list):
        labels = np.tile(labels, len(feats))
    rows = None
    if keep is not None:
        rows = np.flatnonzero(np.tile(keep, len(labels) // len(keep)))
    _, batches = epoch_batches(
        len(labels) if rows is None else len(rows),
        batch_size,
        shuffle=shuffle,
        seed=seed,
        epoch=epoch,
        drop_last=shuffle,
        steps=steps,
    )
    lab = torch.from_numpy(labels)
    rank, world = part
    for idx in batches[skip:]:
        idx = idx[rank::world]
        if rows is not None:
            idx = rows[idx]  # still sorted
        yield torch.from_numpy(feature_rows(feats, idx)), lab[idx]


# --------------------------------------------------------------------------------------------
# One epoch of training, one pass of evaluation


def train_one_epoch(
    frozen: list[nn.Module],
    trainable: list[nn.Module],
    batches,
    optimizer,
    scheduler,
    ctx: Context,
    label_smoothing: float = 0.0,
    total: int | None = None,
    desc: str = "train",
    start: tuple[float, int, int] = (0.0, 0, 0),
    on_step: Callable[[float, int, int], object] | None = None,
) -> tuple[float, float]:
    """One pass over `batches`; `start` = (loss sum, right, seen) of the steps an interrupted
    epoch already took; `on_step(loss sum, right, seen)` after every optimiser step."""
    for m in frozen:
        m.eval()
    for m in trainable:
        m.train()
    loss_sum, correct, seen = start
    bar = tqdm(
        batches,
        total=total,
        desc=desc,
        unit="batch",
        disable=not ctx.progress,
        leave=False,
    )
    for x, y in bar:
        x, y = x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)
        with ctx.autocast():
            if frozen:
                with torch.no_grad():
                    x = run_stages(frozen, x)
            logits = run_stages(trainable, x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        if on_step is not None:
            on_step(loss_sum, correct, seen)
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def evaluate(
    mods: list[nn.Module], batches, ctx: Context, total: int | None = None, desc: str = "eval"
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Loss, accuracy, logits (N,6) and labels; plain cross-entropy, no smoothing."""
    for m in mods:
        m.eval()
    all_logits, all_labels = [], []
    with torch.inference_mode():
        for x, y in tqdm(
            batches, total=total, desc=desc, unit="batch", disable=not ctx.progress, leave=False
        ):
            with ctx.autocast():
                logits = run_stages(mods, x.to(ctx.device))
            all_logits.append(logits.float().cpu())
            all_labels.append(y)
    logits = torch.cat(all_logits)
    labels = torch.cat(all_labels)
    loss = float(F.cross_entropy(logits, labels))
    acc = float((logits.argmax(1) == labels).float().mean())
    return loss, acc, logits.numpy(), labels.numpy()


# --------------------------------------------------------------------------------------------
# Optimiser per phase


def make_optimizer(model: nn.Module, phase: Phase, train_from: int, steps_total: int):
    mods = stages(model)
    for p in model.parameters():
        p.requires_grad_(False)
    groups = []
    body = [p for m in mods[train_from:-1] for p in m.parameters()]
    head = list(mods[-1].parameters())
    for p in body + head:
        p.requires_grad_(True)
    if body:
        groups.append({"params": body, "lr": phase.lr})
    groups.append({"params": head, "lr": phase.head_lr or phase.lr})
    opt = torch.optim.Adam(groups)
    if phase.schedule == "cosine":
        warm = max(1, int(phase.warmup_fraction * steps_total))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (
                1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps_total - warm)))
            )

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)
    if phase.schedule == "warmup":
        warm = max(1, int(phase.warmup_fraction * steps_total))
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warm))
    if phase.schedule != "constant":
        raise ValueError(f"unknown schedule {phase.schedule!r}")
    return opt, None


def make_context(device: torch.device, precision: str = "auto", progress: bool = True) -> Context:
    return Context(device=device, amp=autocast_dtype(device, precision), progress=progress)
