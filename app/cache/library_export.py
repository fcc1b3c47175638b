"""JSONL export and import of the results cache: how the caches of shards become one.

    python -m app cache export FILE        every result (or one model's) as JSON lines
    python -m app cache import FILE…       merge exports into this machine's cache

The first line is a header ({"format": "scene-tagger-results", "version": 1}); each further
line is one result: fingerprint (hex), model_id, classes, label, scores (numbers), the pooled
feature as base64 of little-endian float16 (or null) and `used` (unix seconds). Numbers and
text only, and every line is validated before it is written: an import never unpickles or
evaluates anything. The stat short cuts are not exported (inode numbers mean nothing on
another machine); the first run there hashes each photo once and finds its result.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

from app.cache.blobs import FEATURE_DTYPE, pack_scores, unpack_scores
from app.cache.library import SCHEMA_VERSION, Library
from app.photos.fingerprint import FINGERPRINT_BYTES

EXPORT_FORMAT = "scene-tagger-results"


def export_jsonl(library: Library, out: IO[str], model_id: str | None = None) -> int:
    """Write the header and one line per result; returns the number of results written."""
    out.write(json.dumps({"format": EXPORT_FORMAT, "version": SCHEMA_VERSION}) + "\n")

    def run(conn: sqlite3.Connection) -> int:
        n = 0
        query = (
            "SELECT r.fingerprint, m.model_id, m.classes, r.label, r.scores, r.feature, "
            "r.used FROM results r JOIN models m ON m.id = r.model"
        )
        args: tuple[str, ...] = ()
        if model_id is not None:
            query += " WHERE m.model_id = ?"
            args = (model_id,)
        for digest, mid, classes, label, scores, feature, used in conn.execute(query, args):
            row = {
                "fingerprint": digest.hex(),
                "model_id": mid,
                "classes": json.loads(classes),
                "label": label,
                "scores": unpack_scores(scores).tolist(),
                "feature_f16le": base64.b64encode(feature).decode("ascii") if feature else None,
                "used": used,
            }
            out.write(json.dumps(row) + "\n")
            n += 1
        return n

    return library.query("export", run, 0)


def import_jsonl(library: Library, lines: Iterable[str], batch: int = 5000) -> tuple[int, int]:
    """Merge exported rows; a result already here keeps its answer and takes the later `used`.

    Returns (rows imported, lines refused); raises ValueError when the first line is not an
    export header."""
    it = iter(lines)
    if _parse_header(next(it, "")) is None:
        raise ValueError(f"not a {EXPORT_FORMAT} export (its first line is not the header)")
    imported = refused = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal imported
        if chunk:
            imported += library.transaction("import", lambda c: _insert(library, c, chunk), 0)
            chunk.clear()

    for line in it:
        if not line.strip():
            continue
        row = _parse_row(line)
        if row is None:
            refused += 1
            continue
        chunk.append(row)
        if len(chunk) >= batch:
            flush()
    flush()
    library.prune()
    return imported, refused


def _insert(library: Library, conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> int:
    values = []
    for row in rows:
        model_row, classes = library.model_row(conn, row["model_id"], row["classes"])
        if list(classes) != row["classes"]:
            continue  # the same model id with another class list is not the same model
        values.append(
            (
                row["fingerprint"],
                model_row,
                row["label"],
                row["scores"],
                row["feature"],
                row["used"],
            )
        )
    conn.executemany(
        "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint, model) "
        "DO UPDATE SET used = max(used, excluded.used)",
        values,
    )
    return len(values)


def _parse_header(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("format") != EXPORT_FORMAT:
        return None
    return obj


def _parse_row(line: str) -> dict[str, Any] | None:
    """A validated row with its values packed for the database, or None for a bad line."""
    try:
        obj = json.loads(line)
        digest = bytes.fromhex(obj["fingerprint"])
        classes = [str(c) for c in obj["classes"]]
        scores = [float(v) for v in obj["scores"]]
        label, model_id, used = obj["label"], str(obj["model_id"]), int(obj["used"])
        feature = obj.get("feature_f16le")
        packed = base64.b64decode(feature, validate=True) if feature is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if (
        len(digest) != FINGERPRINT_BYTES
        or not classes
        or len(scores) != len(classes)
        or label not in classes
        or not all(np.isfinite(scores))
        or (packed is not None and len(packed) % FEATURE_DTYPE.itemsize)
    ):
        return None
    return {
        "fingerprint": digest,
        "model_id": model_id,
        "classes": classes,
        "label": label,
        "scores": pack_scores(scores),
        "feature": packed,
        "used": used,
    }
