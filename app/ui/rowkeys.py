"""What the photo lists filter and sort on, per row: pure Python over the records (no Qt), so
the file thread computes it for photos the GUI thread does not hold yet (a folder's first batch,
each later batch) and the GUI thread only takes the lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.tagging.session import PhotoRecord, Session


@dataclass
class RowKeys:
    """Per row, what the lists filter and sort on: label, needs review, has an error, the
    confidence key (2 = manual, -1 = none yet) and the lower-case name."""

    labels: list[str | None]
    review: list[bool]
    errors: list[bool]
    conf_keys: list[float]
    name_keys: list[str]


def row_keys(session: Session | None) -> RowKeys:
    """The keys of every row of a session."""
    if session is None:
        return RowKeys([], [], [], [], [])
    return records_keys(session.records, session.threshold)


def records_keys(records: Sequence[PhotoRecord], threshold: float) -> RowKeys:
    """The keys of these records, in their order (a batch not yet in any session)."""
    n = len(records)
    keys = RowKeys([None] * n, [False] * n, [False] * n, [0.0] * n, [])
    keys.name_keys = [r.display_name.lower() for r in records]
    fill_keys(records, range(n), keys, threshold)
    return keys


def fill_keys(
    records: Sequence[PhotoRecord], rows: Iterable[int], keys: Any, threshold: float
) -> None:
    """Set row i of `keys` (a RowKeys or the list model itself) from records[i]."""
    for i in rows:
        r = records[i]
        keys.labels[i] = r.label
        keys.review[i] = r.needs_review(threshold)
        keys.errors[i] = bool(r.error)
        conf = r.confidence
        keys.conf_keys[i] = 2.0 if r.manual else (conf if conf is not None else -1.0)
