"""Does leaving cleanlab's flagged photos out of training pay? The leak-free, CPU-cheap part of
the question (issue 26): the bundled recipe's first phase, a head on ImageNet's pooled block-5
features (which never saw a label), fitted on the recipe's training rows with and without the
listed photos, against the same number of photos left out at random (the noise floor).

    python bench/clean_head.py [--data DIR] [--lists training/label_issues/seg_train.tsv …]
                               [--controls 10] [--precision fp32] [--out FILE]

The features and the head are training.label_issues' (pooled_features of seg_train and of
seg_test, the recipe's own pool3 caches, resumable per batch, ~17 min on 2 AMX-less cores in
fp32; logistic_head, its C picked on the recipe's 10 % holdout). Reported per list: seg_test accuracy (official) and
without the photos whose label docs/seg_test_checked.tsv calls wrong, holdout accuracy, and the
random-removal controls' mean and range. A list is worth a full recipe run only if it beats
every control.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from seg_test_check import read_verdicts, relpath  # noqa: E402

from training import data  # noqa: E402
from training.models import RECIPES  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "intel-scenes"
LISTS = (
    REPO / "training" / "label_issues" / "seg_train.tsv",
    REPO / "training" / "label_issues" / "seg_train-imagenet.tsv",
)


def main(argv: list[str] | None = None) -> int:
    from training.label_issues import logistic_head, pooled_features

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--lists", type=Path, nargs="*", default=list(LISTS))
    ap.add_argument("--controls", type=int, default=10)
    ap.add_argument("--precision", default="fp32", help="autocast of the feature pass")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    train, x, _ = pooled_features(args.data, args.precision, features="imagenet")
    test, xt, _ = pooled_features(args.data, args.precision, features="imagenet", split="seg_test")
    recipe = RECIPES["vgg16"]
    fit_idx, hold_idx = data.stratified_holdout(train.labels, recipe.holdout_fraction, recipe.seed)
    y, yt = train.labels, test.labels
    verdicts = read_verdicts()
    wrong = np.array([verdicts.get(relpath(p), {}).get("verdict") == "wrong" for p in test.paths])

    # C on the holdout, with every training row (the recipe's own selection rule: never seg_test)
    cs = (0.001, 0.002, 0.005, 0.01, 0.03, 0.1)
    hold_acc = {
        c: logistic_head(x[fit_idx], y[fit_idx], c).score(x[hold_idx], y[hold_idx]) for c in cs
    }
    c = max(cs, key=lambda k: hold_acc[k])
    print(f"C on the holdout: {c} ({', '.join(f'{k}: {v:.4f}' for k, v in hold_acc.items())})")

    base: np.ndarray | None = None  # seg_test right/wrong with every row: the paired baseline

    def run(keep: np.ndarray) -> dict[str, float]:
        rows = fit_idx[keep[fit_idx]]
        head = logistic_head(x[rows], y[rows], c)
        right = head.predict(xt) == yt
        fixed = int((right & ~base).sum()) if base is not None else 0
        broken = int((~right & base).sum()) if base is not None else 0
        return {
            "left_out": int(len(fit_idx) - len(rows)),
            "holdout": float(head.score(x[hold_idx], y[hold_idx])),
            "seg_test": float(right.mean()),
            "without_wrong": float(right[~wrong].mean()),
            "fixed": fixed,
            "broken": broken,
            # two-sided sign test on the photos that changed (McNemar's exact test)
            "p": float(binomtest(fixed, fixed + broken).pvalue) if fixed + broken else 1.0,
            "right": right,
        }

    names = [f"{p.parent.name}/{p.name}" for p in train.paths]
    results: list[tuple[str, dict]] = [("all rows", run(np.ones(len(y), bool)))]
    base = results[0][1]["right"]
    flagged_counts = []
    for path in args.lists:
        listed = {row["relpath"] for row in data.read_list(path)}
        keep = np.array([n not in listed for n in names])
        results.append((path.name, run(keep)))
        flagged_counts.append(results[-1][1]["left_out"])
    if len(args.lists) == 2:
        both = [{row["relpath"] for row in data.read_list(p)} for p in args.lists]
        keep = np.array([n not in (both[0] & both[1]) for n in names])
        results.append(("intersection of the two", run(keep)))
        flagged_counts.append(results[-1][1]["left_out"])
    rng = np.random.default_rng(0)
    controls: dict[int, list[dict]] = {}
    for n in sorted(set(flagged_counts)):
        for _ in range(args.controls):
            keep = np.ones(len(y), bool)
            keep[rng.choice(fit_idx, n, replace=False)] = False
            controls.setdefault(n, []).append(run(keep))
    lines = [
        f"Head on ImageNet pooled block-5 features (logistic, C={c} on the holdout), "
        f"{len(fit_idx)} training rows, {len(hold_idx)} holdout, seg_test {len(yt)} "
        f"({int(wrong.sum())} checked wrong by eye)",
        "",
        "| trained without | left out | holdout | seg_test | seg_test without wrong labels "
        "| seg_test photos fixed / broken vs all rows (sign test p) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in results:
        lines.append(
            f"| {name} | {r['left_out']} | {r['holdout']:.4f} | {r['seg_test']:.4f} | "
            f"{r['without_wrong']:.4f} | {r['fixed']} / {r['broken']} (p {r['p']:.2g}) |"
        )
    for n, rs in controls.items():
        cell = []
        for k in ("holdout", "seg_test", "without_wrong"):
            v = np.array([r[k] for r in rs])
            cell.append(f"{v.mean():.4f} ({v.min():.4f}-{v.max():.4f})")
        moved = np.array([r["fixed"] - r["broken"] for r in rs])
        cell.append(f"net {moved.mean():+.1f} ({moved.min():+d} to {moved.max():+d})")
        lines.append(
            f"| {n} at random, {len(rs)} draws: mean (range) | {n} | " + " | ".join(cell) + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
