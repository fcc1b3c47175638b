"""`python -m training train`: fit recipes on the data set and keep each run's results.

    train(["vgg16"], data.decode_splits(root), TrainOptions(runs=Path("runs")))

Each recipe is fitted (training.run.fit: checkpoints every epoch, `resume`), and the main
process saves the run: the final weights, the test logits, result.json with the figures
(accuracy, ECE before and after the temperature fitted on the holdout) the export and the
report read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from app.model import devices, scenes
from app.model.calibration import WIDE_BOUNDS, fit_temperature, softmax
from app.model.scenes import CLASSES
from training import data
from training.models import RECIPES, Recipe, build
from training.run import FitResult


def hardware() -> str:
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{devices.cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}{gpu}"


@dataclass(frozen=True)
class TrainOptions:
    runs: Path  # runs/<recipe>/ keeps checkpoints and results
    precision: str = "auto"  # autocast dtype
    threads: int = 0  # CPU threads for torch (0: torch's choice)
    resume: bool = False
    epochs: int | None = None  # cap every phase (smoke runs)
    steps: int | None = None  # steps per epoch (smoke runs)
    imagenet: str = "auto"  # where the VGG16 recipes take their ImageNet start from
    imagenet_sdist: Path | None = None
    imagenet_download: bool = False
    quiet: bool = False


def train(
    keys: list[str],
    splits: dict[str, data.DecodedSplit],
    options: TrainOptions,
    dist,
    device: torch.device,
) -> None:
    """Fit each recipe of `keys` in turn (under torchrun, as one of `dist`'s processes)."""
    from training.loop import make_context, seed_everything
    from training.run import FitConfig, Splits, fit

    quiet = options.quiet or not dist.main  # one progress bar, from rank 0
    if options.threads:
        torch.set_num_threads(options.threads)
    ctx = make_context(device, options.precision, progress=not quiet)
    if dist.main:
        workers = f"; {dist.world} processes (DistributedDataParallel)" if dist.active else ""
        print(f"device: {devices.device_name(device)}, autocast: {ctx.amp}{workers}")
    for key in keys:
        recipe: Recipe = RECIPES[key]
        seed_everything(recipe.seed)
        train_split, test = splits["seg_train"], splits["seg_test"]
        holdout = None
        if recipe.holdout_fraction:
            tr_idx, ho_idx = data.stratified_holdout(
                train_split.labels, recipe.holdout_fraction, recipe.seed
            )
            train_split, holdout = train_split.subset(tr_idx), train_split.subset(ho_idx)
            holdout.split = "holdout"
        model = build(recipe)
        if recipe.imagenet_init:
            from training.imagenet import imagenet_vgg16_features

            model.features.load_state_dict(
                imagenet_vgg16_features(
                    options.imagenet,
                    sdist=options.imagenet_sdist,
                    download=options.imagenet_download,
                ),
                strict=True,
            )
        out = options.runs / key
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        config = FitConfig(
            recipe,
            out,
            resume=options.resume,
            max_epochs=options.epochs,
            steps_per_epoch=options.steps,
        )
        fitted = fit(model, Splits(train_split, test, holdout), config, ctx, dist=dist)
        if dist.main:
            save_run(out, recipe, model, fitted, time.time() - t0, train_split, holdout, test)


def save_run(
    out: Path, recipe: Recipe, model, fitted: FitResult, total_secs: float, train, holdout, test
) -> dict:
    from training.metrics import (
        caret_stats,
        confusion_matrix,
        expected_calibration_error,
        format_caret,
    )

    scenes.save_state_dict(model.state_dict(), out / "final.safetensors")
    probs = softmax(fitted.test_logits)
    pred = probs.argmax(1)
    stats = caret_stats(confusion_matrix(pred, fitted.test_labels, len(CLASSES)), list(CLASSES))
    ece = expected_calibration_error(probs, fitted.test_labels)
    temperature, ece_after = None, None
    if fitted.holdout_logits is not None:
        temperature = fit_temperature(fitted.holdout_logits, fitted.holdout_labels, WIDE_BOUNDS)
        ece_after = expected_calibration_error(
            softmax(fitted.test_logits, temperature), fitted.test_labels
        )
    np.savez_compressed(
        out / "test_outputs.npz", logits=fitted.test_logits, labels=fitted.test_labels
    )
    result = {
        "key": recipe.key,
        "title": recipe.title,
        "study_accuracy": recipe.study_accuracy,
        "recipe": recipe.to_dict(),
        "stats": stats.to_dict(),
        "history": fitted.history,
        "best_epoch": fitted.best_epoch,
        "wall_times": {**fitted.wall_times, "total": total_secs},
        "throughput": fitted.throughput,
        "ece": ece,
        "temperature": temperature,
        "ece_after": ece_after,
        "n_train": len(train),
        "n_holdout": len(holdout) if holdout is not None else 0,
        "n_test": len(test),
        "hardware": hardware(),
        "torch": torch.__version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(format_caret(stats))
    print(
        f"ECE (15 bins): {ece:.4f}"
        + (f"; temperature {temperature:.3f} -> ECE {ece_after:.4f}" if temperature else "")
    )
    return result
