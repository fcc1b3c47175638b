"""Learning from corrections over many half splits of real-scenes-dev: how often it helps, and
whether the gate's held-out test predicts it.

    python bench/learning_splits.py [--splits 20] [--work /tmp/scene-learning]

Each split labels one stratified half (seed 0..N-1) and measures the other half, both ways
(2N runs). Reported: the mean change of accuracy on the measured half, how often it rose or
fell, for the shipped setting and a few looser ones (`personal.fit` without the gate), then
`personal.learn` with its gate: the change among the adopted heads and among the refused ones.
Features (ONNX int8) are cached under --work, shared with bench/bench_learning.py. Figures go
to docs/learning.md. The looser settings are a diagnostic: choosing one on these 110 photos
would make their figures meaningless.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learning import REAL, Classifier, features, personal, scenes

SETTINGS = ((personal.REPLAY_WEIGHT, personal.PROX), (1.0, 0.1), (1.0, 0.01), (0.5, 0.01))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/scene-learning"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = [line.split("\t") for line in (REAL / "LABELS.tsv").read_text().splitlines()[1:]]
    y = np.array([scenes.CLASSES.index(r[1]) for r in rows])
    with Classifier(None, backend="onnx", precision="int8") as clf:
        x, _ = features(clf, [REAL / r[0] for r in rows], args.work / "real.npz")
        t0 = clf.runtime.temperature
    x = np.asarray(x, np.float64)
    base, bank = personal.Head.from_card(None), personal.ReplayBank.load()
    rx, ry = bank.subset(personal.REPLAY_FIT_PER_CLASS, 0)
    hx, hr = base.hidden(x), base.hidden(rx)
    halves = [
        (fold == a, fold != a)
        for s in range(args.splits)
        for fold in [personal.folds_for(y, 2, s)]
        for a in (0, 1)
    ]

    def change(head: personal.Head, measured: np.ndarray) -> float:
        before = (base.logits(x[measured]).argmax(1) == y[measured]).mean()
        return 100 * float((head.logits(x[measured]).argmax(1) == y[measured]).mean() - before)

    def line(name: str, d: list[float]) -> None:
        a = np.array(d)
        print(
            f"{name}: {len(a)} runs, mean {a.mean():+.2f} points, rose {np.mean(a > 0):.0%}, "
            f"fell {np.mean(a < 0):.0%}, range {a.min():+.1f} to {a.max():+.1f}"
        )

    start = time.perf_counter()
    for rw, prox in SETTINGS:
        fits = [
            personal.fit(base, hx[lab], y[lab], (hr, ry), rw, prox, hidden=True)
            for lab, _ in halves
        ]
        line(
            f"fit replay_weight={rw:g} prox={prox:g}",
            [change(h, m) for h, (_, m) in zip(fits, halves, strict=True)],
        )
    adopted, refused, margins = [], [], []
    for s, (lab, measured) in enumerate(halves):
        labels = [scenes.CLASSES[i] for i in y[lab]]
        learned = personal.learn(x[lab], labels, base, bank, t0, seed=s // 2)
        r, delta = learned.report, change(learned.head, measured)
        (adopted if r.adopted else refused).append(delta)
        margins.append((round((r.personal_accuracy - r.bundled_accuracy) * r.corrections), delta))
    line("learn, adopted by the gate", adopted)
    line("learn, refused by the gate", refused)
    for k in (2, 3):  # a stricter gate: k more corrections right out of fold than the bundled
        picked = [d for wins, d in margins if wins >= k]
        if picked:
            line(f"learn, {k}+ net out-of-fold wins", picked)
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
