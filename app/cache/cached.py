"""A classifier that asks the results cache (app.cache.library) first.

Photos go in chunks: each chunk is looked up at once; the photos the cache has no answer for
go to the inner classifier, one photo per distinct content (hard links and byte-identical
copies are classified once), and its predictions are stored as they come back. The inner
classifier sees one `classify_paths` call per chunk that has misses; a chunk of CHUNK photos
costs its pipeline one ramp-up, about one batch.

Threads: as the inner classifier's; run `classify_paths` in a worker, never the GUI thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.cache.library import Library
from app.model.engine import ClassifierLayer

if TYPE_CHECKING:
    from app.model.engine import Prediction, SceneClassifier


CHUNK = 1024  # photos looked up at once: big enough to keep the model's pipeline full


class CachedClassifier(ClassifierLayer):
    """`inner.classify_paths` behind the cache: hits come from the database, misses go to the
    inner classifier (one photo per distinct content) and are stored as they come back.
    Predictions come in input order, as the inner classifier's do; model_id, card,
    device_name and fallbacks are the inner classifier's."""

    # True when a consumer needs Prediction.feature (the personal head, learning): a stored
    # result without one (kept before features were cached) goes to the model again
    need_features = False
    hits: int = 0  # predictions served from the cache in this object's lifetime

    def __init__(self, inner: SceneClassifier, library: Library, chunk: int = CHUNK) -> None:
        super().__init__(inner)
        self.library = library
        self.chunk = chunk
        self.need_features = False
        self.hits = 0
        self.classified = 0  # photos that went through the model

    def close(self) -> None:
        self.inner.close()
        self.library.close()

    def classify_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        progress: Callable[[int, int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Prediction]:
        """The Classifier's contract: one Prediction per path in input order, `progress(done,
        total, errors)`, a set `cancel` ends the generator soon."""
        paths = [p if isinstance(p, Path) else Path(p) for p in paths]  # no re-parse: 100k+
        total, done, errors = len(paths), 0, 0
        if progress:
            progress(0, total, 0)
        for start in range(0, total, self.chunk):
            if cancel is not None and cancel.is_set():
                return
            for pred in self._chunk(paths[start : start + self.chunk], cancel):
                done += 1
                errors += not pred.ok
                if progress:
                    progress(done, total, errors)
                yield pred

    def _chunk(self, part: list[Path], cancel: threading.Event | None) -> Iterator[Prediction]:
        model_id = self.inner.model_id
        found = self.library.lookup(part, model_id)
        open_set = self.inner.open_set
        if open_set is not None:
            # the open-set score comes from the feature: a result kept without one goes to the
            # model again; the others get their score and "none" decided with today's threshold
            from app.model import openset

            found.misses.extend(p.path for p in found.hits if p.feature is None)
            kept = [p for p in found.hits if p.feature is not None]
            found.hits = openset.decide(kept, open_set, self.inner.none_threshold)
        if self.need_features and any(p.feature is None for p in found.hits):
            found.misses.extend(p.path for p in found.hits if p.feature is None)
            found.hits = [p for p in found.hits if p.feature is not None]
        self.hits += len(found.hits)
        results: dict[Path, Prediction] = {p.path: p for p in found.hits}
        first_of: dict[bytes, Path] = {}  # one photo per content goes to the model
        twins: dict[Path, list[Path]] = {}
        for path in found.misses:
            if path in twins:
                continue
            key = found.keys.get(path)
            rep = first_of.setdefault(key[0], path) if key else path
            twins.setdefault(rep, [])
            if rep != path:
                twins[rep].append(path)
        unstored: list[Prediction] = []
        inner = iter(self.inner.classify_paths(list(twins), cancel=cancel)) if twins else None
        try:
            for path in part:
                while path not in results:
                    pred = next(inner, None) if inner is not None else None
                    if pred is None:
                        return  # cancelled (or the inner classifier stopped early)
                    self.classified += 1
                    results[pred.path] = pred
                    for twin in twins.get(pred.path, ()):
                        results[twin] = replace(pred, path=twin)
                    if pred.ok:
                        unstored.append(pred)
                    if len(unstored) >= 64:
                        self.library.store(unstored, model_id, found.keys)
                        unstored.clear()
                yield results[path]
        finally:
            if inner is not None and hasattr(inner, "close"):  # a generator: end its run
                inner.close()
            if unstored:
                self.library.store(unstored, model_id, found.keys)
