"""Label issues in seg_train: out-of-fold probabilities of a head on the bundled model's pooled
features, then cleanlab's `find_label_issues`.

`python -m training.label_issues` writes training/label_issues/seg_train.tsv (committed): one
flagged photo a line, its path relative to the split folder, the label it was given, the label
the out-of-fold head suggests and the self-confidence (the out-of-fold probability of the given
label). A recipe with `exclude=` leaves these photos out of its training rows
(training.models, docs/findings.md).

Why this way (docs/findings.md has the measurements):
- cleanlab's confident learning needs *out-of-sample* predicted probabilities. A VGG16 fine-tuned
  five times over would cost hours here; the bundled model's 512 pooled block-5 features of a
  photo cost one forward pass, cached once, and a multinomial logistic head fitted on them per
  fold takes seconds. So the probabilities are out-of-fold for the head only: blocks 4-5 saw the
  labels of the 90 % of seg_train they were fine-tuned on, so a mislabelled photo they fitted
  hides a little better there than in the 10 % holdout they never saw. The flag rate on each
  part is reported, so the leak is measured, not assumed away; a leak makes the flags
  conservative (fewer flags), the safe side for a list of photos to leave out.
- `find_label_issues(filter_by="prune_by_noise_rate")` (cleanlab's default): per pair of
  (given, true) classes it estimates how many photos are mislabelled from the confident joint
  and flags that many, the least confident first; the threshold is per class, not one global
  probability, which matters for glacier/mountain, the pair that is hard *and* noisy.
- Deterministic: stratified folds with a fixed seed, lbfgs on standardized float64 features.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from app.model.scenes import CLASSES, load_model
from training import data
from training.data import write_list
from training.loop import compute_stage, head_stage, make_context, resolve_stage

DEFAULT_OUT = Path(__file__).resolve().parent / "label_issues" / "seg_train.tsv"


def pooled_features(
    root: Path,
    precision: str = "auto",
    progress: bool = True,
    features: str = "bundled",
    split: str = "seg_train",
) -> tuple[data.DecodedSplit, np.ndarray, str]:
    """seg_train, the bundled model's pooled block-5 features of each photo (N, 512) and the
    weights' sha256.

    Blocks 1-3 of the bundled model are ImageNet's (its recipe never trains them), so the
    features start from the `vgg16` recipe's own pool3 caches of its training rows and holdout
    (made here when missing, exactly as `train vgg16` makes them, and shared with it): only
    blocks 4-5 run here. Both passes are cached and resume per batch.

    features="imagenet": ImageNet's pooled block-5 features instead, which never saw a label
    (the very caches the recipe's first phase trains its head on). split="seg_test": that
    split's features, through the same stages (bench/clean_head.py scores heads on them)."""
    from training.imagenet import imagenet_vgg16_features
    from training.models import RECIPES, build
    from training.run import Splits, _feature_cache_tag

    train = data.decode_split(data.index_split(root, "seg_train"), progress=progress)
    test = data.decode_split(data.index_split(root, "seg_test"), progress=progress)
    recipe = RECIPES["vgg16"]
    fit_idx, hold_idx = data.stratified_holdout(train.labels, recipe.holdout_fraction, recipe.seed)
    parts = {"": train.subset(fit_idx), "h": train.subset(hold_idx)}
    parts["h"].split = "holdout"
    tag = _feature_cache_tag(recipe, Splits(parts[""], test, parts["h"]))
    ctx = make_context(torch.device("cpu"), precision, progress=progress)
    bundled, card = load_model()
    imagenet = build(recipe)
    imagenet.features.load_state_dict(imagenet_vgg16_features(), strict=True)
    imagenet.to(memory_format=torch.channels_last)  # as the training run holds it
    pool3 = resolve_stage(bundled, recipe.phases[1].train)  # 17, the recipe's cached stage
    if split == "seg_test":
        target, runs = test, (("t", test, np.arange(len(test))),)
    else:
        target, runs = train, (("", parts[""], fit_idx), ("h", parts["h"], hold_idx))
    out = np.zeros((len(target), 512))
    for suffix, part, idx in runs:
        source = compute_stage(imagenet, part, pool3, recipe.normalization, ctx, tag + suffix)
        net, name = (bundled, f"bundled-{card.weights_sha256[:12]}")
        if features == "imagenet":
            net, name = imagenet, tag
        feats = compute_stage(
            net,
            part,
            head_stage(net),
            card.normalization,
            ctx,
            name + suffix,
            source=(pool3, source),
        )
        out[idx] = np.asarray(feats, dtype=np.float64).reshape(len(part), -1)
    return target, out, card.weights_sha256 if features == "bundled" else "imagenet"


def logistic_head(features: np.ndarray, labels: np.ndarray, c: float = 1.0):  # noqa: ANN201
    """A multinomial logistic head on standardized features (an sklearn pipeline), fitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(
        features, labels
    )


def out_of_fold_probs(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 42, c: float = 1.0
) -> np.ndarray:
    """(N, classes) probabilities, each row from a head that never saw that row's label."""
    from sklearn.model_selection import StratifiedKFold

    probs = np.zeros((len(labels), len(CLASSES)))
    for fit_idx, held_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        features, labels
    ):
        head = logistic_head(features[fit_idx], labels[fit_idx], c)
        probs[held_idx] = head.predict_proba(features[held_idx])
    return probs


