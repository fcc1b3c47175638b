"""One training run: its settings (FitConfig), its state (TrainingRun), checkpoints and resume.

`fit()` runs every phase of a recipe, checkpoints atomically after each epoch and evaluates on
seg_test (and the holdout). A resumed run continues after the last finished epoch and ends
with the same weights as a run that was never interrupted: every epoch's batches and
augmentation are a function of (seed, phase, epoch), and the checkpoint holds the model, the
optimiser and the schedule. Long epochs also checkpoint in their middle
(FitConfig.checkpoint_every_seconds, every 10 minutes by default): a run resumed from such a
checkpoint skips the batches already trained on and still ends with the same weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.data import DecodedSplit, iterate_batches
from training.distributed import SINGLE, Dist
from training.loop import (
    Context,
    cached_batches,
    compute_stage,
    evaluate,
    make_optimizer,
    resolve_stage,
    stages,
    train_one_epoch,
)
from training.models import Phase, Recipe
from training.views import VIEWS

# Each phase draws its batch order and augmentation from its own seed,
# recipe.seed + PHASE_SEED_STRIDE * phase_index, so no phase replays another's sequence
# (epoch_batches then uses seed * 1000 + epoch, so the stride only needs to be large). The value
# is arbitrary (7919 is the 1000th prime) but it trained the published weights: keep it.
PHASE_SEED_STRIDE = 7919
EVAL_BATCH = 64  # photos per evaluation batch
EVAL_FEATURE_BATCH = 128  # cached feature rows per evaluation batch
CHECKPOINT_KEYS = ("model", "optimizer", "phase", "epoch", "history", "wall", "throughput")
# Per epoch, except phase_starts (the epoch each phase began at). seg_test is "val" here: the
# report, result.json and earlier runs read these keys.
HISTORY_KEYS = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "holdout_loss",
    "holdout_acc",
    "phase",
    "epoch_seconds",
    "phase_starts",
)


@dataclass(frozen=True)
class FitConfig:
    """How much of a recipe one run does and where it keeps its state; saved in the checkpoint.

    The defaults are a full run of the recipe, as `python -m training train` does it.
    """

    recipe: Recipe
    out_dir: Path  # checkpoint.pt, best.pt; the CLI writes results beside them
    resume: bool = False  # continue after the last epoch saved in out_dir/checkpoint.pt
    max_epochs: int | None = None  # cap every phase at this many epochs (--epochs; smoke runs)
    steps_per_epoch: int | None = None  # instead of the recipe's (--steps; smoke runs)
    # End the run as an interruption would (RunStopped) before optimiser step N+1 of this
    # process: the unfinished epoch is lost and a resumed run does it again. For tests of resume.
    stop_after_steps: int | None = None
    # Mid-epoch checkpoints, so that an epoch longer than a session is not lost when the
    # session ends: after every N optimiser steps and/or once this many seconds have passed
    # since the last checkpoint. A run resumed from one skips the batches already trained on
    # and ends with the uninterrupted run's weights.
    checkpoint_every_steps: int | None = None
    checkpoint_every_seconds: float | None = 600.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": json.loads(json.dumps(self.recipe.to_dict())),
            "out_dir": str(self.out_dir),
            "resume": self.resume,
            "max_epochs": self.max_epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "stop_after_steps": self.stop_after_steps,
            "checkpoint_every_steps": self.checkpoint_every_steps,
            "checkpoint_every_seconds": self.checkpoint_every_seconds,
        }


@dataclass(frozen=True)
class Splits:
    train: DecodedSplit
    test: DecodedSplit  # seg_test: reported every epoch, never used to choose anything
    holdout: DecodedSplit | None = None  # carved from seg_train: best epoch and temperature


@dataclass(frozen=True)
class PhasePlan:
    """One phase as this run does it: its epochs (after max_epochs), steps and batch seed."""

    index: int
    phase: Phase
    epochs: int
    train_from: int  # the first trainable stage (see training.loop.stages)
    steps: int  # optimiser steps per epoch
    seed: int  # batch order and augmentation


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


class RunStopped(RuntimeError):
    """The run reached FitConfig.stop_after_steps; its last checkpoint is where to resume."""


class ResumeError(RuntimeError):
    """A checkpoint that this run cannot continue from; the message says why and what to do."""


def fit(
    model: nn.Module,
    splits: Splits,
    config: FitConfig,
    ctx: Context,
    log: Callable[[str], object] = print,
    dist: Dist = SINGLE,
) -> FitResult:
    """Run every phase of the recipe; checkpoint after each epoch; evaluate on test (and holdout).

    Under torchrun (`dist` of several processes) each process trains on its share of every
    batch through DistributedDataParallel; only rank 0 logs and writes files."""
    run = TrainingRun(model, splits, config, ctx, log if dist.main else _quiet, dist)
    if config.resume:
        run.resume()
    return run.run()


def _quiet(message: str) -> None:
    """The log of ranks other than 0."""


def _atomic_torch_save(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _feature_cache_tag(recipe: Recipe, splits: Splits) -> str:
    """Names this run's feature caches: same recipe and same data, same frozen features."""
    holdout = len(splits.holdout) if splits.holdout is not None else 0
    data_key = f"{len(splits.train)}|{len(splits.test)}|{holdout}|{int(splits.train.labels.sum())}"
    key = f"{recipe.feature_key or recipe.key}|{recipe.architecture}|{recipe.seed}|{data_key}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def kept_rows(
    recipe: Recipe, train: DecodedSplit, log: Callable[[str], object] = print
) -> np.ndarray | None:
    """Which training photos the recipe trains on (bool, one per photo), None for all: every
    photo but those its `exclude` list names (matched by class folder and file name)."""
    if recipe.exclude is None:
        return None
    from training.data import REPO_ROOT, list_digest, read_list

    path = REPO_ROOT / recipe.exclude
    listed = {row["relpath"] for row in read_list(path)}
    keep = np.array([f"{p.parent.name}/{p.name}" not in listed for p in train.paths])
    log(
        f"{recipe.key}: leaving out {int((~keep).sum())} of {len(keep)} training photos listed "
        f"in {recipe.exclude} (sha256 {list_digest(path)}; {len(listed)} listed, the others "
        "are not training photos of this run)"
    )
    return keep


