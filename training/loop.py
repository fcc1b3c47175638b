"""fit / train_one_epoch / evaluate, with per-epoch atomic checkpoints and --resume.

A model is viewed as a chain of stages: its `features` layers, then `pool` (if any), then
`head`. A phase trains the stages from `train_from` on. When a phase has no augmentation, the
input of its first trainable stage is computed once for every photo and cached on disk (the
frozen part never changes), which turns a VGG16 head epoch from minutes into a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.format import open_memmap
from torch import nn
from tqdm import tqdm

from app.devices import autocast_dtype
from app.scenes import to_input
from training.data import DecodedSplit, cache_dir, epoch_batches, iterate_batches
from training.models import Phase, Recipe


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


def _cache_path(tag: str, split: str, stage: int, n: int) -> Path:
    return cache_dir() / "features" / f"{tag}-{split}-stage{stage}-n{n}.npy"


def compute_stage(
    model: nn.Module,
    data: DecodedSplit,
    stage: int,
    norm,
    ctx: Context,
    tag: str,
    source: tuple[int, np.ndarray] | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Outputs of stages[:stage] for every photo (fp16, memory-mapped, resumable per batch)."""
    path = _cache_path(tag, data.split, stage, len(data))
    done_file = path.with_suffix(".done")
    mods = stages(model)
    src_stage, src = source if source is not None else (0, None)
    with torch.inference_mode():
        probe_in = torch.zeros(1, 3, data.pixels.shape[1], data.pixels.shape[2], device=ctx.device)
        shape = tuple(run_stages(mods[:stage], probe_in).shape[1:])
    n = len(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = int(done_file.read_text()) if done_file.is_file() and path.is_file() else 0
    if done >= n:
        return np.load(path, mmap_mode="r")
    out = open_memmap(path, mode="r+" if done else "w+", dtype=np.float16, shape=(n, *shape))
    part = mods[src_stage:stage]
    for m in part:
        m.eval()
    bar = tqdm(
        total=n,
        initial=done,
        desc=f"features {data.split} (stage {stage})",
        unit="img",
        disable=not ctx.progress,
    )
    with torch.inference_mode():
        for start in range(done, n, batch_size):
            end = min(start + batch_size, n)
            if src is None:
                x = to_input(data.pixels[start:end], norm)
                x = x.contiguous(memory_format=torch.channels_last)
            else:
                x = torch.from_numpy(np.asarray(src[start:end], dtype=np.float32))
            with ctx.autocast():
                y = run_stages(part, x.to(ctx.device))
            out[start:end] = y.float().cpu().numpy().astype(np.float16)
            if (start // batch_size) % 10 == 9 or end == n:
                out.flush()
                done_file.write_text(str(end))
            bar.update(end - start)
    bar.close()
    del out
    return np.load(path, mmap_mode="r")


def cached_batches(
    feats: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    steps: int | None = None,
):
    """Batches of cached features in the same `epoch_batches` order as photo batches."""
    _, batches = epoch_batches(
        len(labels),
        batch_size,
        shuffle=shuffle,
        seed=seed,
        epoch=epoch,
        drop_last=shuffle,
        steps=steps,
    )
    lab = torch.from_numpy(labels)
    for idx in batches:
        yield torch.from_numpy(np.asarray(feats[idx], dtype=np.float32)), lab[idx]


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
) -> tuple[float, float]:
    for m in frozen:
        m.eval()
    for m in trainable:
        m.train()
    loss_sum, correct, seen = 0.0, 0, 0
    bar = tqdm(batches, total=total, desc=desc, unit="batch", disable=not ctx.progress, leave=False)
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


# --------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    history: dict[str, list]
    best_epoch: int | None
    test_logits: np.ndarray
    test_labels: np.ndarray
    holdout_logits: np.ndarray | None
    holdout_labels: np.ndarray | None
    wall_times: dict[str, float] = field(default_factory=dict)
    throughput: dict[str, float] = field(default_factory=dict)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _model_tag(model: nn.Module, recipe: Recipe, data_key: str) -> str:
    h = hashlib.sha256(f"{recipe.key}|{recipe.architecture}|{recipe.seed}|{data_key}".encode())
    return h.hexdigest()[:12]


def fit(
    model: nn.Module,
    recipe: Recipe,
    train: DecodedSplit,
    test: DecodedSplit,
    holdout: DecodedSplit | None,
    out_dir: Path,
    ctx: Context,
    resume: bool = False,
    epochs_override: int | None = None,
    steps_override: int | None = None,
    log=print,
) -> FitResult:
    """Run every phase of the recipe; checkpoint after each epoch; evaluate on test (and holdout)."""
    run = _Fit(
        model, recipe, train, test, holdout, out_dir, ctx, epochs_override, steps_override, log
    )
    if resume:
        run.resume()
    return run.run()


class _Fit:
    """The state of one training run: history, wall times, best epoch, feature caches."""

    def __init__(self, model, recipe, train, test, holdout, out_dir, ctx, epochs_override,
                 steps_override, log):  # fmt: skip
        self.model, self.recipe, self.ctx, self.log = model, recipe, ctx, log
        self.train, self.test, self.holdout = train, test, holdout
        self.epochs_override, self.steps_override = epochs_override, steps_override
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir, self.ckpt_path = out_dir, out_dir / "checkpoint.pt"
        model.to(ctx.device).to(memory_format=torch.channels_last)
        self.mods = stages(model)
        keys = ("train_loss", "train_acc", "val_loss", "val_acc", "holdout_loss", "holdout_acc",
                "phase", "epoch_seconds")  # fmt: skip
        self.history: dict[str, list] = {k: [] for k in keys}
        self.history["phase_starts"] = []
        self.wall: dict[str, float] = {}
        self.thr: dict[str, float] = {}
        self.start_phase, self.start_epoch = 0, 0
        self.best_acc, self.best_epoch, self.best_state = -1.0, None, None
        self.resumed: dict | None = None
        data_key = (
            f"{len(train)}|{len(test)}|{len(holdout) if holdout else 0}|{int(train.labels.sum())}"
        )
        self.tag = _model_tag(model, recipe, data_key)
        self.caches: dict[tuple[str, int], np.ndarray] = {}

    def epochs(self, phase: Phase) -> int:
        return (
            phase.epochs
            if self.epochs_override is None
            else min(phase.epochs, self.epochs_override)
        )

    def resume(self) -> None:
        if not self.ckpt_path.is_file():
            return
        ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(ck["model"])
        self.history, self.wall, self.thr = ck["history"], ck["wall"], ck["throughput"]
        self.start_phase, self.start_epoch = ck["phase"], ck["epoch"] + 1
        self.best_acc, self.best_epoch = ck.get("best_acc", -1.0), ck.get("best_epoch")
        if (self.out_dir / "best.pt").is_file():
            self.best_state = torch.load(
                self.out_dir / "best.pt", map_location="cpu", weights_only=True
            )
        self.resumed = ck
        self.log(
            f"resumed from {self.ckpt_path}: phase {self.start_phase}, epoch {self.start_epoch}"
        )

    # -- feature caches --------------------------------------------------------------------

    def cache_for(self, split: DecodedSplit, stage: int) -> np.ndarray:
        name = "holdout" if split is self.holdout else split.split
        key = (name, stage)
        if key not in self.caches:
            shallower = [s for (n, s) in self.caches if n == name and s < stage]
            src = (max(shallower), self.caches[(name, max(shallower))]) if shallower else None
            t0 = time.time()
            self.caches[key] = compute_stage(
                self.model, split, stage, self.recipe.normalization, self.ctx,
                self.tag + ("h" if split is self.holdout else ""), source=src,
            )  # fmt: skip
            label = f"features {name} stage {stage}"
            self.wall[label] = self.wall.get(label, 0.0) + time.time() - t0
        return self.caches[key]

    def prepare_caches(self) -> None:
        """Every cache the remaining phases need, shallowest first, each deeper one from the last."""
        phases = self.recipe.phases[self.start_phase :]
        needed = sorted({resolve_stage(self.model, p.train) for p in phases if p.cached_features})
        for split in [self.train, self.test] + ([self.holdout] if self.holdout is not None else []):
            for stage in needed:
                self.cache_for(split, stage)

    # -- one epoch -------------------------------------------------------------------------

    def batches(self, phase: Phase, train_from: int, seed: int, epoch: int, steps: int):
        """(frozen stages, trainable stages, training batches) for one epoch."""
        r = self.recipe
        if phase.cached_features:
            feats = self.cache_for(self.train, train_from)
            b = cached_batches(feats, self.train.labels, r.batch_size, shuffle=True, seed=seed,
                               epoch=epoch, steps=steps)  # fmt: skip
            return [], self.mods[train_from:], b
        b = iterate_batches(self.train, r.batch_size, r.normalization, shuffle=True, seed=seed,
                            epoch=epoch, aug=phase.augment, drop_last=True, steps=steps)  # fmt: skip
        return self.mods[:train_from], self.mods[train_from:], b

    def eval_split(self, split: DecodedSplit, phase: Phase, train_from: int):
        if phase.cached_features:
            f = self.cache_for(split, train_from)
            b = cached_batches(f, split.labels, 128, shuffle=False, seed=0, epoch=0)
            return evaluate(self.mods[train_from:], b, self.ctx, desc=f"eval {split.split}")
        b = iterate_batches(split, 64, self.recipe.normalization, shuffle=False)
        n = math.ceil(len(split) / 64)
        return evaluate(self.mods, b, self.ctx, total=n, desc=f"eval {split.split}")

    def final_eval(self, split: DecodedSplit):
        # The deepest cached stage that is still upstream of every trainable layer.
        stage = min(resolve_stage(self.model, p.train) for p in self.recipe.phases)
        if any(p.cached_features for p in self.recipe.phases) and stage > 0:
            f = self.cache_for(split, stage)
            b = cached_batches(f, split.labels, 128, shuffle=False, seed=0, epoch=0)
            return evaluate(self.mods[stage:], b, self.ctx, desc=f"eval {split.split}")
        b = iterate_batches(split, 64, self.recipe.normalization, shuffle=False)
        return evaluate(self.mods, b, self.ctx, desc=f"eval {split.split}")

    def record(self, **values) -> None:
        for k, v in values.items():
            self.history[k].append(v)

    def checkpoint(self, pi: int, epoch: int, opt, sched) -> None:
        _atomic_torch_save({
            "model": self.model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "phase": pi, "epoch": epoch, "history": self.history, "wall": self.wall,
            "throughput": self.thr, "best_acc": self.best_acc, "best_epoch": self.best_epoch,
            "recipe": json.loads(json.dumps(self.recipe.to_dict())),
        }, self.ckpt_path)  # fmt: skip

    def keep_if_best(self, holdout_acc: float, epoch_counter: int) -> None:
        if self.recipe.select_best and self.holdout is not None and holdout_acc > self.best_acc:
            self.best_acc, self.best_epoch = holdout_acc, epoch_counter
            state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.best_state = state
            _atomic_torch_save(state, self.out_dir / "best.pt")

    # -- the whole run ---------------------------------------------------------------------

    def run(self) -> FitResult:
        r, ctx = self.recipe, self.ctx
        self.prepare_caches()
        test_out = hold_out = None
        done_before = sum(self.epochs(p) for p in r.phases[: self.start_phase])
        epoch_counter = done_before + self.start_epoch
        for pi, phase in enumerate(r.phases):
            if pi < self.start_phase:
                continue
            epochs = self.epochs(phase)
            train_from = resolve_stage(self.model, phase.train)
            steps = self.steps_override or r.steps_per_epoch or len(self.train) // r.batch_size
            if phase.cached_features:
                steps = min(steps, len(self.train) // r.batch_size)
            opt, sched = make_optimizer(self.model, phase, train_from, steps * epochs)
            first_epoch = self.start_epoch if pi == self.start_phase else 0
            if first_epoch > 0 and self.resumed is not None:
                opt.load_state_dict(self.resumed["optimizer"])
                if sched is not None and self.resumed.get("scheduler"):
                    sched.load_state_dict(self.resumed["scheduler"])
            if first_epoch == 0:
                self.history["phase_starts"].append(epoch_counter)
            for epoch in range(first_epoch, epochs):
                t0 = time.time()
                seed = r.seed + 7919 * pi
                frozen, trainable, batches = self.batches(phase, train_from, seed, epoch, steps)
                if phase.cached_features:
                    t0 = time.time()  # building a missing cache is not training time
                desc = f"{r.key} {phase.name} epoch {epoch + 1}/{epochs}"
                tl, ta = train_one_epoch(frozen, trainable, batches, opt, sched, ctx,
                                         r.label_smoothing, total=steps, desc=desc)  # fmt: skip
                train_secs = time.time() - t0
                self.thr[f"train {phase.name}"] = steps * r.batch_size / max(train_secs, 1e-9)
                t1 = time.time()
                vl, va, *test_out = self.eval_split(self.test, phase, train_from)
                if not phase.cached_features:
                    self.thr["inference"] = len(self.test) / max(time.time() - t1, 1e-9)
                hl = ha = float("nan")
                if self.holdout is not None:
                    hl, ha, *hold_out = self.eval_split(self.holdout, phase, train_from)
                secs = time.time() - t0
                self.wall[phase.name] = self.wall.get(phase.name, 0.0) + secs
                self.record(train_loss=tl, train_acc=ta, val_loss=vl, val_acc=va, holdout_loss=hl,
                            holdout_acc=ha, phase=pi, epoch_seconds=secs)  # fmt: skip
                self.log(
                    f"{r.key} | {phase.name} | epoch {epoch + 1}/{epochs} | train loss {tl:.4f} "
                    f"acc {ta:.4f} | seg_test loss {vl:.4f} acc {va:.4f}"
                    + (f" | holdout acc {ha:.4f}" if self.holdout is not None else "")
                    + f" | {secs:.0f}s"
                )
                self.keep_if_best(ha, epoch_counter)
                self.checkpoint(pi, epoch, opt, sched)
                epoch_counter += 1
        if r.select_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            self.log(
                f"kept epoch {self.best_epoch + 1} (best holdout accuracy {self.best_acc:.4f})"
            )
            test_out = hold_out = None
        if test_out is None:  # a kept best epoch, or resumed after the last epoch
            _, _, *test_out = self.final_eval(self.test)
            if self.holdout is not None:
                _, _, *hold_out = self.final_eval(self.holdout)
        hold_logits, hold_labels = hold_out if hold_out is not None else (None, None)
        return FitResult(self.history, self.best_epoch, test_out[0], test_out[1], hold_logits,
                         hold_labels, self.wall, self.thr)  # fmt: skip


def make_context(device: torch.device, precision: str = "auto", progress: bool = True) -> Context:
    return Context(device=device, amp=autocast_dtype(device, precision), progress=progress)
