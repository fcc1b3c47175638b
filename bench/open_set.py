"""The "none of these" outcome measured: every open-set score tried, on seg_test,
real-scenes-dev and ood-dev, with thresholds from the training run's holdout only.

    python bench/open_set.py [--features DIR] [--out docs/open_set.md] [--plot docs/open_set.png]
                             [--card app/resources/model_card.json]

Features and calibrated probabilities come from the app's own runtime (int8 ONNX, the CPU
default; `--precision fp32` for the other), one pass per set, kept in --features as
{holdout,seg_test,real,ood}_{int8,fp32}.npz (keys features, probs, labels; ood: category), so a
rerun computes nothing. Scores: the calibrated max softmax (MSP), the k-th nearest neighbour's
cosine distance to the replay bank (k = 1, 5, 10, 20, 50; the shipped score), Mahalanobis
(class means, shared covariance of the bank). Each threshold is a percentile of the holdout's
scores (the shipped rule; the dev sets never choose it). A photo is "tagged" as `tag` tags it:
not none and calibrated confidence >= 0.80. Also: what a person's own "none" photos teach
(ood-dev half splits by category), and the score's per-photo cost. --card writes the shipped
rule's figures into the card's open_set section.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from app import defaults
from app.model import openset, scenes
from app.model.scenes import CLASSES
from app.personal.head import ReplayBank

DATA = REPO.parent / "shared" / "data"
PCTS = (95.0, 97.5, 98.0, 99.0, 99.5)
KS = (1, 5, 10, 20, 50)


# --------------------------------------------------------------------------------------------
# the sets, through the app's runtime


def set_paths(name: str) -> tuple[list[Path], np.ndarray, np.ndarray | None]:
    from training import data

    if name in ("holdout", "seg_test"):
        index = data.index_split(DATA / "intel-scenes", "seg_train" if name == "holdout" else name)
        idx = np.arange(len(index.paths))
        if name == "holdout":
            _, idx = data.stratified_holdout(index.labels, 0.1, 42)
        return [index.paths[i] for i in idx], index.labels[idx], None
    if name == "real":
        paths, labels = [], []
        for i, c in enumerate(CLASSES):
            files = sorted((DATA / "real-scenes-dev" / c).glob("*.jpg"))
            paths += files
            labels += [i] * len(files)
        return paths, np.asarray(labels), None
    paths = sorted((DATA / "ood-dev").glob("*/*.jpg"))
    return paths, np.full(len(paths), -1), np.asarray([p.parent.name for p in paths])


def features(folder: Path, name: str, precision: str) -> dict[str, np.ndarray]:
    path = folder / f"{name}_{precision}.npz"
    if path.is_file():
        return dict(np.load(path))
    from app.model.engine import Classifier

    paths, labels, cats = set_paths(name)
    feats, probs = [], []
    start = time.perf_counter()
    with Classifier(None, backend="onnx", precision=precision, none_threshold=np.inf) as clf:
        for p in clf.classify_paths(paths):
            if not p.ok:
                raise SystemExit(f"{p.path}: {p.error}")
            feats.append(p.feature)
            probs.append(list(p.scores.values()))
    out = {"features": np.stack(feats), "probs": np.asarray(probs, np.float32), "labels": labels}
    out["seconds"] = np.float64(time.perf_counter() - start)
    if cats is not None:
        out["category"] = cats
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


# --------------------------------------------------------------------------------------------
# scores (higher = farther from the six scenes)


def scorers(bank: np.ndarray, bank_y: np.ndarray) -> dict[str, object]:
    normed = openset.normalise(bank)
    out: dict[str, object] = {"msp": lambda z: 1.0 - z["probs"].max(1)}
    for k in KS:
        out[f"knn{k}"] = lambda z, k=k: openset.knn_distance(z["features"], normed, k)
    means = np.stack([bank[bank_y == c].mean(0) for c in range(len(CLASSES))])
    centred = bank - means[bank_y]
    prec = np.linalg.pinv(np.cov(centred, rowvar=False) + 1e-6 * np.eye(bank.shape[1]))

    def maha(z: dict[str, np.ndarray]) -> np.ndarray:
        d = z["features"][:, None, :] - means[None]
        return np.einsum("ncd,de,nce->nc", d, prec, d).min(1)

    out["mahalanobis"] = maha
    return out


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(an out-of-scope photo scores higher than a scene photo), ties half."""
    both = np.concatenate([inside, outside])
    ranks = np.argsort(np.argsort(both, kind="mergesort"), kind="mergesort") + 1.0
    for v in np.unique(both):  # average ranks of ties
        tie = both == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    r_out = ranks[len(inside) :].sum()
    n_in, n_out = len(inside), len(outside)
    return float((r_out - n_out * (n_out + 1) / 2) / (n_in * n_out))


def outcome(z: dict[str, np.ndarray], score: np.ndarray, thr: float) -> dict[str, np.ndarray]:
    none = score > thr
    conf, pred = z["probs"].max(1), z["probs"].argmax(1)
    return {"none": none, "tagged": ~none & (conf >= defaults.THRESHOLD), "pred": pred}


