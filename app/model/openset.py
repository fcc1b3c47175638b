"""The open-set score: how far a photo is from every scene the model knows, and the "none" outcome.

A photo whose pooled feature (the 512 values every runtime already returns with the logits) is
far from the training photos is none of the six scenes, however sure the softmax is: the softmax
must share its mass among the six, so a banana can be "sea" at 95 %. The score is the cosine
distance to the k-th nearest neighbour among the L2-normalised features of a bank of training
photos (OpenOOD's kNN postprocessor). Measured on real out-of-scope photos it separates them from
scene photos far better than the calibrated max softmax (AUROC 0.99 against 0.79,
docs/open_set.md). No second model, no second pass: one (N, 512) x (512, 3000) product.

The bank, k and the threshold live in the model card's `open_set` section, written by
`python -m training export-open-set` from the training run's holdout (never from a measuring
set), so retraining reproduces them. A person's own "none" photos (app.personal) add a second,
personal bank: a photo nearer to one of those than to the k-th scene neighbour is none too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.model import scenes

NONE = "none"  # the seventh outcome: none of the six scenes
OUTCOMES: tuple[str, ...] = (*scenes.CLASSES, NONE)
SECTION = "open_set"  # the model card's section
METHOD = "knn-cosine"


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero (distance 1 to everything)."""
    f = np.asarray(features, dtype=np.float32)
    if f.ndim == 1:
        f = f[None]
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.maximum(norms, np.float32(1e-12))


def knn_distance(features: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """Cosine distance (1 - cosine similarity) of each row to its k-th nearest bank row.

    `bank` is already normalised (float32, (M, D)); `features` are raw. float32 throughout: the
    score of one photo does not depend on the batch it came in (a matrix product per row block
    gives the same sums whatever the block, to float32 rounding)."""
    # through float16 first, as the results cache keeps features: a photo scores the same
    # fresh from the model and from the cache (the bank is float16 too)
    f = normalise(np.asarray(features, dtype=np.float32).astype(np.float16))
    sims = f @ bank.T  # (N, M)
    k = min(k, bank.shape[0])
    # the k-th largest similarity = the k-th nearest neighbour
    kth = np.partition(sims, sims.shape[1] - k, axis=1)[:, sims.shape[1] - k]
    return (np.float32(1.0) - kth).astype(np.float32)


def outcome(best: str, distance: float | None, threshold: float | None) -> str:
    """The one rule: the best of the six scenes, or NONE when the photo is farther than
    `threshold` from the scenes the model knows. No score or no threshold: the scene. An
    infinite score (nearer to one of the person's own "none" photos than to the scenes) is
    none whatever the threshold: the person said so."""
    if distance is None:
        return best
    if math.isinf(distance):
        return NONE
    if threshold is None or not math.isfinite(threshold):
        return best
    return NONE if distance > threshold else best


def decide(preds: Sequence[Any], open_set: OpenSet | None, threshold: float | None) -> list[Any]:
    """Predictions (app.model.engine.Prediction) with their open-set score and label worked out
    again from their features: for results from the results cache or a personal head, and after
    the threshold changes. One without a feature keeps its score, relabelled."""
    ok = [p for p in preds if p.ok and p.feature is not None]
    scores = open_set.scores_of(np.stack([p.feature for p in ok])) if ok and open_set else None
    by_id = {id(p): s for p, s in zip(ok, scores or (), strict=False)}
    out = []
    for p in preds:
        if not p.ok:
            out.append(p)
            continue
        d = by_id.get(id(p), p.open_set)
        out.append(replace(p, label=outcome(p.scene, d, threshold), open_set=d))
    return out


def family(model_id: str | None) -> str | None:
    """The model family of an id ("scene-vgg16@a4684ef2ce43/int8+tta-flip" -> "scene-vgg16"):
    retrained weights, their int8 twin, TTA and a personal head all belong to one family, so a
    scene keyword any of them wrote automatically is theirs to take back."""
    if not model_id:
        return None
    return model_id.split("@", 1)[0]


@dataclass
class OpenSet:
    """The card's open-set section, loaded: the bank (normalised), k and the default threshold."""

    bank: np.ndarray  # float32 (M, D), rows of unit length
    k: int
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)
    # A person's own "none" photos (normalised features): nearer to one of them than to the
    # k-th scene neighbour = none (app.personal sets it; empty for the bundled model)
    personal_none: np.ndarray | None = None

    def score(self, features: np.ndarray) -> np.ndarray:
        """float32 (N,) open-set scores: the cosine distance to the k-th nearest scene photo."""
        return knn_distance(features, self.bank, self.k)

    def personal_hits(self, features: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """bool (N,): photos nearer to one of the person's own "none" photos than to the k-th
        scene neighbour (all False without any)."""
        if self.personal_none is None or not len(self.personal_none):
            return np.zeros(len(scores), dtype=bool)
        f = normalise(np.asarray(features, dtype=np.float32).astype(np.float16))
        near = 1.0 - (f @ self.personal_none.T).max(axis=1)
        return near < scores

    def scores_of(self, features: np.ndarray) -> list[float]:
        """The scores the outcome is decided on: inf where one of the person's own "none"
        photos is nearer than the k-th scene neighbour (none at any threshold)."""
        d = self.score(features)
        hits = self.personal_hits(features, d)
        return [math.inf if h else float(v) for v, h in zip(d, hits, strict=True)]

    def with_personal_none(self, features: np.ndarray | None) -> OpenSet:
        bank = None if features is None or not len(features) else normalise(features)
        return OpenSet(self.bank, self.k, self.threshold, self.info, bank)

    @classmethod
    def from_card(cls, card: scenes.ModelCard) -> OpenSet | None:
        """The card's open-set section, its bank checked against its sha256; None when the card
        has no section (an older card: the six scenes only). A damaged bank is a ModelError."""
        section = card.extra.get(SECTION)
        if not isinstance(section, dict):
            return None
        try:
            bank_info = section["bank"]
            path = card.weights_path.parent / str(bank_info["file"])
            k = int(section["k"])
            threshold = float(section["threshold"])
            tensor = str(bank_info.get("tensor", "features"))
            if section.get("method", METHOD) != METHOD or k < 1:
                raise ValueError(f"unknown method {section.get('method')!r} or k {k}")
        except (KeyError, TypeError, ValueError) as exc:
            raise scenes.ModelError(f"model card {card.path}: bad open_set section: {exc}") from exc
        return cls(load_bank(path, str(bank_info.get("sha256", "")), tensor), k, threshold, section)


def load_bank(path: Path, sha256: str, tensor: str = "features") -> np.ndarray:
    """The bank's features (normalised float32) from a safetensors file, sha256 checked."""
    from safetensors.numpy import load

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise scenes.ModelError(f"open-set bank {path} cannot be read: {exc}") from exc
    if sha256 and scenes.sha256_bytes(data) != sha256.lower():
        raise scenes.ModelError(f"open-set bank {path} does not match its sha256 in the card")
    try:
        features = load(data)[tensor]
    except Exception as exc:  # safetensors raises several types for damaged files
        raise scenes.ModelError(f"open-set bank {path} has no usable {tensor!r}: {exc}") from exc
    return normalise(features)
