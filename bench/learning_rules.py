"""Other learning rules and another gate, over the same splits as bench/learning_splits.py,
measured on the simulated camera (the tuning set) and on real-scenes-dev (measurement only).

    python bench/learning_rules.py [--work /tmp/scene-learning]

Rules: the shipped last-layer refit (replay weight, pull), the same with the bias alone
free (6 numbers: a per-scene shift), and a nearest-corrections vote mixed into the bundled
probabilities (kappa: how similar a correction must be; c: how many similar ones outweigh
the model). Gates: the shipped one (out-of-fold accuracy above the bundled head's) and one on
out-of-fold log-loss (at the runtime's temperature), which uses every probability rather than
counting a photo or two. "sim": 2 seeds x 15 random draws of 55 labelled photos from the
graded seg_test set (900), measured on the other 845; "real": 20 stratified half splits of
real-scenes-dev, both ways. Features come from bench/bench_learning.py's cache (--work).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learning import REAL, personal, scenes

from app.model.calibration import softmax

RULES = [
    ("last", 5.0, 0.1),
    ("bias", 5.0, 0.1),
    ("bias", 5.0, 0.01),
    ("bias", 1.0, 0.01),
    ("last", 1.0, 0.01),
]
VOTES = [(10, 3.0), (20, 0.3), (20, 1.0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/scene-learning"))
    args = ap.parse_args()
    base, bank = personal.Head.from_card(None), personal.ReplayBank.load()
    rx, ry = bank.subset(personal.REPLAY_FIT_PER_CLASS, 0)
    hr, last = base.hidden(rx), base.last()
    theta0, t0 = last.flat(), 0.675  # the int8 runtime's temperature
    rows = [r.split("\t") for r in (REAL / "LABELS.tsv").read_text().splitlines()[1:]]
    sets = {
        "real": (
            np.asarray(np.load(args.work / "real.npz")["features"], np.float64),
            np.array([scenes.CLASSES.index(r[1]) for r in rows]),
        )
    }
    sims = [
        (
            np.asarray(np.load(args.work / f"graded-150-{s}.npz")["features"], np.float64),
            np.repeat(np.arange(6), 150),
            s,
        )
        for s in (0, 1)
    ]

    def draws(which: str):
        if which == "real":
            x, y = sets["real"]
            for s in range(20):
                fold = personal.folds_for(y, 2, s)
                for a in (0, 1):
                    yield x, y, fold == a, fold != a, s
        else:
            for x, y, seed in sims:
                rng = np.random.default_rng(100 + seed)
                for r in range(15):
                    lab = np.zeros(len(y), bool)
                    lab[rng.choice(len(y), 55, replace=False)] = True
                    yield x, y, lab, ~lab, r

    def fit(rule, hx: np.ndarray, y: np.ndarray) -> personal.Head:
        kind, rw, prox = rule
        data = [(hx, y, 1.0), (hr, ry, rw)]

        def f(theta: np.ndarray):
            value, grad = personal.objective(last, theta, theta0, data, prox)
            if kind == "bias":  # the weights stay the bundled ones
                grad = grad.copy()
                grad[: -len(last.biases[0])] = 0.0
            return value, grad

        theta, _ = personal.lbfgs(f, theta0.copy(), personal.MAX_ITER)
        return base.with_last(last.with_flat(theta))

    def nll(logits: np.ndarray, y: np.ndarray) -> float:
        z = logits / t0
        z = z - z.max(1, keepdims=True)
        return float((np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]).mean())

    def run(rule, x, y, lab, meas, seed) -> tuple[float, float, float]:
        hx, idx, yl = base.hidden(x), np.flatnonzero(lab), y[lab]
        head = fit(rule, hx[lab], yl)
        change = (head.logits(x[meas]).argmax(1) == y[meas]).mean() - (
            base.logits(x[meas]).argmax(1) == y[meas]
        ).mean()
        fold, oof = personal.folds_for(yl, 5, seed), np.zeros((len(yl), 6))
        for f in range(5):
            if (fold == f).any():
                oof[fold == f] = fit(rule, hx[idx[fold != f]], yl[fold != f]).logits(
                    x[idx[fold == f]]
                )
        bl = base.logits(x[idx])
        acc_gain = (oof.argmax(1) == yl).mean() - (bl.argmax(1) == yl).mean()
        return 100 * change, acc_gain, nll(bl, yl) - nll(oof, yl)

    def vote(kappa: float, c: float, x, y, lab, meas, _seed) -> float:
        def unit(a: np.ndarray) -> np.ndarray:
            return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-9)

        p = softmax(base.logits(x[meas]), t0)
        w = np.exp(kappa * (unit(x[meas]) @ unit(x[lab]).T - 1.0))
        total = w.sum(1, keepdims=True)
        mixed = (p * c + w @ np.eye(6)[y[lab]]) / (total + c)
        return 100 * ((mixed.argmax(1) == y[meas]).mean() - (p.argmax(1) == y[meas]).mean())

    def part(d: np.ndarray, mask: np.ndarray) -> str:
        return f"{mask.sum()} runs {d[mask].mean():+.2f}" if mask.any() else "0 runs"

    for which in ("sim", "real"):
        for rule in RULES:
            res = np.array([run(rule, *draw) for draw in draws(which)])
            d, acc, lo = res[:, 0], res[:, 1] > 0, res[:, 2] > 0
            print(
                f"{which} {rule[0]} replay={rule[1]:g} pull={rule[2]:g}: mean {d.mean():+.2f} "
                f"(rose {np.mean(d > 0):.0%}, fell {np.mean(d < 0):.0%}) | accuracy gate: "
                f"adopted {part(d, acc)}, refused {part(d, ~acc)} | log-loss gate: adopted "
                f"{part(d, lo)}, refused {part(d, ~lo)}",
                flush=True,
            )
        for kappa, c in VOTES:
            d = np.array([vote(kappa, c, *draw) for draw in draws(which)])
            print(
                f"{which} vote kappa={kappa} c={c:g}: mean {d.mean():+.2f} "
                f"(rose {np.mean(d > 0):.0%}, fell {np.mean(d < 0):.0%})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
