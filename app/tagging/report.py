"""The report of a folder: one row per photo (its label, how sure the model is, whether the label
was set by hand, the six scores, or why it failed), written as text, JSON lines or CSV.

One home for `classify --format` and the window's File ▸ Export Report…: both build ReportRows
(from a prediction and the photo's sidecar, or from a session's record) and write them with
`ReportWriter`, so the two files of the same folder say the same thing.

A label set by hand wins, as everywhere in the app: a photo whose sidecar holds a manual label
reports that label with source "manual" and no confidence (the person decided, not the model);
the scores are still the model's, when known.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import defaults
from app.model.openset import OUTCOMES
from app.model.scenes import CLASSES
from app.tagging import sidecar
from app.tagging.session_io import display_path

FORMATS: tuple[str, ...] = ("text", "json", "csv")
MANUAL, AUTOMATIC = "manual", "automatic"
DECIMALS = 6  # scores and confidence in JSON and CSV


@dataclass(frozen=True)
class ReportRow:
    path: Path
    label: str | None = None
    confidence: float | None = None  # the model's, for an automatic label
    source: str | None = None  # MANUAL or AUTOMATIC; None for a photo without a label
    scores: dict[str, float] | None = None
    model: str | None = None  # the model that gave the scores
    error: str | None = None
    # the open-set score (app.model.openset): distance from the scenes the model knows; inf:
    # nearer to one of the person's own "none" photos
    open_set: float | None = None


def manual_label(photo: Path, naming: str = defaults.NAMING) -> str | None:
    """The label set by hand in the photo's sidecar, if any (an unreadable sidecar has none)."""
    try:
        tag = sidecar.read_sidecar(photo, naming).scene
    except sidecar.SidecarError:
        return None
    return (
        tag.label if tag is not None and tag.source == "manual" and tag.label in OUTCOMES else None
    )


def row_for_prediction(pred: Any, model: str | None, manual: str | None = None) -> ReportRow:
    """A row from the model's prediction (app.model.engine.Prediction) and, when the person
    labelled the photo by hand, that label."""
    scores = dict(pred.scores) if pred.ok and pred.scores else None
    if manual is not None:
        return ReportRow(pred.path, manual, None, MANUAL, scores, model if scores else None)
    if not pred.ok:
        return ReportRow(pred.path, error=pred.error or "not classified")
    open_set = getattr(pred, "open_set", None)
    return ReportRow(
        pred.path, pred.label, pred.confidence, AUTOMATIC, scores, model, open_set=open_set
    )


def row_for_record(r: Any) -> ReportRow:
    """A row from a session's record (app.tagging.session.PhotoRecord), as the window shows it:
    a correction not saved yet counts, as the window counts it."""
    model = r.model_id if r.prediction is not None else (r.saved.model_id if r.saved else None)
    scores = r.scores
    if r.manual:
        return ReportRow(r.path, r.manual, None, MANUAL, scores, model if scores else None)
    if r.auto_label is not None:
        return ReportRow(r.path, r.auto_label, r.auto_confidence, AUTOMATIC, scores, model)
    return ReportRow(r.path, error=r.error or "not classified yet")


def rows_for_session(session: Any) -> list[ReportRow]:
    return [row_for_record(r) for r in session.records]


def json_path(path: str | os.PathLike[str]) -> dict[str, str]:
    """{"path": display form} plus, only when the name is not valid UTF-8, "path_bytes": the
    file name's raw bytes in base64, so any consumer can open the very file."""
    raw = os.fsencode(path)
    shown = display_path(path)
    if shown.encode("utf-8") == raw:
        return {"path": shown}
    return {"path": shown, "path_bytes": base64.b64encode(raw).decode("ascii")}


def percent(p: float | None) -> str:
    return f"{100 * (p or 0.0):.1f}%"


def _number(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


class ReportWriter:
    """Rows to lines in one of FORMATS, each handed to `emit` as it is made (a CSV's header
    before its first row), so a long run's report streams.

    text: PATH<TAB>LABEL<TAB>97.3% (or <TAB>manual), PATH<TAB>ERROR: why; the path as the
          file system has it (a name that is not UTF-8 keeps its bytes, usable by a shell).
    json: one object per line: path (+ path_bytes), label, confidence, source, scores, model;
          or path and error.
    csv:  path, label, confidence, source, the six scores, error; with a header line.
    """

    def __init__(
        self, fmt: str, emit: Callable[[str], None], classes: Sequence[str] = CLASSES
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"report format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt, self.emit, self.classes = fmt, emit, tuple(classes)
        self._header_done = False

    @property
    def header(self) -> list[str]:
        return ["path", "label", "confidence", "source", *self.classes, "error"]

    def write(self, row: ReportRow) -> None:
        if self.fmt == "text":
            self.emit(self._text(row))
        elif self.fmt == "json":
            self.emit(json.dumps(self._json(row)))
        else:
            if not self._header_done:
                self._header_done = True
                self.emit(self._csv(self.header))
            self.emit(self._csv(self._csv_fields(row)))

    def write_all(self, rows: Iterable[ReportRow]) -> None:
        for row in rows:
            self.write(row)
        if self.fmt == "csv" and not self._header_done:  # an empty folder: still a table
            self._header_done = True
            self.emit(self._csv(self.header))

    @staticmethod
    def _text(row: ReportRow) -> str:
        if row.error is not None:
            return f"{row.path}\tERROR: {row.error}"
        how = MANUAL if row.source == MANUAL else percent(row.confidence)
        return f"{row.path}\t{row.label}\t{how}"

    @staticmethod
    def _json(row: ReportRow) -> dict[str, object]:
        obj: dict[str, object] = json_path(row.path)
        if row.error is not None:
            obj["error"] = row.error
            return obj
        obj["label"] = row.label
        obj["confidence"] = _number(row.confidence)
        obj["source"] = row.source
        obj["scores"] = {k: _number(v) for k, v in row.scores.items()} if row.scores else None
        if row.open_set is not None:  # "none" is decided on it (null: a person's own "none")
            obj["open_set"] = _number(row.open_set) if math.isfinite(row.open_set) else None
        obj["model"] = row.model  # which model said so (a personal version names itself)
        return obj

    def _csv_fields(self, row: ReportRow) -> list[str]:
        def number(value: float | None) -> str:
            return "" if value is None else f"{value:.{DECIMALS}f}"

        scores = row.scores or {}
        return [
            display_path(row.path),
            row.label or "",
            number(row.confidence),
            row.source or "",
            *(number(scores.get(c)) for c in self.classes),
            row.error or "",
        ]

    @staticmethod
    def _csv(fields: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(fields)
        return buf.getvalue()[:-1]


def write_report_file(path: str | os.PathLike[str], rows: Iterable[ReportRow], fmt: str) -> None:
    """The whole report into a file (UTF-8), written beside it first and moved into place, so
    a failed export never leaves half a report where a good one was. Raises OSError."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            ReportWriter(fmt, lambda line: f.write(line + "\n")).write_all(rows)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
