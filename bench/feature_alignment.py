"""Unsupervised adaptation to a person's camera: re-centre and re-scale the person's pooled
features to the replay bank's statistics (per dimension, from all their photos, no labels), then
the bundled head. A lead for learning without corrections, measured, not shipped.

    python bench/feature_alignment.py [--work /tmp/scene-learning]

Reads the features bench/bench_learning.py caches under --work (its simulated camera shift,
seeds 0 and 1, the same photos unshifted, and real-scenes-dev). Figures go to docs/learning.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learning import REAL, personal, scenes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/scene-learning"))
    args = ap.parse_args()
    base, bank = personal.Head.from_card(None), personal.ReplayBank.load()
    ref = bank.features.astype(np.float64)
    ref_mean, ref_std = ref.mean(0), ref.std(0) + 1e-6

    def aligned(x: np.ndarray, mix: float = 1.0) -> np.ndarray:
        z = (x - x.mean(0)) / (x.std(0) + 1e-6) * ref_std + ref_mean
        return (1 - mix) * x + mix * np.maximum(z, 0)  # pooled ReLU features stay >= 0

    def acc(x: np.ndarray, y: np.ndarray) -> str:
        return f"{100 * float((base.logits(x).argmax(1) == y).mean()):6.2f}"

    rows = [line.split("\t") for line in (REAL / "LABELS.tsv").read_text().splitlines()[1:]]
    sets = {
        "real-scenes-dev (110)": (
            np.load(args.work / "real.npz")["features"],
            np.array([scenes.CLASSES.index(r[1]) for r in rows]),
        )
    }
    for seed in (0, 1):
        y = np.repeat(np.arange(len(scenes.CLASSES)), 150)  # bench_learning.pick's order
        for kind in ("graded", "clean"):
            x = np.load(args.work / f"{kind}-150-{seed}.npz")["features"]
            sets[f"{kind} seg_test, seed {seed} (900)"] = (x, y)
    print(f"{'photos':34s} bundled  aligned  half-way")
    for name, (x, y) in sets.items():
        x = np.asarray(x, np.float64)
        print(f"{name:34s} {acc(x, y)}  {acc(aligned(x), y)}  {acc(aligned(x, 0.5), y)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
