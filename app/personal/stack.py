"""The classifier stack, built in one place: the engine's Classifier (a runtime) → the results
cache (app.cache.cached) → the active personal head (app.personal.versions).

    clf = build_classifier(ModelChoice(backend="onnx"), warn=print)   # all three layers
    clf = build_classifier(loaded, cache=False)                        # a head on a loaded one

Every layer is a SceneClassifier (app.model.engine), so the window, the commands and learning
hold one type whatever was stacked. Here lives what the layers need of each other: a cache
with a personal head in front (or asked for features) classifies again the rows it kept
without a feature. No Qt, no torch (the engine imports it only for the torch runtime).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app import defaults
from app.model.engine import Classifier, SceneClassifier
from app.personal.versions import PersonalClassifier, VersionError, Versions, base_classifier

WarnFn = Callable[[str], None]


@dataclass(frozen=True)
class ModelChoice:
    """Which model to run and how: the card (None: the bundled model), the device (None or
    "auto": picked), the runtime, its precision, photos per batch and test-time augmentation."""

    card: Path | None = None
    device: str | None = None
    backend: str = "auto"
    precision: str = "auto"
    batch_size: int = defaults.BATCH_SIZE
    tta: str = defaults.TTA
    none_threshold: float | None = None  # the open-set threshold (None: the card's; inf: never)


def open_engine(choice: ModelChoice, warn: WarnFn | None = None) -> Classifier:
    """The bottom layer alone. ValueError: a combination that cannot exist; ModelError: the
    weights cannot be used."""
    return Classifier(
        choice.card,
        device=None if choice.device == "auto" else choice.device,
        precision=choice.precision,
        batch_size=choice.batch_size,
        backend=choice.backend,
        warn=warn,
        tta=choice.tta,
        none_threshold=choice.none_threshold,
    )


def build_classifier(
    model: ModelChoice | SceneClassifier | None = None,
    *,
    cache: bool = True,
    personal: bool = True,
    features: bool = False,
    versions: Versions | None = None,
    warn: WarnFn | None = None,
) -> SceneClassifier:
    """The stack for `model`: a ModelChoice is opened (open_engine); a classifier already
    loaded is stacked on as it is, without the personal head it may carry. `cache`: behind
    the results cache (cache problems go to `warn`, never fatal); `personal`: the active
    personal head in front, when there is one learned on these weights (`warn` says why an
    active one is not used); `features`: the predictions must carry the pooled feature."""
    if model is None or isinstance(model, ModelChoice):
        clf = open_engine(model or ModelChoice(), warn)
    else:
        clf = base_classifier(model)
    if cache:
        from app.cache.cached import CachedClassifier
        from app.cache.library import Library

        clf = CachedClassifier(clf, Library(warn=warn))
    active = (versions or Versions()).active_head(clf.card.model_id, warn) if personal else None
    if features or active is not None:
        clf.need_features = True
    if active is None:
        return clf
    head, version = active
    try:  # the person's own "none" photos, kept with the version (app.model.openset)
        none_bank = (versions or Versions()).none_bank(version)
    except (OSError, ValueError, VersionError) as exc:
        if warn:
            warn(f"the personal model's 'Not a scene' photos cannot be read ({exc})")
        none_bank = None
    return PersonalClassifier(clf, head, version, none_bank)
