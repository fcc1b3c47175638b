"""Listing a folder into records, one batch at a time, touching no session, so it may run in
a worker: the window's loader lists a big folder in batches, Session.open (the commands) in
one. Each batch's records come complete (what their sidecars say and what the results cache
already knew about them), so joining them to the session is all the session's thread does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from app import defaults
from app.photos import formats, imaging
from app.photos.formats import Entry
from app.photos.listing import ListingError
from app.tagging.record import PhotoRecord, PredictionLike, new_records
from app.tagging.session_io import read_sidecar_infos

# photos -> (the model id it answers for, the predictions it holds): the results cache
CacheLookup = Callable[[list[Path]], tuple[str, Sequence[PredictionLike]]]


def folder_entries(
    folder: str | os.PathLike[str],
    recursive: bool = False,
    raw_jpeg: str = defaults.RAW_JPEG,
    errors: list[ListingError] | None = None,
) -> Iterator[Entry]:
    """The folder's photos in listing order, lazily; `raw_jpeg` "one": a RAW + JPEG pair is
    one entry (formats.pair_raw_jpeg). The folders that cannot be read are appended to
    `errors` as the walk meets them (app.photos.listing)."""
    listed = imaging.iter_photos(Path(folder), recursive=recursive, errors=errors)
    return formats.photo_entries(listed, raw_jpeg)


def read_batch(
    entries: Iterable[Entry],
    start: int = 0,
    naming: str = defaults.NAMING,
    cached: CacheLookup | None = None,
) -> list[PhotoRecord]:
    """Records for `entries` with ids from `start`, their sidecars read and, with `cached`,
    the predictions the results cache holds for them."""
    records = new_records(start, *formats.split_entries(entries))
    for rid, infos, err in read_sidecar_infos([(r.id, r.files) for r in records], naming):
        records[rid - start].take_sidecar(infos, err)
    if cached is not None and records:  # groups from earlier runs, model or no model
        model_id, hits = cached([r.path for r in records])
        by_path = {r.path: r for r in records}
        for p in hits:
            if (r := by_path.get(Path(p.path))) is not None:
                r.take_prediction(p, model_id)
    return records