class TrainingRun:
    """The state of one training run: history, wall times, best epoch, feature caches."""

    def __init__(
        self,
        model: nn.Module,
        splits: Splits,
        config: FitConfig,
        ctx: Context,
        log: Callable[[str], object] = print,
        dist: Dist = SINGLE,
    ) -> None:
        self.model, self.splits, self.config, self.ctx, self.log = model, splits, config, ctx, log
        self.dist = dist
        self.wrapped: dict[int, list[nn.Module]] = {}  # per phase: its trainable stages (DDP)
        self.recipe = config.recipe
        self.train, self.test, self.holdout = splits.train, splits.test, splits.holdout
        config.out_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = config.out_dir / "checkpoint.pt"
        self.best_path = config.out_dir / "best.pt"
        model.to(ctx.device).to(memory_format=torch.channels_last)
        self.mods = stages(model)
        self.history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
        self.wall: dict[str, float] = {}
        self.throughput: dict[str, float] = {}
        self.start_phase, self.start_epoch = 0, 0
        self.best_acc, self.best_epoch = -1.0, None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.resumed: dict | None = None
        # A mid-epoch checkpoint's place (step) and running sums, until that epoch is resumed.
        self.partial: dict | None = None
        self.steps_taken = 0  # optimiser steps of this process (for stop_after_steps)
        self.tag = _feature_cache_tag(self.recipe, splits)
        # The training photos this run trains on (recipe.exclude leaves some out of the
        # batches; the caches hold every photo, so they are the recipe's without the list).
        self.keep = kept_rows(self.recipe, self.train, self.log)
        self.train_rows = (
            self.train if self.keep is None else self.train.subset(np.flatnonzero(self.keep))
        )
        self.caches: dict[tuple[str, int, str | None], np.ndarray] = {}

    def epochs(self, phase: Phase) -> int:
        cap = self.config.max_epochs
        return phase.epochs if cap is None else min(phase.epochs, cap)

    def resume(self) -> None:
        if not self.checkpoint_path.is_file():
            return
        checkpoint = self._read_checkpoint()
        self.model.load_state_dict(checkpoint["model"])
        self.history = checkpoint["history"]
        self.wall, self.throughput = checkpoint["wall"], checkpoint["throughput"]
        self.start_phase, self.start_epoch = checkpoint["phase"], checkpoint["epoch"] + 1
        self.partial = checkpoint.get("partial")
        self.best_acc = checkpoint.get("best_acc", -1.0)
        self.best_epoch = checkpoint.get("best_epoch")
        if self.best_path.is_file():
            self.best_state = torch.load(self.best_path, map_location="cpu", weights_only=True)
        self.resumed = checkpoint
        within = f", step {self.partial['step']}" if self.partial else ""
        self.log(
            f"resumed from {self.checkpoint_path}: phase {self.start_phase}, "
            f"epoch {self.start_epoch}{within}"
        )

    def _read_checkpoint(self) -> dict:
        path = self.checkpoint_path
        again = "; delete it or train without --resume to start over"
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated file, foreign pickle, …
            raise ResumeError(f"cannot read checkpoint {path}: {exc}{again}") from exc
        missing = [
            k for k in CHECKPOINT_KEYS if not isinstance(checkpoint, dict) or k not in checkpoint
        ]
        if missing:
            raise ResumeError(
                f"{path} is not a training checkpoint (missing {', '.join(missing)}){again}"
            )
        # Checkpoints written before the config was saved carry the recipe alone.
        saved = checkpoint.get("config", {}).get("recipe") or checkpoint.get("recipe") or {}
        for key in ("key", "architecture"):
            if key in saved and saved[key] != getattr(self.recipe, key):
                raise ResumeError(
                    f"{path} was written by recipe {saved.get('key')!r} "
                    f"({saved.get('architecture')}), not {self.recipe.key!r}{again}"
                )
        return checkpoint

    # -- feature caches --------------------------------------------------------------------

    def cache_for(self, split: DecodedSplit, stage: int, view: str | None = None) -> np.ndarray:
        is_holdout = split is self.holdout
        name = "holdout" if is_holdout else split.split
        key = (name, stage, view)
        if key not in self.caches:
            shallower = [s for (n, s, v) in self.caches if n == name and v == view and s < stage]
            source = None
            if shallower:
                source = (max(shallower), self.caches[(name, max(shallower), view)])
            started = time.time()
            # rank 0 writes the cache file; the others wait, then read it
            self.caches[key] = self.dist.rank0_first(
                lambda: compute_stage(
                    self.model,
                    split,
                    stage,
                    self.recipe.normalization,
                    self.ctx,
                    self.tag + ("h" if is_holdout else ""),
                    source=source,
                    view=VIEWS[view] if view else None,
                    seed=self.recipe.seed,
                )
            )
            label = f"features {name}{' ' + view if view else ''} stage {stage}"
            self.wall[label] = self.wall.get(label, 0.0) + time.time() - started
        return self.caches[key]

    def train_features(self, phase: Phase, stage: int) -> np.ndarray | list[np.ndarray]:
        """The training photos' cache at `stage`, with the phase's views after it (a list)."""
        if not phase.views:
            return self.cache_for(self.train, stage)
        return [self.cache_for(self.train, stage)] + [
            self.cache_for(self.train, stage, view) for view in phase.views
        ]

    def prepare_caches(self) -> None:
        """Every cache the remaining phases need, shallowest first, each deeper one from the last."""
        phases = [p for p in self.recipe.phases[self.start_phase :] if p.cached_features]
        needed = sorted({resolve_stage(self.model, p.train) for p in phases})
        for split in [self.train, self.test] + ([self.holdout] if self.holdout is not None else []):
            for stage in needed:
                self.cache_for(split, stage)
        # a view only at the stages of the phases that go over it
        for view, stage in sorted(
            {(v, resolve_stage(self.model, p.train)) for p in phases for v in p.views}
        ):
            self.cache_for(self.train, stage, view)

    # -- one epoch -------------------------------------------------------------------------

    def trainable(self, plan: PhasePlan) -> list[nn.Module]:
        """The phase's trainable stages; under torchrun one DistributedDataParallel module."""
        if plan.index not in self.wrapped:
            mods = self.mods[plan.train_from :]
            self.wrapped = {plan.index: self.dist.wrap(mods, self.ctx.device)}
        return self.wrapped[plan.index]

    def batches(self, plan: PhasePlan, epoch: int, skip: int = 0):
        """(frozen stages, trainable stages, training batches) for one epoch; `skip`: leave out
        its first batches (drawn all the same, so the rest are the uninterrupted run's)."""
        batch_size, start = self.recipe.batch_size, plan.train_from
        part = (self.dist.rank, self.dist.world)
        if plan.phase.cached_features:
            features = self.train_features(plan.phase, start)
            batches = cached_batches(
                features,
                self.train.labels,
                batch_size,
                shuffle=True,
                seed=plan.seed,
                epoch=epoch,
                steps=plan.steps,
                part=part,
                keep=self.keep,
                skip=skip,
            )
            return [], self.trainable(plan), self._counted(batches)
        batches = iterate_batches(
            self.train_rows,
            batch_size,
            self.recipe.normalization,
            shuffle=True,
            seed=plan.seed,
            epoch=epoch,
            aug=plan.phase.augment,
            drop_last=True,
            steps=plan.steps,
            part=part,
        )
        return self.mods[:start], self.trainable(plan), self._counted(islice(batches, skip, None))

    def _counted(self, batches: Iterable) -> Iterator:
        """The batches, stopping the run before the step that FitConfig.stop_after_steps forbids."""
        limit = self.config.stop_after_steps
        for batch in batches:
            if limit is not None and self.steps_taken >= limit:
                raise RunStopped(
                    f"stopped after {self.steps_taken} optimiser steps (stop_after_steps); "
                    f"resume from {self.checkpoint_path}"
                )
            self.steps_taken += 1
            yield batch

    def eval_split(self, split: DecodedSplit, plan: PhasePlan):
        if plan.phase.cached_features:
            features = self.cache_for(split, plan.train_from)
            batches = cached_batches(
                features, split.labels, EVAL_FEATURE_BATCH, shuffle=False, seed=0, epoch=0
            )
            mods = self.mods[plan.train_from :]
            return evaluate(mods, batches, self.ctx, desc=f"eval {split.split}")
        batches = iterate_batches(split, EVAL_BATCH, self.recipe.normalization, shuffle=False)
        n = math.ceil(len(split) / EVAL_BATCH)
        return evaluate(self.mods, batches, self.ctx, total=n, desc=f"eval {split.split}")

    def final_eval(self, split: DecodedSplit):
        # The deepest cached stage that is still upstream of every trainable layer.
        stage = min(resolve_stage(self.model, p.train) for p in self.recipe.phases)
        if any(p.cached_features for p in self.recipe.phases) and stage > 0:
            features = self.cache_for(split, stage)
            batches = cached_batches(
                features, split.labels, EVAL_FEATURE_BATCH, shuffle=False, seed=0, epoch=0
            )
            return evaluate(self.mods[stage:], batches, self.ctx, desc=f"eval {split.split}")
        batches = iterate_batches(split, EVAL_BATCH, self.recipe.normalization, shuffle=False)
        return evaluate(self.mods, batches, self.ctx, desc=f"eval {split.split}")

    def record(self, **values) -> None:
        for k, v in values.items():
            self.history[k].append(v)

    def checkpoint(
        self, phase_index: int, epoch: int, optimizer, scheduler, partial: dict | None = None
    ) -> None:
        """After `epoch` (of the phase; -1: none yet) ended; with `partial`, in the middle of
        the next one: its step and running sums (a mid-epoch checkpoint)."""
        if not self.dist.main:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "phase": phase_index,
            "epoch": epoch,
            "history": self.history,
            "wall": self.wall,
            "throughput": self.throughput,
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "recipe": json.loads(json.dumps(self.recipe.to_dict())),
            "config": self.config.to_dict(),
        }
        if partial is not None:
            state["partial"] = partial
        _atomic_torch_save(state, self.checkpoint_path)

    def keep_if_best(self, holdout_acc: float, epoch_counter: int) -> None:
        if self.recipe.select_best and self.holdout is not None and holdout_acc > self.best_acc:
            self.best_acc, self.best_epoch = holdout_acc, epoch_counter
            state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.best_state = state
            if self.dist.main:
                _atomic_torch_save(state, self.best_path)

    def plan(self, phase_index: int) -> PhasePlan:
        recipe = self.recipe
        phase = recipe.phases[phase_index]
        rows = len(self.train_rows) * (1 + len(phase.views) if phase.cached_features else 1)
        full_batches = rows // recipe.batch_size
        steps = self.config.steps_per_epoch or recipe.steps_per_epoch or full_batches
        if phase.cached_features:
            steps = min(steps, full_batches)
        return PhasePlan(
            index=phase_index,
            phase=phase,
            epochs=self.epochs(phase),
            train_from=resolve_stage(self.model, phase.train),
            steps=steps,
            seed=recipe.seed + PHASE_SEED_STRIDE * phase_index,
        )

    # -- the whole run ---------------------------------------------------------------------

    def run(self) -> FitResult:
        recipe = self.recipe
        self.prepare_caches()
        test_out = holdout_out = None
        done_before = sum(self.epochs(p) for p in recipe.phases[: self.start_phase])
        epoch_counter = done_before + self.start_epoch
        for phase_index in range(self.start_phase, len(recipe.phases)):
            plan = self.plan(phase_index)
            optimizer, scheduler = make_optimizer(
                self.model, plan.phase, plan.train_from, plan.steps * plan.epochs
            )
            first_epoch = self.start_epoch if phase_index == self.start_phase else 0
            within = self.partial is not None and phase_index == self.start_phase
            if (first_epoch > 0 or within) and self.resumed is not None:
                optimizer.load_state_dict(self.resumed["optimizer"])
                if scheduler is not None and self.resumed.get("scheduler"):
                    scheduler.load_state_dict(self.resumed["scheduler"])
            if first_epoch == 0 and not within:
                self.history["phase_starts"].append(epoch_counter)
            for epoch in range(first_epoch, plan.epochs):
                test_out, holdout_out = self.run_epoch(plan, epoch, optimizer, scheduler)
                self.keep_if_best(self.history["holdout_acc"][-1], epoch_counter)
                self.checkpoint(phase_index, epoch, optimizer, scheduler)
                epoch_counter += 1
        if recipe.select_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            self.log(
                f"kept epoch {self.best_epoch + 1} (best holdout accuracy {self.best_acc:.4f})"
            )
            test_out = holdout_out = None
        if test_out is None:  # a kept best epoch, or resumed after the last epoch
            _, _, *test_out = self.final_eval(self.test)
            if self.holdout is not None:
                _, _, *holdout_out = self.final_eval(self.holdout)
        holdout_logits, holdout_labels = holdout_out if holdout_out is not None else (None, None)
        return FitResult(
            self.history,
            self.best_epoch,
            test_out[0],
            test_out[1],
            holdout_logits,
            holdout_labels,
            self.wall,
            self.throughput,
        )

    def run_epoch(self, plan: PhasePlan, epoch: int, optimizer, scheduler):
        """Train one epoch, evaluate, record; returns the (logits, labels) of test and holdout."""
        recipe, phase = self.recipe, plan.phase
        started = time.time()
        partial, self.partial = self.partial or {}, None
        skip = partial.get("step", 0)
        frozen, trainable, batches = self.batches(plan, epoch, skip)
        if phase.cached_features:
            started = time.time()  # building a missing cache is not training time
        started -= partial.get("seconds", 0.0)  # the part of the epoch done before
        desc = f"{recipe.key} {phase.name} epoch {epoch + 1}/{plan.epochs}"
        sums = (partial.get("loss_sum", 0.0), partial.get("correct", 0), partial.get("seen", 0))
        step, saved = skip, time.time()

        def on_step(loss_sum: float, correct: int, seen: int) -> None:
            nonlocal step, saved
            step += 1
            every, secs = self.config.checkpoint_every_steps, self.config.checkpoint_every_seconds
            due = (every and step % every == 0) or (
                secs is not None and time.time() - saved >= secs
            )
            if due and step < plan.steps:  # the epoch's end writes its own checkpoint
                place = {"step": step, "loss_sum": loss_sum, "correct": correct, "seen": seen}
                place["seconds"] = time.time() - started
                self.checkpoint(plan.index, epoch - 1, optimizer, scheduler, partial=place)
                saved = time.time()

        train_loss, train_acc = train_one_epoch(
            frozen,
            trainable,
            batches,
            optimizer,
            scheduler,
            self.ctx,
            recipe.label_smoothing,
            total=plan.steps - skip,
            desc=desc,
            start=sums,
            on_step=on_step,
        )
        train_loss, train_acc = self.dist.mean(train_loss, train_acc)
        train_secs = time.time() - started
        images = plan.steps * recipe.batch_size
        self.throughput[f"train {phase.name}"] = images / max(train_secs, 1e-9)
        eval_started = time.time()
        test_loss, test_acc, *test_out = self.eval_split(self.test, plan)
        if not phase.cached_features:
            eval_secs = max(time.time() - eval_started, 1e-9)
            self.throughput["inference"] = len(self.test) / eval_secs
        holdout_loss = holdout_acc = float("nan")
        holdout_out = None
        if self.holdout is not None:
            holdout_loss, holdout_acc, *holdout_out = self.eval_split(self.holdout, plan)
        secs = time.time() - started
        self.wall[phase.name] = self.wall.get(phase.name, 0.0) + secs
        self.record(
            train_loss=train_loss,
            train_acc=train_acc,
            val_loss=test_loss,
            val_acc=test_acc,
            holdout_loss=holdout_loss,
            holdout_acc=holdout_acc,
            phase=plan.index,
            epoch_seconds=secs,
        )
        self.log(
            f"{recipe.key} | {phase.name} | epoch {epoch + 1}/{plan.epochs} | train loss "
            f"{train_loss:.4f} acc {train_acc:.4f} | seg_test loss {test_loss:.4f} "
            f"acc {test_acc:.4f}"
            + (f" | holdout acc {holdout_acc:.4f}" if self.holdout is not None else "")
            + f" | {secs:.0f}s"
        )
        return test_out, holdout_out
