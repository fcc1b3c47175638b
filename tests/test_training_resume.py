"""A run interrupted in the middle of an epoch and resumed ends with exactly the weights of a
run that was never interrupted. Tiny synthetic data (random 32x32 photos) and the tiny_test
network, so each run takes a second."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from app.model.networks import build_network
from app.model.scenes import CLASSES, IMAGENET, RESCALE_ONLY
from training.data import NO_AUGMENT, DecodedSplit
from training.loop import make_context
from training.models import Phase, Recipe
from training.run import FitConfig, ResumeError, RunStopped, Splits, fit

BATCH = 8

# One phase with augmentation and a warm-up: 3 epochs x 4 steps.
AUGMENTED = Recipe(
    key="tiny-augmented",
    title="tiny, augmented",
    architecture="tiny_test",
    normalization=RESCALE_ONLY,
    phases=[Phase("train", 3, 1e-2, schedule="warmup", warmup_fraction=0.3)],
    batch_size=BATCH,
    seed=5,
    steps_per_epoch=4,
)
# VGG16's shape of run: the head on cached features, then everything with a cosine schedule,
# a holdout and the best epoch kept. 48 training photos: 6 steps per epoch, 2 + 2 epochs.
TWO_PHASES = Recipe(
    key="tiny-two-phases",
    title="tiny, two phases",
    architecture="tiny_test",
    normalization=IMAGENET,
    phases=[
        Phase("head", 2, 1e-2, train="head", augment=NO_AUGMENT, cached_features=True),
        Phase("all", 2, 1e-3, train="all", schedule="cosine", warmup_fraction=0.2, head_lr=1e-2),
    ],
    batch_size=BATCH,
    seed=11,
    steps_per_epoch=None,
    select_best=True,
)


def synthetic_split(name: str, n: int, seed: int) -> DecodedSplit:
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % len(CLASSES)
    pixels = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    pixels[..., 0] = np.clip(pixels[..., 0] // 2 + labels[:, None, None] * 20, 0, 255)
    return DecodedSplit(name, [Path(f"{name}/{i}.png") for i in range(n)], labels, pixels, [])


@pytest.fixture
def splits(tmp_path, monkeypatch) -> Splits:
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "cache"))
    return Splits(
        synthetic_split("seg_train", 48, 0),
        synthetic_split("seg_test", 18, 1),
        synthetic_split("holdout", 12, 2),
    )


def train(recipe: Recipe, splits: Splits, out: Path, **settings) -> tuple[dict, dict]:
    """A fresh model (always the same initial weights) trained by fit(); returns its final
    state and the last checkpoint."""
    torch.manual_seed(0)
    model = build_network(recipe.architecture, len(CLASSES))
    ctx = make_context(torch.device("cpu"), "fp32", progress=False)
    fit(model, splits, FitConfig(recipe, out, **settings), ctx, log=lambda _: None)
    checkpoint = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    return model.state_dict(), checkpoint


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def interrupt(recipe: Recipe, splits: Splits, out: Path, after_steps: int) -> dict:
    with pytest.raises(RunStopped, match=f"after {after_steps} optimiser steps"):
        train(recipe, splits, out, stop_after_steps=after_steps)
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize(
    ("recipe", "after_steps", "saved_at"),
    [
        (AUGMENTED, 6, (0, 0)),  # step 2 of 4 in epoch 2
        (TWO_PHASES, 8, (0, 0)),  # step 2 of 6 in epoch 2 of the cached-features phase
        (TWO_PHASES, 21, (1, 0)),  # step 3 of 6 in epoch 2 of the second phase
    ],
)
def test_a_run_resumed_mid_epoch_ends_with_the_uninterrupted_weights(
    tmp_path, splits, recipe, after_steps, saved_at
):
    holdout = splits if recipe.select_best else replace(splits, holdout=None)
    straight, straight_checkpoint = train(recipe, holdout, tmp_path / "straight")

    out = tmp_path / "interrupted"
    stopped = interrupt(recipe, holdout, out, after_steps)
    assert (stopped["phase"], stopped["epoch"]) == saved_at  # the unfinished epoch is lost
    assert stopped["config"]["stop_after_steps"] == after_steps
    assert stopped["config"]["recipe"]["key"] == recipe.key
    resumed, resumed_checkpoint = train(recipe, holdout, out, resume=True)

    assert_same_tensors(resumed, straight)
    assert_same_tensors(resumed_checkpoint["model"], straight_checkpoint["model"])
    for key in ("train_loss", "val_acc", "holdout_acc", "phase", "phase_starts"):
        assert resumed_checkpoint["history"][key] == pytest.approx(
            straight_checkpoint["history"][key], nan_ok=True
        ), key
    epochs = sum(p.epochs for p in recipe.phases)
    assert len(resumed_checkpoint["history"]["train_loss"]) == epochs


def test_a_run_stopped_early_is_not_the_finished_run(tmp_path, splits):
    """The comparison above can fail: weights after one epoch are not the final ones."""
    no_holdout = replace(splits, holdout=None)
    straight, _ = train(AUGMENTED, no_holdout, tmp_path / "straight")
    stopped = interrupt(AUGMENTED, no_holdout, tmp_path / "stopped", 6)
    assert not all(torch.equal(stopped["model"][k], v) for k, v in straight.items())


def test_a_checkpoint_without_the_config_still_resumes(tmp_path, splits):
    """Checkpoints written before the run config was saved in them."""
    no_holdout = replace(splits, holdout=None)
    straight, _ = train(AUGMENTED, no_holdout, tmp_path / "straight")
    out = tmp_path / "old"
    checkpoint = interrupt(AUGMENTED, no_holdout, out, 6)
    del checkpoint["config"]
    torch.save(checkpoint, out / "checkpoint.pt")
    resumed, _ = train(AUGMENTED, no_holdout, out, resume=True)
    assert_same_tensors(resumed, straight)


def test_checkpoints_that_cannot_be_resumed_say_why(tmp_path, splits):
    no_holdout = replace(splits, holdout=None)
    out = tmp_path / "run"
    checkpoint = interrupt(AUGMENTED, no_holdout, out, 6)
    other = replace(AUGMENTED, key="tiny-other")
    with pytest.raises(ResumeError, match="recipe 'tiny-augmented'.*not 'tiny-other'.*--resume"):
        train(other, no_holdout, out, resume=True)

    del checkpoint["optimizer"]
    torch.save(checkpoint, out / "checkpoint.pt")
    with pytest.raises(ResumeError, match="not a training checkpoint \\(missing optimizer\\)"):
        train(AUGMENTED, no_holdout, out, resume=True)

    (out / "checkpoint.pt").write_bytes(b"truncated")
    with pytest.raises(ResumeError, match="cannot read checkpoint .*checkpoint.pt"):
        train(AUGMENTED, no_holdout, out, resume=True)


@pytest.mark.parametrize(
    ("recipe", "after_steps", "every", "saved_at", "remaining"),
    [
        (AUGMENTED, 6, 1, (0, 0, 2), 6),  # step 2 of epoch 2: saved there, 6 steps left
        (TWO_PHASES, 14, 1, (1, -1, 2), 10),  # step 2 of the second phase's first epoch
        (TWO_PHASES, 21, 2, (1, 0, 2), 4),  # step 3 of its second epoch, saved after step 2
    ],
)
def test_a_mid_epoch_checkpoint_resumes_where_it_was_written(
    tmp_path, splits, recipe, after_steps, every, saved_at, remaining
):
    """With checkpoint_every_steps an interrupted epoch is not lost: the resumed run trains
    only the steps after the checkpoint and ends with the uninterrupted weights and history."""
    holdout = splits if recipe.select_best else replace(splits, holdout=None)
    straight, straight_checkpoint = train(recipe, holdout, tmp_path / "straight")
    out = tmp_path / "interrupted"
    with pytest.raises(RunStopped):
        train(recipe, holdout, out, stop_after_steps=after_steps, checkpoint_every_steps=every)
    stopped = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert (stopped["phase"], stopped["epoch"], stopped["partial"]["step"]) == saved_at
    # exactly `remaining` optimiser steps are left: one more would stop the run
    resumed, resumed_checkpoint = train(
        recipe, holdout, out, resume=True, stop_after_steps=remaining
    )
    assert "partial" not in resumed_checkpoint
    assert_same_tensors(resumed, straight)
    for key in ("train_loss", "train_acc", "val_acc", "holdout_acc", "phase", "phase_starts"):
        assert resumed_checkpoint["history"][key] == pytest.approx(
            straight_checkpoint["history"][key], nan_ok=True
        ), key
    with pytest.raises(RunStopped):
        train(recipe, holdout, tmp_path / "short", stop_after_steps=remaining)
