"""The corrections store: every manual label the person saved, with the feature the model saw.

One SQLite file, `corrections.sqlite3`, in the user data folder (`platformdirs.user_data_dir`,
or `$SCENE_TAGGER_DATA`): the personal head (app.personal.head) learns from it. It holds paths,
content fingerprints, labels and pooled features (512 little-endian float16): no pixels, nothing
pickled, nothing that leaves the machine. A photo is one row, keyed by its content fingerprint,
so the same photo labelled twice (or moved) is one correction with its latest label. The
feature may be missing (a photo labelled by hand is never classified); `learn` computes it.

A file that is not ours or cannot be read is renamed aside (`…broken-<time>-<pid>`) with one
warning and a new store is made, as the results cache does. No Qt, no torch.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.cache.blobs import pack_feature, unpack_feature
from app.photos.fingerprint import fingerprint
from app.photos.oserrors import os_reason

APP_NAME = "scene-tagger"
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


def data_dir() -> Path:
    """`$SCENE_TAGGER_DATA`, else the platform's user data folder (not the cache: a cache may
    be emptied at any time, the person's corrections and personal models may not)."""
    from platformdirs import user_data_dir

    return Path(os.environ.get("SCENE_TAGGER_DATA") or user_data_dir(APP_NAME))


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {os_reason(exc)}") from exc
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(
                f"{self.path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            )
            try:
                os.replace(self.path, aside)
            except OSError as move_exc:
                raise StoreError(
                    f"the corrections store {self.path} is damaged ({exc}) and cannot be "
                    f"set aside: {os_reason(move_exc)}"
                ) from exc
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.remove(f"{self.path}{suffix}")
            self.warn(
                f"the corrections store {self.path} was damaged or not ours ({exc}); it was "
                f"set aside as {aside.name} and a new one started"
            )
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise sqlite3.DatabaseError("a folder is in its place")
        conn = sqlite3.connect(self.path, timeout=15.0, check_same_thread=False)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id != APPLICATION_ID and tables:
                raise sqlite3.DatabaseError("not a Scene Tagger corrections store")
            if app_id != APPLICATION_ID:
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.executescript(_SCHEMA)
            conn.execute("SELECT count(*) FROM corrections").fetchone()
            conn.commit()
        except sqlite3.DatabaseError:
            conn.close()
            raise
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
    return model_id.split("+personal.")[0] if model_id else None


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
        if saved is not None and saved.source == "manual":
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
