"""The results cache: every prediction, keyed by the photo's content and the model that made it.

One SQLite file in the user cache folder (`results.sqlite3`); docs/cache.md measures each choice.

- Key: (content fingerprint, model id + runtime variant). app.photos.fingerprint hashes every byte;
  its stat key (device, inode, size, mtime_ns, ctime_ns) lets an unchanged file skip that.
- Bound: least recently used results go past a byte limit (1 GiB, `cache limit`; ~800k photos).
- Safety: WAL mode, each write one short IMMEDIATE transaction with a busy timeout, so several
  processes share the file. A damaged or foreign file is renamed aside and rebuilt with one
  warning; a write that fails (disk full, locked too long) is skipped with one warning. The
  cache only accelerates: no failure of it may stop a run or change an answer.

Threads: a Library may be shared by threads (one connection behind a lock); every call does disk
I/O, so call it from a worker, never the GUI thread. `app.cache.cached.CachedClassifier` puts it in
front of a classifier; `app.cache.library_export` writes and merges JSONL exports.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import priority
from app.cache import sqlstore
from app.cache.blobs import pack_feature, pack_scores, unpack_feature, unpack_scores
from app.photos.fingerprint import FileKey, fingerprint
from app.userdirs import cache_dir

if TYPE_CHECKING:
    from app.model.engine import Prediction

FILE_NAME = "results.sqlite3"
APPLICATION_ID = 0x53546167  # "STag": a file without it is not ours
SCHEMA_VERSION = 1
DEFAULT_MAX_BYTES = 1 << 30
RACY_SECONDS = 2.0  # covers FAT's 2 s mtime steps and coarse kernel clocks
BUSY_TIMEOUT_S = 15.0  # how long a writer waits for another process's transaction
DAY = 86400  # `used` is refreshed at most once a day per row: hits rarely write
PRUNE_TO = 0.9  # a prune leaves the database at this fraction of its limit

WarnFn = Callable[[str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models(
    id INTEGER PRIMARY KEY, model_id TEXT NOT NULL UNIQUE, classes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, fingerprint BLOB NOT NULL,
    PRIMARY KEY(dev, ino)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results(
    fingerprint BLOB NOT NULL, model INTEGER NOT NULL, label TEXT NOT NULL,
    scores BLOB NOT NULL, feature BLOB, used INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS results_key ON results(fingerprint, model);
CREATE INDEX IF NOT EXISTS results_used ON results(used);
"""


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA page_size=8192")  # 7 results with features fit a page, not 3
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # before the first table: prunes shrink
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] == 0:  # no other process did
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            sqlstore.stamp(conn, STORE)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable enough for a cache


STORE = sqlstore.StoreKind(
    "results cache",
    APPLICATION_ID,
    SCHEMA_VERSION,
    _create,
    _prepare,
    "SELECT count(*) FROM models",
)
_OPTIONS: dict[str, object] = {"timeout": BUSY_TIMEOUT_S, "isolation_level": None}


def default_path() -> Path:
    """results.sqlite3 in the cache folder (app.userdirs: `$SCENE_TAGGER_CACHE` or the
    platform's)."""
    return cache_dir() / FILE_NAME


def _prediction(path: Path, classes: Sequence[str], label: str, scores: bytes, feature: Any):
    from app.model.engine import Prediction

    values = unpack_scores(scores)
    score_map = {c: float(v) for c, v in zip(classes, values, strict=True)}
    # the best scene is stored; "none" is decided again on the way out (CachedClassifier)
    best = label if label in score_map else max(score_map, key=score_map.__getitem__)
    return Prediction(path, best, score_map[best], score_map, feature=unpack_feature(feature))


