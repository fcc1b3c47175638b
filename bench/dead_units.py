"""How many of the simple CNN's 16 hidden ReLUs survive the first Adam steps, per seed.

A unit counts as alive when it is positive for at least one of 500 seg_test photos. The study's
constant Adam 1e-3 kills most of them in the first 20-50 steps (the 90,000 non-negative inputs of
the dense layer move together, so one step shifts a unit's input by tens); a linear warm-up over
the first epoch (the `simple` recipe) keeps about half. Figures: docs/findings.md.

    python bench/dead_units.py --recipe simple-study --steps 50 --seeds 42 43 44 45 46 47
    python bench/dead_units.py --recipe simple --steps 150 --seeds 43 44 45 46
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from app.model.networks import SimpleCNN
from app.model.scenes import NUM_CLASSES, RESCALE_ONLY, to_input
from training.data import (
    STUDY_AUGMENT,
    decode_split,
    default_data_dir,
    index_split,
    iterate_batches,
)
from training.loop import make_optimizer, seed_everything
from training.models import RECIPES

CHECKPOINTS = (1, 5, 20, 50, 100, 150, 200, 300, 438)


def alive_units(model: SimpleCNN, probe: torch.Tensor) -> int:
    with torch.no_grad():
        h = model.head[1](model.head[0](model.features(probe)))
    return int((h > 0).any(0).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument(
        "--recipe",
        choices=("simple", "simple-study"),
        default="simple-study",
        help="whose optimiser and schedule: simple (warm-up) or simple-study",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44, 45, 46, 47])
    args = ap.parse_args()
    root = default_data_dir()
    train = decode_split(index_split(root, "seg_train"), progress=False)
    test = decode_split(index_split(root, "seg_test"), progress=False)
    probe = to_input(test.pixels[::6][:500], RESCALE_ONLY)
    recipe = RECIPES[args.recipe]
    for seed in args.seeds:
        seed_everything(seed)
        model = SimpleCNN(NUM_CLASSES)
        phase = recipe.phases[0]
        opt, sched = make_optimizer(model, phase, 0, phase.epochs * recipe.steps_per_epoch)
        start, alive = time.time(), {}
        batches = iterate_batches(
            train,
            32,
            RESCALE_ONLY,
            shuffle=True,
            seed=seed,
            aug=STUDY_AUGMENT,
            drop_last=True,
            steps=args.steps,
        )
        for step, (x, y) in enumerate(batches, start=1):
            model.train()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if step in CHECKPOINTS or step == args.steps:
                alive[step] = alive_units(model, probe)
        print(
            json.dumps(
                {
                    "seed": seed,
                    "recipe": args.recipe,
                    "alive_after_step": alive,
                    "seconds": round(time.time() - start, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
