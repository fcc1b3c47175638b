"""The learn use case, one for the window and the command line: the corrections' missing
features → fit → gate → adopt → version.

    outcome = learn_from_corrections(store, card, versions, classifier)

`classifier` computes the features the corrections lack (a photo labelled by hand is never
classified); it is needed only when `missing_features(store)` is true, so the command line opens
a model only then. Which temperature centres the personal head's calibration is decided here
(`base_temperature`), from the card alone: the same corrections give the same version whichever
runtime happens to be loaded. No Qt, no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.model import scenes
from app.model.openset import NONE
from app.personal import head as personal
from app.personal.corrections import Correction, Corrections, base_model_id
from app.personal.versions import Version, Versions

if TYPE_CHECKING:
    from app.model.engine import Classifier as SceneClassifier

SkipFn = Callable[[Path, str], None]


@dataclass(frozen=True)
class LearnOutcome:
    learned: personal.Learned  # the fitted head, its temperature and the report
    version: Version | None  # the new active version when the head was adopted, else None

    @property
    def report(self) -> personal.LearnReport:
        return self.learned.report


def base_temperature(card: scenes.ModelCard) -> float:
    """The centre of the personal temperature search: the temperature of the card's CPU
    default runtime (its int8 ONNX model when listed, else fp32 ONNX, else the card's own).

    From the card alone, not from the runtime that is loaded: a version is the same whether
    learned in the window on a GPU or by `learn` on a laptop. The int8 model is what the light
    install runs; the runtimes' temperatures differ by under 0.1 % (bundled card), well inside
    the [T₀/2, 2·T₀] search."""
    onnx = card.extra.get("onnx") or {}
    entry = onnx.get("int8") or onnx.get("fp32") or {}
    return float(entry.get("temperature", card.temperature))


def missing_features(store: Corrections) -> list[Correction]:
    """The corrections whose feature is still to be computed."""
    return [c for c in store.all() if c.feature is None]


def fill_features(
    store: Corrections, classifier: SceneClassifier, skipped: SkipFn | None = None
) -> int:
    """Compute, with `classifier` (no personal head in front), the features the corrections
    lack; `skipped(path, why)` hears of each photo that gave none. Returns how many were
    filled."""
    missing = missing_features(store)
    if not missing:
        return 0
    by_path = {Path(c.path): c for c in missing}
    done = []
    for pred in classifier.classify_paths([c.path for c in missing]):
        c = by_path.get(Path(pred.path))
        if c is None:
            continue
        if pred.ok and pred.feature is not None:
            done.append((c.fingerprint, pred.feature, base_model_id(classifier.model_id)))
        elif skipped is not None:
            skipped(pred.path, pred.error or "no feature from this runtime")
    store.set_features(done)
    return len(done)


def learn_from_corrections(
    store: Corrections,
    card: scenes.ModelCard,
    versions: Versions,
    classifier: SceneClassifier | None = None,
    skipped: SkipFn | None = None,
) -> LearnOutcome:
    """Fill the missing features (with `classifier`, when given), fit the personal head on
    every correction whose feature fits the card's head, gate it (app.personal.head.learn)
    and, when adopted, keep and activate it as a new version.

    Raises personal.LearnError when there is too little to learn from (the message says why),
    VersionError when the versions cannot be written."""
    if classifier is not None:
        fill_features(store, classifier, skipped)
    base = personal.Head.from_card(card)
    items = [
        c for c in store.all() if c.feature is not None and c.feature.shape == (base.in_features,)
    ]
    # "none" photos are no scene for the head: they join the open-set score as the person's own
    # bank (docs/open_set.md measured it against a looser rule: no cost on scene photos)
    nones = [c for c in items if c.label == NONE]
    items = [c for c in items if c.label != NONE]
    none_bank = np.stack([c.feature for c in nones]).astype(np.float32) if nones else None
    try:
        personal.check_enough([c.label for c in items])
        replay = personal.ReplayBank.load(card.weights_path.parent)
        learned = personal.learn(
            np.stack([c.feature for c in items]),
            [c.label for c in items],
            base,
            replay,
            base_temperature(card),
        )
    except personal.LearnError as exc:
        if none_bank is None:
            raise
        learned = personal.Learned(base, base_temperature(card), _report_without_head(items, exc))
    learned.none_bank, learned.report.none_photos = none_bank, len(nones)
    if not learned.report.adopted and none_bank is not None:
        # the head was not adopted, the "none" photos are used all the same: the bundled head
        learned.head, learned.temperature = base, base_temperature(card)
        learned.report.reason += f"; your {len(nones)} 'Not a scene' photos are used"
    if learned.report.adopted or none_bank is not None:
        return LearnOutcome(learned, versions.add(learned, card.model_id))
    return LearnOutcome(learned, None)


def _report_without_head(items: list[Correction], why: Exception) -> personal.LearnReport:
    per = {c: sum(1 for i in items if i.label == c) for c in scenes.CLASSES}
    return personal.LearnReport(
        corrections=len(items),
        per_class={k: v for k, v in per.items() if v},
        folds=0,
        bundled_accuracy=0.0,
        personal_accuracy=0.0,
        replay_before=0.0,
        replay_after=0.0,
        replay_photos=0,
        temperature=0.0,
        seconds=0.0,
        reason=f"head not learned: {why}",
    )