def figures(sets: dict[str, dict], score: dict[str, np.ndarray], thr: float) -> dict[str, float]:
    st, rl, od = (outcome(sets[n], score[n], thr) for n in ("seg_test", "real", "ood"))
    zt, zr = sets["seg_test"], sets["real"]
    cats = sets["ood"]["category"]
    return {
        "seg_test_none": 100 * st["none"].mean(),
        "seg_test_acc": 100 * ((st["pred"] == zt["labels"]) & ~st["none"]).mean(),
        "seg_test_acc_before": 100 * (st["pred"] == zt["labels"]).mean(),
        "real_none": 100 * rl["none"].mean(),
        "real_tagged_right": 100 * (rl["tagged"] & (rl["pred"] == zr["labels"])).mean(),
        "ood_tagged": 100 * od["tagged"].mean(),
        "ood_tagged_n": int(od["tagged"].sum()),
        **{f"ood_{c}": 100 * od["tagged"][cats == c].mean() for c in np.unique(cats)},
    }


# --------------------------------------------------------------------------------------------
# what a person's own "none" photos teach (the personal bank, app.model.openset.OpenSet)


def half_splits(sets: dict, bank: np.ndarray, k: int, thr: float, seeds: int = 5) -> list[str]:
    ood, real = sets["ood"], sets["real"]
    normed = openset.normalise(bank)
    od = openset.knn_distance(ood["features"], normed, k)
    rd = openset.knn_distance(real["features"], normed, k)
    cats = ood["category"]
    rows = []
    for label, t in (("the shipped threshold", thr), ("the open-set rule off", np.inf)):
        base_real = outcome(real, rd, t)
        right0 = (base_real["tagged"] & (base_real["pred"] == real["labels"])).mean()
        per: dict[str, list[int]] = {}
        costs = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            for c in np.unique(cats):
                idx = rng.permutation(np.flatnonzero(cats == c))
                marked, other = idx[: len(idx) // 2], idx[len(idx) // 2 :]
                pn = openset.OpenSet(normed, k, t).with_personal_none(ood["features"][marked])
                hits_o = pn.personal_hits(ood["features"][other], od[other])
                hits_r = pn.personal_hits(real["features"], rd)
                before = outcome({"probs": ood["probs"][other]}, od[other], t)["tagged"]
                moved = before & hits_o
                per.setdefault(c, [0, 0])
                per[c][0] += int(before.sum())
                per[c][1] += int(moved.sum())
                r = outcome(real, np.where(hits_r, np.inf, rd), t)
                costs.append(100 * (right0 - (r["tagged"] & (r["pred"] == real["labels"])).mean()))
        total = [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())]
        rows.append(
            f"| {label} | {total[1]} of {total[0]} | "
            + " | ".join(f"{v[1]}/{v[0]}" for v in per.values())
            + f" | {np.mean(costs):.2f} (max {np.max(costs):.2f}) |"
        )
    head = "| rule | still tagged in the unmarked halves -> none | " + " | ".join(per) + " | "
    head += "real-scenes-dev tagged right, points lost |"
    return [head, "|" + "---|" * (len(per) + 3), *rows]


def cost(bank: np.ndarray, k: int, photo_s: float | None) -> str:
    """The score's time per photo (batches of 32, as the Classifier runs them) beside a
    photo's whole time (decode + network) when the features file recorded it."""
    normed = openset.normalise(bank)
    q = np.abs(np.random.default_rng(0).normal(size=(32, bank.shape[1]))).astype(np.float32)
    runs = []
    for _ in range(50):
        t = time.perf_counter()
        openset.knn_distance(q, normed, k)
        runs.append((time.perf_counter() - t) / 32)
    best, median = min(runs), float(np.median(runs))
    text = f"{1e6 * best:.0f} µs per photo (best of 50 batches of 32; median {1e6 * median:.0f} µs)"
    if photo_s:
        text += (
            f"; a photo takes {1e3 * photo_s:.0f} ms end to end in this runtime, so the score "
            f"adds {100 * best / photo_s:.2f} % ({100 * median / photo_s:.1f} % at the median)"
        )
    return text


# --------------------------------------------------------------------------------------------


