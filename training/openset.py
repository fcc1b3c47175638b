"""`python -m training export-open-set`: the open-set ("none of these") section of the model card.

The bank is the replay bank export-replay already wrote (3,000 seg_train training photos, 500
per scene, int8 runtime features, float16): the photos the model learned from, the ones a
scene photo should be near. The threshold is the PERCENTILE-th percentile of the open-set
scores of the training run's holdout (seg_train's 10 % carve, seed 42: photos of the six scenes
that the weights never saw), computed through the app's own runtime: by construction about
100 - PERCENTILE % of scene photos like the holdout's are called "none", whatever the weights.
Nothing here looks at a measuring set (seg_test, real-scenes-dev, ood-dev): bench/open_set.py
measures the result on those, docs/open_set.md says why K and PERCENTILE.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from app.model import openset, scenes
from app.personal.head import REPLAY_NAME
from training import data

K = 5  # the 5th nearest neighbour: docs/open_set.md (k = 1..50 measured; 5 the best trade-off)
PERCENTILE = 99.0  # ~1 % of scene photos like the holdout's called "none"


def holdout_paths(root: Path) -> list[Path]:
    """The training run's holdout photos (the same carve training.cli makes)."""
    index = data.index_split(root, "seg_train")
    _, holdout = data.stratified_holdout(index.labels, 0.1, 42)
    return [index.paths[i] for i in holdout]


def holdout_features(
    root: Path, card: Path | None, backend: str, precision: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """(features, probabilities, model id) of the holdout through the app's runtime."""
    from app.model.engine import Classifier

    paths = holdout_paths(root)
    feats, probs = [], []
    with Classifier(card, backend=backend, precision=precision, none_threshold=np.inf) as clf:
        model_id = clf.model_id
        for pred in clf.classify_paths(paths):
            if pred.ok and pred.feature is not None:
                feats.append(pred.feature)
                probs.append(list(pred.scores.values()))
    return np.stack(feats).astype(np.float32), np.asarray(probs, np.float32), model_id


def section(
    card: scenes.ModelCard,
    features: np.ndarray,
    features_from: str,
    k: int = K,
    percentile: float = PERCENTILE,
    seconds: float | None = None,
) -> dict:
    """The card's open_set section for these holdout features and the card's replay bank."""
    folder = card.weights_path.parent
    info = json.loads((folder / f"{REPLAY_NAME}.json").read_text(encoding="utf-8"))
    bank = openset.load_bank(folder / info["file"], info["sha256"])
    scores = openset.knn_distance(features, bank, k)
    threshold = float(np.percentile(scores, percentile))
    q = {f"p{p:g}": round(float(np.percentile(scores, p)), 4) for p in (50, 90, 95, 98, 99, 99.5)}
    return {
        "method": openset.METHOD,
        "description": f"cosine distance to the {k}th nearest of the bank's L2-normalised "
        "pooled features; above the threshold a photo is 'none' of the six scenes",
        "k": k,
        "threshold": round(threshold, 4),
        "bank": {
            "file": info["file"],
            "sha256": info["sha256"],
            "tensor": "features",
            "photos": int(bank.shape[0]),
            "dtype": info.get("dtype", "float16"),
            "source": info.get("source", ""),
            "features_from": info.get("features_from", ""),
        },
        "chosen_by": {
            "rule": f"the {percentile:g}th percentile of the training run's holdout scores",
            "percentile": percentile,
            "holdout_photos": int(len(scores)),
            "holdout_scores": q,
            "features_from": features_from,
            "why": "k and the percentile by measurement on seg_test, real-scenes-dev and "
            "ood-dev (docs/open_set.md); the threshold itself from the holdout alone",
        },
        "figures": {},  # bench/open_set.py --card fills in what it measures
        "made_by": "python -m training export-open-set",
        **({"seconds": round(seconds, 1)} if seconds is not None else {}),
    }


def export_open_set(
    root: Path | None,
    card_path: Path | None = None,
    features: Path | None = None,
    k: int = K,
    percentile: float = PERCENTILE,
    backend: str = "onnx",
    precision: str = "int8",
) -> dict:
    """Write the card's open_set section (keeping any figures it had); returns it."""
    card_path = card_path or scenes.default_card_path()
    card = scenes.ModelCard.read(card_path)
    start = time.perf_counter()
    if features is not None:  # holdout features extracted earlier (npz: features, model_id)
        z = np.load(features)
        feats, features_from = z["features"].astype(np.float32), str(z["model_id"])
    else:
        if root is None:
            raise data.DataError("no data folder: pass --data")
        feats, _, features_from = holdout_features(root, card_path, backend, precision)
    new = section(card, feats, features_from, k, percentile, time.perf_counter() - start)
    old = card.extra.get(openset.SECTION)
    if isinstance(old, dict) and old.get("figures"):
        new["figures"] = old["figures"]
        new["figures_note"] = "measured with the threshold then: rerun bench/open_set.py --card"
    # the card as it is, one section replaced (key order and literal characters kept)
    raw = json.loads(Path(card_path).read_text(encoding="utf-8"))
    raw[openset.SECTION] = new
    tmp = Path(card_path).with_name(Path(card_path).name + ".tmp")
    tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(card_path)
    return new


def cmd_export_open_set(args) -> int:
    root = Path(args.data) if args.data else data.default_data_dir()
    new = export_open_set(
        root,
        Path(args.card) if args.card else None,
        Path(args.features) if args.features else None,
        args.k,
        args.percentile,
        args.backend,
        args.precision,
    )
    print(json.dumps(new, indent=2))
    return 0


def add_parser(sub, common) -> None:
    sp = sub.add_parser(
        "export-open-set",
        help="write the model card's open_set section (kNN bank, k, threshold from the "
        "holdout) for the 'none of these' outcome; run after export-replay",
    )
    common(sp, with_data=True, with_card=True)
    sp.add_argument("--k", type=int, default=K, help=f"nearest neighbour (default {K})")
    sp.add_argument(
        "--percentile",
        type=float,
        default=PERCENTILE,
        help=f"holdout percentile taken as the threshold (default {PERCENTILE:g})",
    )
    sp.add_argument("--features", help="holdout features already extracted (.npz)")
    sp.add_argument(
        "--backend", default="onnx", choices=["torch", "onnx"], help="runtime (default onnx)"
    )
    sp.add_argument("--precision", default="int8", help="runtime precision (default int8)")
    sp.set_defaults(func=cmd_export_open_set)
