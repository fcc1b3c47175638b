"""The corrections store: every manual label the person saved, with the feature the model saw.

One SQLite file, `corrections.sqlite3`, in the user data folder (`platformdirs.user_data_dir`,
or `$SCENE_TAGGER_DATA`): the personal head (app.personal.head) learns from it. It holds paths,
content fingerprints, labels and pooled features (512 little-endian float16): no pixels, nothing
pickled, nothing that leaves the machine. A photo is one row, keyed by its content fingerprint,
so the same photo labelled twice (or moved) is one correction with its latest label. The
feature may be missing (a photo labelled by hand is never classified); `learn` computes it.

A file that is damaged, not ours or of another schema version is renamed aside with one warning
and a new store is made, as the results cache does (app.cache.sqlstore). No Qt, no torch.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.cache import sqlstore
from app.cache.blobs import pack_feature, unpack_feature
from app.model.modelid import ModelId
from app.photos import imaging
from app.photos.fingerprint import fingerprint
from app.photos.oserrors import os_reason
from app.userdirs import data_dir

FILE_NAME = "corrections.sqlite3"
APPLICATION_ID = 0x53544372  # "STCr"
SCHEMA_VERSION = 1
WarnFn = Callable[[str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections(
    fingerprint BLOB PRIMARY KEY, path TEXT NOT NULL, label TEXT NOT NULL,
    feature BLOB, feature_model TEXT, time INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS corrections_path ON corrections(path);
"""


def _create(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)
    sqlstore.stamp(conn, STORE)
    conn.commit()


STORE = sqlstore.StoreKind(
    "corrections store",
    APPLICATION_ID,
    SCHEMA_VERSION,
    _create,
    check="SELECT count(*) FROM corrections",
)


@dataclass
class Correction:
    path: Path
    label: str
    fingerprint: bytes = b""
    feature: np.ndarray | None = field(default=None, repr=False)  # float32 (D,)
    feature_model: str | None = None  # the runtime that computed the feature
    time: int = 0


class StoreError(RuntimeError):
    """The store cannot be opened or written (the message says where and why)."""


class Corrections:
    """The store; a connection behind a lock, so a worker thread may use it."""

    def __init__(self, path: Path | None = None, warn: WarnFn | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / FILE_NAME
        self.warn = warn or (lambda message: None)
        self._lock = threading.Lock()
        self._conn = self._open()

    # ------------------------------------------------------------------------------ opening
    def _open(self) -> sqlite3.Connection:
        try:
            conn, _ = sqlstore.open_store(self.path, STORE, self.warn, timeout=15.0)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the corrections store {self.path} cannot be opened: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # it could not be set aside
            raise StoreError(str(exc)) from exc
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------------------ changes
    def record(self, items: Iterable[Correction]) -> int:
        """Add or update corrections (by content); a missing fingerprint is taken here, and a
        photo that cannot be read is skipped. Returns how many were written."""
        rows = []
        now = int(time.time())
        for c in items:
            fp = c.fingerprint
            if not fp:
                try:
                    fp = fingerprint(c.path)[0]
                except OSError as exc:
                    self.warn(f"{c.path}: not recorded as a correction: {os_reason(exc)}")
                    continue
            feat = pack_feature(c.feature)
            rows.append((fp, os.fspath(c.path), c.label, feat, c.feature_model, c.time or now))
        if not rows:
            return 0
        with self._lock, self._conn:
            for row in rows:
                # a new label without a feature keeps the feature already known for this content
                self._conn.execute(
                    "INSERT INTO corrections VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) "
                    "DO UPDATE SET path=excluded.path, label=excluded.label, time=excluded.time, "
                    "feature=coalesce(excluded.feature, feature), "
                    "feature_model=coalesce(excluded.feature_model, feature_model)",
                    row,
                )
        return len(rows)

    def set_features(self, items: Iterable[tuple[bytes, np.ndarray, str]]) -> None:
        """Fill in features computed later (fingerprint, feature, model id)."""
        with self._lock, self._conn:
            for fp, feat, model in items:
                self._conn.execute(
                    "UPDATE corrections SET feature=?, feature_model=? WHERE fingerprint=?",
                    (pack_feature(feat), model, fp),
                )

    def forget_paths(self, paths: Iterable[os.PathLike[str] | str]) -> int:
        """Drop the corrections of photos no longer labelled by hand (an undone label saved)."""
        with self._lock, self._conn:
            n = 0
            for p in paths:
                n += self._conn.execute(
                    "DELETE FROM corrections WHERE path=?", (os.fspath(p),)
                ).rowcount
            return n

    def clear(self) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM corrections")

    # ------------------------------------------------------------------------------ queries
    def all(self) -> list[Correction]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT fingerprint, path, label, feature, feature_model, time FROM corrections "
                "ORDER BY time, path"
            ).fetchall()
        out = []
        for fp, path, label, feat, model, t in rows:
            vec = None if feat is None else unpack_feature(feat).astype(np.float32)
            out.append(Correction(Path(path), label, fp, vec, model, t))
        return out

    def paths(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT path FROM corrections")}

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM corrections").fetchone()[0])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT label, count(*) FROM corrections GROUP BY label ORDER BY label"
            ).fetchall()
        return {label: int(n) for label, n in rows}


def with_features(items: Sequence[Correction]) -> tuple[list[Correction], list[Correction]]:
    """(those with a feature, those still needing one)."""
    return [c for c in items if c.feature is not None], [c for c in items if c.feature is None]


def base_model_id(model_id: str | None) -> str | None:
    """The runtime's id under a personal head ('…/int8+personal.3' -> '…/int8')."""
    return str(ModelId.parse(model_id).runtime) if model_id else None


def sync_session(
    store: Corrections,
    session: Any,
    ids: Iterable[int] | None = None,
    features: dict[Path, Any] | None = None,
    model_id: str | None = None,
) -> int:
    """After a save: every photo whose sidecar now holds a manual label is a correction, with
    its feature (from `features`, else this session's prediction); a photo whose manual label
    was taken back and saved is a correction no more. Returns how many were recorded."""
    records = session.records if ids is None else [session.records[i] for i in ids]
    features = features or {}
    known = store.paths()
    keep, drop = [], []
    for r in records:
        saved = r.saved
        failed = r.prediction is not None and not r.prediction.ok
        if failed and imaging.unreadable(r.path) is not None:
            # not a photo, or a broken one: nothing to learn from, so no correction to count
            if os.fspath(r.path) in known:
                drop.append(r.path)
        elif saved is not None and saved.source == "manual":
            feat, model = features.get(r.path), model_id
            if feat is None and r.prediction is not None:
                feat, model = getattr(r.prediction, "feature", None), r.model_id
            keep.append(
                Correction(
                    r.path,
                    saved.label,
                    feature=feat,
                    feature_model=base_model_id(model) if feat is not None else None,
                )
            )
        elif os.fspath(r.path) in known:
            drop.append(r.path)
    if drop:
        store.forget_paths(drop)
    return store.record(keep)
