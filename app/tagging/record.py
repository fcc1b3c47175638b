"""One photo of a session: what is on disk (`saved`), what the model said, what the user
decided, and the review rule. No Qt. Records are made (new_records) and filled (take_sidecar,
take_prediction) by whoever lists a folder, in a worker, before they join a Session.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.model.openset import NONE, OUTCOMES
from app.model.scenes import CLASSES
from app.tagging import sidecar
from app.tagging.session_io import Infos, display_path


class PredictionLike(Protocol):
    """What the session needs from app.model.engine.Prediction (kept structural: no torch import here)."""

    path: Path
    label: str | None
    confidence: float | None
    scores: dict[str, float] | None
    error: str | None
    open_set: float | None

    @property
    def ok(self) -> bool: ...


def new_records(
    start: int, photos: Sequence[Path], companions: Mapping[Path, tuple[Path, ...]] | None = None
) -> list[PhotoRecord]:
    """Records for photos that will get ids start, start + 1, …; touches no session, so the
    worker that listed them makes them. Each path's string is made here too (os.fspath caches
    it in the Path): the session's path index then costs the GUI thread no formatting."""
    records = []
    for i, p in enumerate(photos, start):
        r = PhotoRecord(i, p if isinstance(p, Path) else Path(p))
        if companions and r.path in companions:
            r.companions = tuple(Path(c) for c in companions[r.path])
            r.file_tags = (None,) * len(r.files)
        for f in r.files:
            os.fspath(f)
        records.append(r)
    return records


@dataclass(eq=False)
class PhotoRecord:
    """One photo: what is on disk (`saved`), what the model said, what the user decided."""

    id: int
    path: Path
    saved: sidecar.SceneTag | None = None  # the scene tag in the sidecar, as last read
    sidecar_path: Path | None = None
    sidecar_error: str | None = None  # a sidecar that could not be read or written
    prediction: PredictionLike | None = None  # this session's model output
    model_id: str | None = None  # the model that made `prediction`
    manual: str | None = None  # pending manual label; starts as the saved manual label
    # A RAW + JPEG pair shown as one photo (defaults.RAW_JPEG "one"): `path` is the JPEG, the
    # one classified; `companions` are its RAW files, tagged with it; `file_tags` is the scene
    # tag in each file's own sidecar (path first), and `saved` the pair's (a manual one first).
    companions: tuple[Path, ...] = ()
    file_tags: tuple[sidecar.SceneTag | None, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file this photo stands for: itself, then a pair's RAW files."""
        return (self.path, *self.companions)

    @property
    def display_name(self) -> str:
        """The name for people: bytes that are not UTF-8 show as U+FFFD, a visible mark; a
        pair names both files (IMG_0001.JPG + .CR2)."""
        if not self.companions:  # the common case: asked for every row's sort key and paint
            return display_path(self.path.name)
        names = [self.path.name]
        for c in self.companions:
            names.append(c.suffix if c.stem == self.path.stem else c.name)
        return display_path(" + ".join(names))

    @property
    def _saved_auto(self) -> sidecar.SceneTag | None:
        s = self.saved
        return s if s is not None and s.source == "auto" and s.label in CLASSES else None

    @property
    def auto_label(self) -> str | None:
        """The model's label: this session's prediction, else an automatic label read from disk."""
        p = self.prediction
        if p is not None and p.ok:
            return p.label
        s = self._saved_auto
        return s.label if s else None

    @property
    def auto_confidence(self) -> float | None:
        p = self.prediction
        if p is not None and p.ok:
            return p.confidence
        s = self._saved_auto
        return s.confidence if s else None

    @property
    def scores(self) -> dict[str, float] | None:
        """All six scores when known (from this run, else from the sidecar's provenance)."""
        p = self.prediction
        if p is not None and p.ok and p.scores:
            return dict(p.scores)
        s = self.saved
        return dict(s.scores) if s is not None and s.scores else None

    @property
    def label(self) -> str | None:
        """The effective label: a manual one always wins over the model's."""
        return self.manual or self.auto_label

    @property
    def source(self) -> str | None:
        if self.manual:
            return "manual"
        return "auto" if self.auto_label else None

    @property
    def confidence(self) -> float | None:
        """The model's confidence in the effective label; None for manual labels."""
        return None if self.manual else self.auto_confidence

    @property
    def classify_error(self) -> str | None:
        p = self.prediction
        if p is not None and not p.ok:
            return p.error or "not classified"
        return None

    @property
    def labelable(self) -> bool:
        """Whether a scene may be given by hand: not when the file proved to be no image at all
        (imaging.not_a_photo's rule; a photo that merely failed to decode may be)."""
        return not getattr(self.prediction, "not_a_photo", False)

    @property
    def error(self) -> str | None:
        """Everything that went wrong with this photo, fit to show the user; None when fine."""
        parts = [e for e in (self.classify_error, self.sidecar_error) if e]
        return "; ".join(parts) if parts else None

    def auto_confident(self, threshold: float) -> bool:
        """The review rule, the one place it is written: the model's scene label stands (is
        shown without the review outline, saved, written by `tag`) when it has a confidence at
        or above the threshold. "none" is never written as a keyword (app.model.openset)."""
        conf = self.auto_confidence
        label = self.auto_label
        return label is not None and label != NONE and conf is not None and conf >= threshold

    def needs_review(self, threshold: float) -> bool:
        """Not decided by the user and the model is unsure, failed, or has not run yet. A photo
        the model calls "none of these" is an outcome, not a doubt: it is not for review."""
        if self.manual or self.auto_label == NONE:
            return False
        return not self.auto_confident(threshold)

    def take_sidecar(self, infos: Infos, err: str | None) -> None:
        """What its files' sidecars say (read_files): a saved manual label becomes the pending
        manual label; an unreadable sidecar keeps what was known (never a guess)."""
        self.sidecar_error = err
        if infos and infos[0] is not None:
            self.sidecar_path = infos[0].path
        if not self.companions:
            if not infos or infos[0] is None:
                return  # unreadable: keep what we knew, never guess
            self.saved = infos[0].scene
        else:
            tags = list(self.file_tags)
            for n, info in enumerate(infos):
                if info is not None:
                    tags[n] = info.scene
            self.file_tags = tuple(tags)
            manual = [t for t in tags if t is not None and t.source == "manual"]
            self.saved = next(iter(manual or [t for t in tags if t is not None]), None)
            if all(i is None for i in infos):
                return
        s = self.saved
        if s is not None and s.source == "manual" and s.label in OUTCOMES:
            self.manual = s.label
        # otherwise a pending correction survives the re-read: it is not on disk yet

    def take_prediction(self, prediction: PredictionLike, model_id: str | None) -> None:
        """Model output for this photo (a manual label is never touched)."""
        self.prediction, self.model_id = prediction, model_id