@dataclass
class Lookup:
    """The outcome of `Library.lookup`: cached predictions (path order) and what still needs the
    model, with the fingerprints taken so `store` need not read the files again."""

    hits: list[Prediction] = field(default_factory=list)
    misses: list[Path] = field(default_factory=list)
    keys: dict[Path, tuple[bytes, FileKey]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    rows: int
    with_feature: int


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    file_bytes: int  # the database, its WAL and shared-memory files on disk
    used_bytes: int  # pages holding data (the rest is free space a later write reuses)
    max_bytes: int
    rows: int
    files: int  # stat short cuts (one per inode seen)
    models: list[ModelInfo]


class Library:
    """The results cache. Every method may be called from any thread (they serialize on a lock);
    none raises for a cache problem: it warns once per kind of problem and carries on."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_bytes: int | None = None,
        warn: WarnFn | None = None,
        racy_seconds: float = RACY_SECONDS,
    ) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.racy_seconds = racy_seconds
        self._warn_fn = warn
        self._warned: set[str] = set()
        self._lock = threading.RLock()
        self._models: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._conn: sqlite3.Connection | None = None
        self._max_bytes_arg = max_bytes
        self.set_aside: list[Path] = []  # files renamed because they were corrupt or foreign
        self._connect()

    # -- opening, setting aside ----------------------------------------------------------
    def warn(self, kind: str, message: str) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        if self._warn_fn is not None:
            self._warn_fn(message)

    def _connect(self) -> None:
        """Open the database; a damaged or foreign file is set aside and a new one made."""
        try:
            self._conn, aside = sqlstore.open_store(
                self.path, STORE, lambda message: self.warn("set-aside", message), **_OPTIONS
            )
        except sqlite3.OperationalError as exc:  # locked, cannot create, I/O: not the file's fault
            self._disable(f"results cache unavailable ({exc}); running without it")
        except sqlite3.DatabaseError as exc:  # could not be set aside, or the new one failed
            self._disable(f"results cache unusable ({exc}); running without it")
        else:
            if aside is not None:
                self.set_aside.append(aside)

    def _disable(self, message: str) -> None:
        self._conn = None
        self.warn("unavailable", message)

    def _set_aside(self) -> Path | None:
        aside = sqlstore.set_aside(self.path)
        if aside is not None:
            self.set_aside.append(aside)
        return aside

    @property
    def available(self) -> bool:  # False: running without a cache (it warned why)
        return self._conn is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running statements safely -------------------------------------------------------
    def query(
        self, doing: str, fn: Callable[[sqlite3.Connection], Any], default: Any, kind: str = ""
    ) -> Any:
        """`fn(conn)` under the lock; a cache problem becomes one warning and `default`."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return default
            try:
                return fn(conn)
            except sqlite3.OperationalError as exc:  # locked too long, disk full, I/O error
                self.warn(kind or doing, f"results cache: {doing} skipped ({exc})")
                return default
            except sqlite3.DatabaseError as exc:  # the file is damaged: start a new one
                self.close()
                self._models.clear()
                aside = self._set_aside()
                where = f"moved to {aside.name}" if aside else "left in place"
                self.warn("set-aside", f"results cache damaged ({exc}); {where}, starting afresh")
                try:
                    self._conn = sqlstore.connect(self.path, STORE, **_OPTIONS)
                except (sqlite3.DatabaseError, OSError) as again:
                    self._disable(f"results cache unavailable ({again}); running without it")
                return default

    def transaction(self, doing: str, fn: Callable[[sqlite3.Connection], Any], default: Any) -> Any:
        """`fn(conn)` inside one IMMEDIATE transaction, guarded like every other call."""
        return self.query(doing, lambda conn: self._write(conn, fn), default, kind="write")

    def prune(self) -> int:
        """Enforce the byte limit now (stores do it on their own); rows dropped."""
        return self.query("prune", self._prune_if_needed, 0, kind="write")

    @staticmethod
    def _write(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = fn(conn)
            conn.execute("COMMIT")
            return out
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _model(self, conn: sqlite3.Connection, model_id: str) -> tuple[int, tuple[str, ...]] | None:
        if model_id not in self._models:
            row = conn.execute(
                "SELECT id, classes FROM models WHERE model_id=?", (model_id,)
            ).fetchone()
            if row is None:
                return None
            self._models[model_id] = (row[0], tuple(json.loads(row[1])))
        return self._models[model_id]

    def model_row(
        self, conn: sqlite3.Connection, model_id: str, classes: Sequence[str]
    ) -> tuple[int, tuple[str, ...]]:
        conn.execute(
            "INSERT OR IGNORE INTO models(model_id, classes) VALUES (?, ?)",
            (model_id, json.dumps(list(classes))),
        )
        self._models.pop(model_id, None)  # another process may have cleared and re-added it
        found = self._model(conn, model_id)
        assert found is not None
        return found

    # -- the two calls a classifier needs ----------------------------------------------------
    def lookup(self, paths: Iterable[Any], model_id: str, hash_unknown: bool = True) -> Lookup:
        """Cached predictions of `model_id` for these files, and the files it has none for.

        Hashes the files whose stat key is unknown or unsettled (`hash_unknown=False`: they are
        misses without a key, a look that reads no file). A file that cannot be stat'ed or read
        is a miss without a key (the classifier then reports why); nothing raises."""
        out = Lookup()
        paths = [p if isinstance(p, Path) else Path(p) for p in paths]  # no re-parse: 100k+

        now_ns = time.time_ns()
        new_files: dict[tuple[int, int], tuple[FileKey, bytes]] = {}
        hit_digests: list[bytes] = []

        def run(conn: sqlite3.Connection) -> tuple[int, tuple[str, ...]] | None:
            model = self._model(conn, model_id)
            if model is None and not hash_unknown:  # nothing stored for it: all misses, no stat
                out.misses.extend(paths)
                return None
            known: dict[tuple[int, int], tuple[FileKey, bytes] | None] = {}
            rows: dict[bytes, tuple[str, bytes, bytes | None] | None] = {}
            for path in paths:
                priority.pause()
                fp = self._fingerprint(conn, path, now_ns, known, new_files, hash_unknown)
                if fp is None:
                    out.misses.append(path)
                    continue
                out.keys[path] = fp
                if model is None:
                    out.misses.append(path)
                    continue
                digest = fp[0]
                if digest not in rows:
                    rows[digest] = conn.execute(
                        "SELECT label, scores, feature FROM results WHERE fingerprint=? AND model=?",
                        (digest, model[0]),
                    ).fetchone()
                row = rows[digest]
                if row is None:
                    out.misses.append(path)
                else:
                    out.hits.append(_prediction(path, model[1], *row))
            hit_digests.extend(d for d, r in rows.items() if r)
            return model

        if self.query("lookup", run, False) is False:  # the cache failed: all go to the model
            return Lookup(misses=paths, keys=out.keys)
        if new_files or hit_digests:  # a failed write costs speed later, never an answer
            model = self._models.get(model_id)
            self.transaction(
                "write", lambda c: self._remember(c, now_ns, new_files, model, hit_digests), None
            )
        return out

    def _fingerprint(
        self,
        conn: sqlite3.Connection,
        path: Path,
        now_ns: int,
        known: dict[tuple[int, int], tuple[FileKey, bytes] | None],
        new_files: dict[tuple[int, int], tuple[FileKey, bytes]],
        hash_unknown: bool = True,
    ) -> tuple[bytes, FileKey] | None:
        try:
            key = FileKey.of(os.stat(path))
        except OSError:
            return None
        inode = (key.dev, key.ino)
        if inode not in known and key.settled(now_ns, self.racy_seconds):
            row = conn.execute(
                "SELECT size, mtime_ns, ctime_ns, fingerprint FROM files WHERE dev=? AND ino=?",
                inode,
            ).fetchone()
            known[inode] = (FileKey(*inode, *row[:3]), row[3]) if row else None
        cached = known.get(inode)
        if cached is not None and cached[0] == key:
            return cached[1], key
        if not hash_unknown:
            return None
        try:
            digest, key = fingerprint(path)
        except OSError:
            return None
        if key.settled(now_ns, self.racy_seconds):
            known[inode] = new_files[inode] = (key, digest)
        return digest, key

    @staticmethod
    def _remember(
        c: sqlite3.Connection,
        now_ns: int,
        new_files: dict[tuple[int, int], tuple[FileKey, bytes]],
        model: tuple[int, tuple[str, ...]] | None,
        hit_digests: list[bytes],
    ) -> None:
        """Store new stat short cuts and mark hits as used (at most once a day per row)."""
        now = now_ns // 1_000_000_000
        c.executemany(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            [(k.dev, k.ino, k.size, k.mtime_ns, k.ctime_ns, d) for k, d in new_files.values()],
        )
        if model is not None:
            c.executemany(
                "UPDATE results SET used=? WHERE fingerprint=? AND model=? AND used<?",
                [(now, d, model[0], now - DAY) for d in hit_digests],
            )

    def store(
        self,
        predictions: Iterable[Prediction],
        model_id: str,
        keys: dict[Path, tuple[bytes, FileKey]] | None = None,
    ) -> int:
        """Keep the successful predictions; returns how many rows were written.

        Pass `keys` from the `lookup` made before classifying: a file whose stat key moved
        since then changed while it was classified, and is not stored. A file without a key is
        hashed now, which is right only if it cannot have changed since it was classified."""
        items = []
        for pred in predictions:
            if not pred.ok or not pred.scores:
                continue
            path = Path(pred.path)
            key = (keys or {}).get(path)
            try:
                if key is None:
                    key = fingerprint(path)
                elif FileKey.of(os.stat(path)) != key[1]:
                    continue
            except OSError:
                continue
            items.append((key, pred))
        if not items:
            return 0
        now_ns = time.time_ns()
        classes = list(items[0][1].scores or {})

        def write(conn: sqlite3.Connection) -> int:
            model_row, _ = self.model_row(conn, model_id, classes)
            conn.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        digest,
                        model_row,
                        getattr(p, "scene", None) or p.label,
                        pack_scores((p.scores or {}).values()),
                        pack_feature(getattr(p, "feature", None)),
                        now_ns // 1_000_000_000,
                    )
                    for (digest, _), p in items
                ],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (k.dev, k.ino, k.size, k.mtime_ns, k.ctime_ns, digest)
                    for (digest, k), _ in items
                    if k.settled(now_ns, self.racy_seconds)
                ],
            )
            return len(items)

        written = self.transaction("write", write, 0)
        if written:
            self.prune()
        return written

    # -- size ----------------------------------------------------------------------------
    @property
    def max_bytes(self) -> int:
        if self._max_bytes_arg is not None:
            return self._max_bytes_arg
        stored = self.query(
            "read settings",
            lambda c: c.execute("SELECT value FROM meta WHERE key='max_bytes'").fetchone(),
            None,
        )
        return int(stored[0]) if stored else DEFAULT_MAX_BYTES

    def set_max_bytes(self, limit: int) -> None:
        """Persist the byte limit (every later Library on this file obeys it) and prune to it."""
        self.query(
            "write settings",
            lambda c: self._write(
                c,
                lambda w: w.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('max_bytes', ?)", (str(int(limit)),)
                ),
            ),
            None,
        )
        self._max_bytes_arg = None
        self.prune()

    @staticmethod
    def _used_bytes(conn: sqlite3.Connection) -> int:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * conn.execute("PRAGMA page_size").fetchone()[0]

    def _prune_if_needed(self, conn: sqlite3.Connection) -> int:
        """Drop the least recently used results until the data fits PRUNE_TO of the limit."""
        limit = self.max_bytes
        used = self._used_bytes(conn)
        if used <= limit:
            return 0
        rows = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        if not rows:
            return 0
        per_row = used / rows
        drop = min(rows, int((used - PRUNE_TO * limit) / per_row) + 1)

        def prune(c: sqlite3.Connection) -> None:
            c.execute(
                "DELETE FROM results WHERE rowid IN "
                "(SELECT rowid FROM results ORDER BY used LIMIT ?)",
                (drop,),
            )
            c.execute(
                "DELETE FROM files WHERE fingerprint NOT IN (SELECT fingerprint FROM results)"
            )

        self._write(conn, prune)
        conn.execute("PRAGMA incremental_vacuum")
        return drop

    def info(self) -> CacheInfo:
        def run(conn: sqlite3.Connection) -> CacheInfo:
            models = [
                ModelInfo(m, n, f)
                for m, n, f in conn.execute(
                    "SELECT m.model_id, count(r.model), count(r.feature) FROM models m "
                    "LEFT JOIN results r ON r.model = m.id GROUP BY m.id ORDER BY m.model_id"
                )
            ]
            return CacheInfo(
                self.path,
                self._file_bytes(),
                self._used_bytes(conn),
                self.max_bytes,
                sum(m.rows for m in models),
                conn.execute("SELECT count(*) FROM files").fetchone()[0],
                models,
            )

        empty = CacheInfo(self.path, self._file_bytes(), 0, self.max_bytes, 0, 0, [])
        return self.query("info", run, empty)

    def _file_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self.path}{suffix}").st_size
        return total

    def clear(self) -> int:
        """Empty the cache (results, stat short cuts, models; the limit stays); rows removed."""

        def wipe(c: sqlite3.Connection) -> int:
            n = c.execute("SELECT count(*) FROM results").fetchone()[0]
            c.execute("DELETE FROM results")
            c.execute("DELETE FROM files")
            c.execute("DELETE FROM models")
            return n

        removed = self.transaction("clear", wipe, 0)
        self._models.clear()
        self.query("shrink", lambda conn: conn.execute("VACUUM"), None)
        self.query("shrink", lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)"), None)
        return removed
