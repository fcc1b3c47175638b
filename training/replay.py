"""`python -m training export-replay`: the replay bank the personal head learns beside.

A few thousand seg_train photos' pooled features (float16), computed through the app's own
runtime (int8 ONNX by default: the features a user's photos get on a CPU), with their labels,
written to resources/replay_features.safetensors and described (sha256, model, photos, seed)
in resources/replay_features.json. Photos come from seg_train's training part (the run's 10 %
holdout carve, seed 42, is left out), PER_CLASS per scene, chosen with a fixed seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from app.model import scenes
from app.model.engine import Classifier
from app.personal.head import REPLAY_NAME
from training import data

PER_CLASS = 500
SEED = 0


def choose(labels: np.ndarray, per_class: int, seed: int = SEED) -> np.ndarray:
    """Indices into seg_train: the training part only, `per_class` of each scene."""
    train, _ = data.stratified_holdout(labels, 0.1, 42)
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(train[labels[train] == c])[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def pack(
    features: np.ndarray, labels: np.ndarray, card: scenes.ModelCard
) -> tuple[str, bytes, dict]:
    """The bank's bytes: features (float16), labels (uint8) and a copy of the card's head
    (`head.N.*`, the fp16 tensors bit for bit), which the torch-free bundle needs because it
    leaves the safetensors out; `weights_sha256` ties that copy to the card's weights."""
    from safetensors.numpy import load, save

    state = load(card.weights_path.read_bytes())
    head = {k: v for k, v in state.items() if k.startswith("head.")}
    blob = save(
        {"features": features.astype(np.float16), "labels": labels.astype(np.uint8), **head}
    )
    extra = {"weights_sha256": card.weights_sha256, "head": sorted(head)}
    return f"{REPLAY_NAME}.safetensors", blob, extra


def export_replay(
    root: Path,
    dest: Path,
    per_class: int = PER_CLASS,
    backend: str = "onnx",
    precision: str = "int8",
    card: Path | None = None,
    quiet: bool = False,
) -> dict:

    index = data.index_split(root, "seg_train")
    idx = choose(index.labels, per_class)
    paths = [index.paths[i] for i in idx]
    start = time.perf_counter()
    feats, labels, skipped = [], [], 0
    with Classifier(card, backend=backend, precision=precision, batch_size=32) as clf:
        model_id = clf.model_id
        for n, pred in enumerate(clf.classify_paths(paths), 1):
            if not pred.ok or pred.feature is None:
                skipped += 1
                continue
            feats.append(pred.feature)
            labels.append(index.labels[idx[n - 1]])
            if not quiet and n % 250 == 0:
                print(f"{n}/{len(paths)} photos, {time.perf_counter() - start:.0f} s", flush=True)
    card_obj = scenes.ModelCard.read(card or scenes.default_card_path())
    file, blob, extra = pack(np.stack(feats), np.asarray(labels), card_obj)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / file).write_bytes(blob)
    info = {
        "file": file,
        "sha256": scenes.sha256_bytes(blob),
        "photos": len(labels),
        "per_class": {
            c: int((np.asarray(labels) == i).sum()) for i, c in enumerate(scenes.CLASSES)
        },
        "features_from": model_id,
        "dtype": "float16",
        **extra,
        "source": "seg_train, training part (the run's 10 % holdout, seed 42, left out), "
        f"{per_class} per scene chosen with seed {SEED}",
        "skipped": skipped,
        "seconds": round(time.perf_counter() - start, 1),
        "made_by": "python -m training export-replay",
    }
    (dest / f"{REPLAY_NAME}.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info