def find_issues(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Indices of the flagged photos, least self-confident first (cleanlab)."""
    from cleanlab.filter import find_label_issues

    return np.asarray(
        find_label_issues(labels, probs, return_indices_ranked_by="self_confidence"), dtype=int
    )


def relpath(split: data.DecodedSplit, root: Path, i: int) -> str:
    return split.paths[i].relative_to(root).as_posix()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.label_issues", description=__doc__)
    p.add_argument("--data", help="intel-scenes folder (default ../shared/data/intel-scenes)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", default="auto", help="autocast of the feature pass")
    p.add_argument("--probs", type=Path, help="also save the out-of-fold probabilities (.npz)")
    p.add_argument(
        "--features",
        choices=["bundled", "imagenet"],
        default="bundled",
        help="whose pooled features the head is fitted on (imagenet: never saw a label)",
    )
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    root = Path(args.data) if args.data else data.default_data_dir()
    if root is None:
        raise data.DataError("no --data given and ../shared/data/intel-scenes does not exist")
    split, feats, sha = pooled_features(root, args.precision, not args.quiet, args.features)
    labels = split.labels
    probs = out_of_fold_probs(feats, labels, args.folds, args.seed)
    issues = find_issues(labels, probs)
    oof_acc = float((probs.argmax(1) == labels).mean())
    # the leak check: the flag rate on the part blocks 4-5 were fine-tuned on and on the holdout
    _, hold = data.stratified_holdout(labels, 0.1, 42)
    in_hold = np.zeros(len(labels), dtype=bool)
    in_hold[hold] = True
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[issues] = True
    rate_fit = flagged[~in_hold].mean()
    rate_hold = flagged[in_hold].mean()
    split_root = data.split_dir(root, "seg_train")
    rows = [
        (
            relpath(split, split_root, i),
            CLASSES[labels[i]],
            CLASSES[int(probs[i].argmax())],
            float(probs[i, labels[i]]),
        )
        for i in issues
    ]
    comment = [
        "seg_train photos whose label cleanlab flags (python -m training.label_issues)",
        f"{'bundled weights sha256 ' + sha[:12] if args.features == 'bundled' else 'ImageNet'}; "
        f"pooled block-5 features ({args.precision}); "
        f"{args.folds}-fold logistic head, seed {args.seed}; out-of-fold accuracy {oof_acc:.4f}",
        f"{len(issues)} of {len(labels)} flagged ({len(issues) / len(labels):.2%}); "
        f"on the rows blocks 4-5 were fine-tuned on {rate_fit:.2%}, on the holdout {rate_hold:.2%}",
    ]
    write_list(args.out, rows, comment)
    if args.probs:
        np.savez(
            args.probs, probs=probs, labels=labels, paths=np.array([str(p) for p in split.paths])
        )
    for c in comment:
        print(c)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
