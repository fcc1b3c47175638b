"""Opening one of the app's SQLite files, the same way for each: the results cache
(app.cache.library) and the corrections store (app.personal.corrections).

A store is ours when its `application_id` is its kind's and its `user_version` the schema
version this code reads; an empty file is made one. A file that is damaged, not ours or of
another version is renamed aside (`<name>.broken-<time>-<pid>`, with its -wal and -shm, never
deleted: a person may want it back) and a new one is made, with one warning saying where the
old one went. No Qt.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.photos.oserrors import os_reason

WarnFn = Callable[[str], None]


@dataclass(frozen=True)
class StoreKind:
    what: str  # how messages name it: "results cache", "corrections store"
    application_id: int  # PRAGMA application_id: a file without it is not ours
    schema_version: int  # PRAGMA user_version this code reads and writes
    create: Callable[[sqlite3.Connection], None]  # makes the tables in an empty file
    prepare: Callable[[sqlite3.Connection], None] = lambda conn: None  # pragmas, each open
    check: str = "SELECT 1"  # a read that fails on a damaged file


class StoreUnusable(sqlite3.DatabaseError):
    """The file is unusable and could not be set aside (the message says why)."""


def connect(path: Path, kind: StoreKind, **options: object) -> sqlite3.Connection:
    """Open `path` as a store of `kind` (made when the file is new). sqlite3.DatabaseError:
    the file is damaged, not ours or of another schema version; sqlite3.OperationalError: it
    cannot be opened at all (the folder cannot be made, locked, I/O), not the file's fault.
    `options` go to sqlite3.connect."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise sqlite3.OperationalError(f"cannot create {path.parent}: {os_reason(exc)}") from exc
    if path.is_dir():
        raise sqlite3.DatabaseError("a folder stands where the database should be")
    conn = sqlite3.connect(path, check_same_thread=False, **options)  # type: ignore[arg-type]
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables == 0 and app_id == 0:
            kind.create(conn)
        elif app_id != kind.application_id:
            raise sqlite3.DatabaseError(f"not a Scene Tagger {kind.what}")
        elif version != kind.schema_version:
            raise sqlite3.DatabaseError(
                f"{kind.what} format {version}, this version reads {kind.schema_version}"
            )
        kind.prepare(conn)
        conn.execute(kind.check).fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def stamp(conn: sqlite3.Connection, kind: StoreKind) -> None:
    """Mark a new file as ours, at this schema version (inside `create`'s transaction)."""
    conn.execute(f"PRAGMA application_id={kind.application_id}")
    conn.execute(f"PRAGMA user_version={kind.schema_version}")


def set_aside(path: Path) -> Path | None:
    """Rename the database (and its -wal/-shm) out of the way, never deleting anything; the
    new name, or None when it could not be moved."""
    when = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{when}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except OSError:
        return None
    for suffix in ("-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            with contextlib.suppress(OSError):
                os.replace(companion, Path(f"{aside}{suffix}"))
    return aside


def open_store(
    path: Path, kind: StoreKind, warn: WarnFn, **options: object
) -> tuple[sqlite3.Connection, Path | None]:
    """`connect`, and when the file is unusable: set it aside, `warn` once where it went, and
    make a new one. Returns the connection and where the old file went (None: it was fine).
    StoreUnusable when it could not be set aside; sqlite3.OperationalError as `connect`."""
    try:
        return connect(path, kind, **options), None
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    aside = set_aside(path)
    if aside is None:
        raise StoreUnusable(f"the {kind.what} {path} is unusable ({problem}) and cannot be moved")
    warn(
        f"the {kind.what} {path} was unusable ({problem}); set aside, moved to {aside.name}, "
        "and started afresh"
    )
    return connect(path, kind, **options), aside