def photo_seconds(z: dict[str, np.ndarray]) -> float | None:
    return float(z["seconds"]) / len(z["probs"]) if "seconds" in z else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", type=Path, default=Path("/tmp/open_set_features"))
    ap.add_argument("--precision", default="int8", choices=("int8", "fp32"))
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "open_set_figures.md")
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "open_set.png")
    ap.add_argument("--card", type=Path, help="write the shipped rule's figures into this card")
    args = ap.parse_args()
    card = scenes.ModelCard.read(args.card or scenes.default_card_path())
    shipped = card.extra["open_set"]
    replay = ReplayBank.load(card.weights_path.parent)
    bank, bank_y = replay.features, replay.labels
    sets = {
        n: features(args.features, n, args.precision)
        for n in ("holdout", "seg_test", "real", "ood")
    }
    score_fns = scorers(bank, bank_y)
    scores = {m: {n: fn(z) for n, z in sets.items()} for m, fn in score_fns.items()}
    cats = list(np.unique(sets["ood"]["category"]))
    lines = [
        f"### {args.precision} runtime, {len(bank)} bank photos; thresholds = holdout percentiles",
        "",
        "| score | AUROC real/ood | AUROC seg_test/ood | holdout pct | threshold | seg_test none % "
        "| seg_test acc % (none wrong) | real none % | real tagged right % | ood tagged % (n) | "
        + " | ".join(cats)
        + " |",
        "|" + "---|" * (10 + len(cats)),
    ]
    zero = figures(sets, {n: np.zeros(len(z["probs"])) for n, z in sets.items()}, 1.0)
    lines.insert(
        1,
        f"\nWithout the outcome (tag at confidence >= 0.80): seg_test acc "
        f"{zero['seg_test_acc']:.2f} %, real tagged right {zero['real_tagged_right']:.1f} %, "
        f"ood tagged {zero['ood_tagged']:.1f} % ({zero['ood_tagged_n']} of "
        f"{len(sets['ood']['probs'])})\n",
    )
    curves = {}
    for m, sc in scores.items():
        a_r = auroc(sc["real"], sc["ood"])
        a_t = auroc(sc["seg_test"], sc["ood"])
        curve = []
        for pct in (*PCTS, 96.0, 98.5, 99.25):
            thr = float(np.percentile(sc["holdout"], pct))
            f = figures(sets, sc, thr)
            curve.append((pct, f))
            if pct not in PCTS:
                continue
            lines.append(
                f"| {m} | {a_r:.3f} | {a_t:.3f} | {pct:g} | {thr:.4g} | {f['seg_test_none']:.1f} "
                f"| {f['seg_test_acc']:.2f} ({f['seg_test_acc'] - f['seg_test_acc_before']:+.2f}) "
                f"| {f['real_none']:.1f} | {f['real_tagged_right']:.1f} "
                f"| {f['ood_tagged']:.1f} ({f['ood_tagged_n']}) | "
                + " | ".join(f"{f[f'ood_{c}']:.0f}" for c in cats)
                + " |"
            )
        curves[m] = sorted(curve)
    k, thr = int(shipped["k"]), float(shipped["threshold"])
    chosen = figures(sets, scores[f"knn{k}"], thr)
    lines += [
        "",
        f"### Learning from a person's own 'none' photos (k = {k}; ood-dev, half of each "
        "category marked, 5 random splits)",
        "",
        *half_splits(sets, bank, k, thr),
        "",
        f"### Cost of the score (bank {len(bank)} x {bank.shape[1]}, k = {k}): "
        + cost(bank, k, photo_seconds(sets["seg_test"])),
    ]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    plot(curves, chosen, args.plot, k)
    if args.card:
        raw = json.loads(args.card.read_text(encoding="utf-8"))
        raw["open_set"]["figures"] = {
            "measured_by": "bench/open_set.py",
            "runtime": args.precision,
            "auroc_real_vs_ood": round(
                auroc(scores[f"knn{k}"]["real"], scores[f"knn{k}"]["ood"]), 3
            ),
            "seg_test_accuracy_none_wrong": round(chosen["seg_test_acc"] / 100, 4),
            "seg_test_accuracy_without": round(chosen["seg_test_acc_before"] / 100, 4),
            "seg_test_none": round(chosen["seg_test_none"] / 100, 4),
            "real_scenes_dev_tagged_right": round(chosen["real_tagged_right"] / 100, 4),
            "ood_dev_tagged": round(chosen["ood_tagged"] / 100, 4),
            "ood_dev_tagged_without": round(zero["ood_tagged"] / 100, 4),
        }
        raw["open_set"].pop("figures_note", None)
        args.card.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def plot(curves: dict, chosen: dict, path: Path, k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for m, curve in curves.items():
        if m not in ("msp", f"knn{k}", "knn1", "knn20", "mahalanobis"):
            continue
        xs = [f["seg_test_acc_before"] - f["seg_test_acc"] for _, f in curve]
        ax[0].plot(xs, [f["ood_tagged"] for _, f in curve], "o-", label=m, ms=3)
        ax[1].plot([p for p, _ in curve], [f["real_tagged_right"] for _, f in curve], "o-", ms=3)
    x0 = chosen["seg_test_acc_before"] - chosen["seg_test_acc"]
    ax[0].plot([x0], [chosen["ood_tagged"]], "k*", ms=14, label="shipped (holdout p99)")
    ax[0].axhline(5, color="grey", lw=0.8, ls="--")
    ax[0].axvline(1, color="grey", lw=0.8, ls="--")
    ax[0].set_xlabel("seg_test accuracy lost, points (none counted wrong)")
    ax[0].set_ylabel("ood-dev photos given a scene keyword, %")
    ax[0].legend(fontsize=8)
    ax[1].axhline(78, color="grey", lw=0.8, ls="--")
    ax[1].set_xlabel("threshold = holdout percentile")
    ax[1].set_ylabel("real-scenes-dev tagged right, %")
    fig.suptitle("The threshold's trade-off (thresholds from the holdout only)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
