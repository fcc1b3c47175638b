"""Personal model versions, and the classifier that runs the active one.

Versions live in `<user data>/personal/`: `personal.N.safetensors` (the head, float32) and one
`index.json` (each version's base model, size of its training set, temperature, report, sha256;
which one is active). Every adopted fit is a new version; `rollback` activates an earlier one,
`reset` goes back to the bundled model (the versions stay listed). A head is used only with the
weights it was learned on (`base_model`), so a new bundled model never runs an old head.

`PersonalClassifier` wraps any classifier whose predictions carry the pooled feature (the engine,
or the results cache in front of it) and answers with the personal head: runtime features →
head in numpy → softmax at the version's temperature. Its model id names the version
(`scene-vgg16@a4684ef2ce43/int8+personal.3`), so every sidecar and JSON line can be traced.
No Qt, no torch.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.model import scenes
from app.model.calibration import softmax
from app.model.engine import ClassifierLayer, Prediction, ProgressFn, SceneClassifier
from app.model.modelid import ModelId
from app.personal.head import Head, Learned
from app.userdirs import data_dir

INDEX = "index.json"
WarnFn = Callable[[str], None]


@dataclass(frozen=True)
class Version:
    number: int
    file: str
    sha256: str
    base_model: str  # the card's model id whose features it was learned on
    created: str
    corrections: int
    per_class: dict[str, int]
    temperature: float
    report: dict[str, Any]


class VersionError(RuntimeError):
    pass


class Versions:
    """The personal models on this machine."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else data_dir() / "personal"

    def _index(self) -> dict[str, Any]:
        path = self.folder / INDEX
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"active": None, "versions": []}
        except (OSError, ValueError) as exc:
            raise VersionError(f"cannot read {path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            raise VersionError(f"{path} is not a personal model index")
        return data

    def _write(self, index: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{INDEX}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / INDEX)

    def list(self) -> list[Version]:
        return [Version(**v) for v in self._index()["versions"]]

    def active(self) -> Version | None:
        index = self._index()
        n = index.get("active")
        return next((v for v in self.list() if v.number == n), None) if n else None

    def add(self, learned: Learned, base_model: str, activate: bool = True) -> Version:
        from safetensors.numpy import save

        index = self._index()
        number = 1 + max((v["number"] for v in index["versions"]), default=0)
        tensors = learned.head.tensors()
        if learned.none_bank is not None and len(learned.none_bank):
            tensors["none_bank"] = np.asarray(learned.none_bank, np.float32)
        blob = save(tensors, metadata={"base_model": base_model})
        file = f"personal.{number}.safetensors"
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{file}.tmp"
        tmp.write_bytes(blob)
        os.replace(tmp, self.folder / file)
        report = learned.report
        version = Version(
            number,
            file,
            scenes.sha256_bytes(blob),
            base_model,
            time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            report.corrections,
            dict(report.per_class),
            float(learned.temperature),
            report.to_dict(),
        )
        index["versions"].append(version.__dict__)
        if activate:
            index["active"] = number
        self._write(index)
        return version

    def activate(self, number: int | None) -> Version | None:
        index = self._index()
        if number is not None and number not in [v["number"] for v in index["versions"]]:
            raise VersionError(f"there is no personal model {number}")
        index["active"] = number
        self._write(index)
        return self.active()

    def rollback(self) -> Version | None:
        """The version before the active one (None: back to the bundled model)."""
        active = self.active()
        if active is None:
            raise VersionError("the bundled model is active: nothing to roll back")
        older = [v.number for v in self.list() if v.number < active.number]
        return self.activate(max(older) if older else None)

    def reset(self) -> None:
        self.activate(None)

    def active_head(self, model_id: str, warn: WarnFn | None = None) -> tuple[Head, Version] | None:
        """The active version and its head, when one is active and was learned on the weights
        `model_id` names (the card's id); otherwise None, and `warn` says why when a version
        is active but cannot be used."""
        try:
            version = self.active()
            if version is None:
                return None
            if version.base_model != model_id:
                if warn:
                    warn(
                        f"personal model {version.number} was learned on {version.base_model}, "
                        f"not {model_id}: the bundled model runs (python -m app learn again)"
                    )
                return None
            return self.head(version), version
        except (OSError, VersionError, ValueError) as exc:
            if warn:
                warn(f"the personal model cannot be used ({exc}); the bundled model runs")
            return None

    def head(self, version: Version) -> Head:
        from safetensors.numpy import load

        data = (self.folder / version.file).read_bytes()
        if scenes.sha256_bytes(data) != version.sha256:
            raise VersionError(f"{version.file} does not match its sha256 in {INDEX}")
        return Head.from_tensors({k: v for k, v in load(data).items() if k.startswith("layer")})

    def none_bank(self, version: Version) -> np.ndarray | None:
        """The features of the person's own "none" photos kept with `version` (None: none)."""
        from safetensors.numpy import load

        data = (self.folder / version.file).read_bytes()
        if scenes.sha256_bytes(data) != version.sha256:
            raise VersionError(f"{version.file} does not match its sha256 in {INDEX}")
        return load(data).get("none_bank")


class PersonalClassifier(ClassifierLayer):
    """A classifier's features through a personal head; model_id names the version, every
    other SceneClassifier member is the inner classifier's."""

    def __init__(
        self,
        inner: SceneClassifier,
        head: Head,
        version: Version,
        none_bank: np.ndarray | None = None,
    ) -> None:
        """`none_bank`: the features of the person's own "none" photos: a photo nearer to one
        of them than to the k-th scene neighbour is "none" (app.model.openset)."""
        super().__init__(inner)
        self.head, self.version = head, version
        self.none_bank = none_bank
        self.temperature = version.temperature

    @property
    def model_id(self) -> str:
        return str(ModelId.parse(self.inner.model_id).with_personal(self.version.number))

    def predict(self, path: Path, feature: np.ndarray) -> Prediction:
        """The personal head's Prediction for one pooled feature."""
        logits = self.head.logits(np.asarray(feature)[None])  # float64, as the head was fitted
        p = softmax(logits, self.temperature).astype(np.float32)[0]
        classes = self.inner.card.classes
        best = int(p.argmax())
        scores = {c: float(v) for c, v in zip(classes, p, strict=True)}
        pred = Prediction(Path(path), classes[best], float(p[best]), scores, feature=feature)
        open_set = self.open_set
        if open_set is None:
            return pred
        from app.model import openset  # the open-set score: the same feature, the person's bank

        return openset.decide([pred], open_set, self.none_threshold)[0]

    @property
    def open_set(self) -> Any:
        """The inner open set with the person's own "none" photos added."""
        inner = self.inner.open_set
        return inner.with_personal_none(self.none_bank) if inner is not None else None

    def rescore(self, pred: Prediction) -> Prediction:
        """One base prediction (with its feature) as the personal head sees it."""
        if not pred.ok:
            return pred
        if pred.feature is None:
            return replace(
                pred,
                label=None,
                confidence=None,
                scores=None,
                error="no pooled feature for the personal model (its runtime gives none)",
            )
        return self.predict(pred.path, pred.feature)

    def classify_paths(
        self,
        paths: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Prediction]:
        for pred in self.inner.classify_paths(paths, progress=progress, cancel=cancel):
            yield self.rescore(pred)


def base_classifier(clf: SceneClassifier) -> SceneClassifier:
    """The classifier under any personal head."""
    while isinstance(clf, PersonalClassifier):
        clf = clf.inner
    return clf
