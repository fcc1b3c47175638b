"""One folder's state: photos, predictions, corrections, what is saved and what is pending. No Qt.

Two copies per photo, the way Picard keeps `orig_metadata` and `metadata`: `saved` is the scene
tag on disk (read from the sidecar), the pending state is this session's prediction plus the
user's manual label. A photo is dirty when what a save would write differs from what is on disk,
so undoing a correction makes it clean again without any bookkeeping. Changes are reported
through a callback (ids of the records that changed) so a Qt model can follow without this
module knowing Qt.

Saving is split in three so the file work can run in a worker thread: `plan_save` takes an
immutable snapshot in the caller's thread, `execute_save` (app.tagging.session_io) writes and re-reads
sidecars (no shared state), `apply_saved` updates the records in the caller's thread.

A RAW + JPEG pair shown as one photo (defaults.RAW_JPEG "one", formats.pair_raw_jpeg) is one
record: the JPEG is classified, and every save writes the same tag into each file's sidecar.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import defaults
from app.model.openset import NONE, OUTCOMES, family
from app.model.scenes import CLASSES
from app.photos.formats import Entry
from app.photos.listing import ListingError
from app.tagging import sidecar
from app.tagging.batches import CacheLookup, folder_entries, read_batch
from app.tagging.record import PhotoRecord, PredictionLike, new_records
from app.tagging.session_io import (
    ProgressFn,
    SaveItem,
    SaveOutcome,
    execute_save,
    read_files,
)

ChangeCallback = Callable[[list[int]], None]


@dataclass
class SaveReport:
    written: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[tuple[Path, str]] | None = None


class Session:
    """The photos of one folder and everything known or decided about them."""

    def __init__(
        self,
        folder: Path | None,
        photos: Sequence[Path],
        *,
        companions: Mapping[Path, tuple[Path, ...]] | None = None,
        threshold: float = defaults.THRESHOLD,
        naming: str = defaults.NAMING,
        parent: str = defaults.PARENT,
        on_change: ChangeCallback | None = None,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.records: list[PhotoRecord] = []
        self._by_path: dict[str, int] = {}
        self.threshold = threshold
        self.naming = naming
        self.parent = parent
        self.on_change = on_change
        # folders that could not be listed (permission denied…): not an empty folder, an error
        self.listing_errors: list[ListingError] = []
        # ids of the dirty photos, kept up to date by _notify (every change reports its ids);
        # None = unknown (changed without a report), recomputed on the next question
        self._dirty: set[int] | None = None
        self.add_photos(photos, companions)

    # ------------------------------------------------------------------------------ loading
    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        *,
        recursive: bool = False,
        raw_jpeg: str = defaults.RAW_JPEG,
        **kwargs: Any,
    ) -> Session:
        """List the folder's photos and read their sidecars (slow for big folders: use a worker).
        `raw_jpeg` "one": each RAW + JPEG pair is one photo (formats.pair_raw_jpeg). The
        folders that could not be listed are in `listing_errors`."""
        errors: list[ListingError] = []
        listed = folder_entries(folder, recursive, raw_jpeg, errors)
        session = cls.from_entries(folder, listed, **kwargs)
        session.listing_errors = errors
        return session

    @classmethod
    def from_entries(
        cls,
        folder: str | os.PathLike[str],
        entries: Iterable[Entry],
        cached: CacheLookup | None = None,
        **kwargs: Any,
    ) -> Session:
        """A session of these listed photos (app.tagging.batches), their sidecars read and,
        with `cached`, what the results cache already knows about them."""
        session = cls(Path(folder), [], **kwargs)
        session.add_records(read_batch(entries, 0, session.naming, cached))
        return session

    def add_photos(
        self, photos: Sequence[Path], companions: Mapping[Path, tuple[Path, ...]] | None = None
    ) -> list[int]:
        """Append photos (a folder listed in batches); returns their new ids. Nothing is
        reported: the caller shows the new rows (they are clean, and need the model).
        `companions`: the RAW files of the photos that stand for a RAW + JPEG pair."""
        return self.add_records(new_records(len(self.records), photos, companions))

    def add_records(self, records: Sequence[PhotoRecord]) -> list[int]:
        """Append records made by `new_records` (in the worker that listed them) for ids
        that continue this session's; returns those ids."""
        start = len(self.records)
        if records and records[0].id != start:
            raise ValueError(f"records start at id {records[0].id}, the session at {start}")
        self.records.extend(records)
        for r in records:
            for f in r.files:  # a pair is found by either file (label, learn --from)
                self._by_path[os.path.normcase(os.fspath(f))] = r.id
        if self._dirty is not None:  # records listed with their sidecars and cached results
            self._dirty.update(r.id for r in records if self.is_dirty(r))
        return list(range(start, len(self.records)))

    def read_sidecars(self, ids: Iterable[int] | None = None, *, notify: bool = True) -> list[int]:
        """(Re-)read sidecars; a saved manual label becomes the pending manual label."""
        changed = []
        for rid in self._ids(ids):
            r = self.records[rid]
            r.take_sidecar(*read_files(r.files, self.naming))
            changed.append(rid)
        if notify:
            self._notify(changed)
        else:
            self._dirty = None  # changed unreported: recount when asked
        return changed

    # ------------------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.records)

    def id_for(self, path: str | os.PathLike[str]) -> int | None:
        return self._by_path.get(os.path.normcase(os.fspath(path)))

    def to_classify(self, model_id: str | None = None, open_set: bool = False) -> list[int]:
        """Photos the model should (re-)run on: never those with a manual label, and not those
        whose sidecar already holds an automatic label with scores from this same model (and,
        when the model has an open-set score, that score: a label written before "none" existed
        is looked at again, so a cat tagged "sea" back then loses that keyword).
        (The GUI thread asks this of 100,000 records at once: the checks are inlined.)"""
        out = []
        for r in self.records:
            if r.manual:
                continue
            p = r.prediction
            if p is not None and r.model_id == model_id and p.ok:
                continue
            s = r.saved
            if (
                s is not None
                and model_id is not None
                and s.model_id == model_id
                and s.scores
                and s.source == "auto"
                and s.label in CLASSES
                and (not open_set or s.open_set is not None)
            ):
                continue
            out.append(r.id)
        return out

    def counts(self) -> dict[str | None, int]:
        """Photos per effective label (None = not classified), every class present."""
        out: dict[str | None, int] = {c: 0 for c in OUTCOMES}
        out[None] = 0
        for r in self.records:
            out[r.label if r.label in out else None] += 1
        return out

    def review_ids(self) -> list[int]:
        return [r.id for r in self.records if r.needs_review(self.threshold)]

    def error_ids(self) -> list[int]:
        return [r.id for r in self.records if r.error]

    # ------------------------------------------------------------------------------ changes
    def set_predictions(
        self, predictions: Iterable[PredictionLike], model_id: str | None
    ) -> list[int]:
        """Store model output (matched by path); manual labels are never touched."""
        changed = []
        for p in predictions:
            rid = self.id_for(p.path)
            if rid is None:
                continue
            self.records[rid].take_prediction(p, model_id)
            changed.append(rid)
        self._notify(changed)
        return changed

    def swap_predictions(
        self, values: dict[int, tuple[PredictionLike | None, str | None]]
    ) -> dict[int, tuple[PredictionLike | None, str | None]]:
        """Give photos other (prediction, model id) pairs (a re-score by a personal model, or
        its undo); returns the pairs they had, which is exactly what the undo needs."""
        old = {}
        for rid, (pred, model_id) in values.items():
            r = self.records[rid]
            old[rid] = (r.prediction, r.model_id)
            r.prediction, r.model_id = pred, model_id
        self._notify(list(values))
        return old

    def set_manual(self, ids: Iterable[int], label: str | None) -> dict[int, str | None]:
        """Give photos a manual label (None = back to automatic); returns the previous values
        of the records that changed, which is exactly what an undo needs."""
        if label is not None and label not in OUTCOMES:
            raise ValueError(f"unknown scene {label!r}")
        old: dict[int, str | None] = {}
        for rid in self._ids(ids):
            r = self.records[rid]
            if r.manual != label:
                old[rid] = r.manual
                r.manual = label
        self._notify(list(old))
        return old

    def restore_manual(self, values: dict[int, str | None]) -> None:
        """Put back manual labels captured by set_manual (the undo half)."""
        for rid, label in values.items():
            self.records[rid].manual = label
        self._notify(list(values))

    def set_threshold(self, threshold: float) -> None:
        self.threshold = float(threshold)
        self._notify([r.id for r in self.records])

    # ------------------------------------------------------------------------------ saving
    def pending_tag(self, r: PhotoRecord) -> sidecar.SceneTag | None:
        """The scene tag a save would write for this photo; None when there is none to write.
        Its time is left empty: the sidecar writer stamps it when it really writes."""
        scores = r.scores
        model_id = (
            r.model_id if r.prediction is not None else (r.saved.model_id if r.saved else None)
        )
        p = r.prediction
        open_set = p.open_set if p is not None and p.ok else (r.saved.open_set if r.saved else None)
        if r.manual:
            return sidecar.SceneTag(
                label=r.manual,
                source="manual",
                confidence=scores.get(r.manual) if scores else None,
                scores=scores,
                model_id=model_id,
                open_set=open_set,
            )
        if r.auto_confident(self.threshold):
            return sidecar.SceneTag(
                label=r.auto_label,  # type: ignore[arg-type]
                source="auto",
                confidence=r.auto_confidence,
                scores=scores,
                model_id=model_id,
                open_set=open_set,
            )
        return None  # below the threshold, or "none": no scene keyword

    def pending_key(self, r: PhotoRecord) -> tuple[str, str] | None:
        """(label, source) a save would leave on disk, cheap enough to ask for every photo.
        ("none", "auto") means: take back the scene keyword this model family wrote earlier."""
        if r.manual:
            return (r.manual, "manual")
        if r.auto_label == NONE:
            return (NONE, "auto") if self._takes_back(r) else None
        if r.auto_confident(self.threshold):
            return (r.auto_label, "auto")  # type: ignore[return-value]
        return None

    @staticmethod
    def _takes_back(r: PhotoRecord) -> bool:
        """The model now calls the photo "none" and its sidecar holds an automatic scene label
        of the same model family (retrained weights, int8, TTA, a personal head): that label
        goes. A manual label, or one another model wrote, is never touched."""
        s = r.saved
        return (
            s is not None
            and s.source == "auto"
            and s.label in CLASSES
            and family(s.model_id) is not None
            and family(s.model_id) == family(r.model_id)
        )

    @staticmethod
    def _differs(want: tuple[str, str] | None, tag: sidecar.SceneTag | None) -> bool:
        have = (tag.label, tag.source) if tag is not None else None
        if want == have:
            return False
        # Nothing confident to write: only a manual label the user took back is removed; an
        # earlier automatic label stays (a less sure run does not erase it).
        return want is not None or (have is not None and have[1] == "manual")

    def is_dirty(self, r: PhotoRecord) -> bool:
        """What a save would write differs from what is on disk (in any file of a pair)."""
        want = self.pending_key(r)
        tags = r.file_tags if r.companions else (r.saved,)
        return any(self._differs(want, t) for t in tags)

    def save_item(self, r: PhotoRecord) -> SaveItem | None:
        """What saving this photo would do; None when it is not dirty. A pair writes the same
        tag into every file's sidecar (one already saying it is left as it is)."""
        if not self.is_dirty(r):
            return None
        want = self.pending_tag(r)
        tags = r.file_tags if r.companions else (r.saved,)
        clear = [
            want is None or (want.source == "auto" and t is not None and t.source == "manual")
            for t in tags
        ]
        clear[0] = clear[0] and want is not None  # (tag None already means clear)
        companions = tuple(zip(r.companions, clear[1:], strict=True))
        return SaveItem(r.id, r.path, want, clear[0], companions)

    def _dirty_set(self) -> set[int]:
        if self._dirty is None:
            self._dirty = {r.id for r in self.records if self.is_dirty(r)}
        return self._dirty

    def dirty_ids(self) -> list[int]:
        return sorted(self._dirty_set())

    def dirty_count(self) -> int:
        """How many photos a save would write; O(1) between changes (the window asks often)."""
        return len(self._dirty_set())

    def plan_save(self, ids: Iterable[int] | None = None) -> list[SaveItem]:
        """An immutable snapshot of what to write: auto labels at or above the threshold and
        every manual label, for the photos whose sidecar would change."""
        items = []
        for rid in self._ids(ids):
            item = self.save_item(self.records[rid])
            if item is not None:
                items.append(item)
        return items

    def apply_saved(self, outcomes: Iterable[SaveOutcome]) -> SaveReport:
        """Take the re-read sidecars into the records (in the thread that owns the session)."""
        report = SaveReport(errors=[])
        changed = []
        for o in outcomes:
            r = self.records[o.id]
            pending = r.manual
            if o.error:
                report.failed += 1
                report.errors.append((o.path, o.error))  # type: ignore[union-attr]
                if r.companions:  # what a pair's other files took is on disk all the same
                    r.take_sidecar((o.info, *o.companion_infos), o.error)
                r.sidecar_error = o.error
            else:
                if o.skipped_reason:
                    report.skipped += 1
                else:
                    report.written += 1
                r.take_sidecar((o.info, *o.companion_infos), None)
            if pending != o.planned_manual:
                r.manual = pending  # changed while the save ran: still pending, not lost
            changed.append(o.id)
        self._notify(changed)
        return report

    def save(
        self, ids: Iterable[int] | None = None, progress: ProgressFn | None = None
    ) -> SaveReport:
        """Plan, write and re-read in the calling thread (fine for tests, scripts, small counts)."""
        items = self.plan_save(ids)
        return self.apply_saved(
            execute_save(
                items, naming=self.naming, parent=self.parent, root=self.folder, progress=progress
            )
        )

    # ------------------------------------------------------------------------------ helpers
    def _ids(self, ids: Iterable[int] | None) -> Iterable[int]:
        return range(len(self.records)) if ids is None else ids

    def _notify(self, ids: list[int]) -> None:
        if self._dirty is not None:
            for i in ids:
                if self.is_dirty(self.records[i]):
                    self._dirty.add(i)
                else:
                    self._dirty.discard(i)
        if ids and self.on_change is not None:
            self.on_change(ids)
