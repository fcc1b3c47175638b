"""A session's file work, touching no session state, so it may run in a worker thread: read
the sidecars of a photo's files, write a save plan's sidecars and read them back. app.tagging.session
makes the plans (SaveItem) and takes the outcomes (SaveOutcome) in the thread that owns it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import defaults, priority
from app.photos.oserrors import os_reason
from app.tagging import sidecar

ProgressFn = Callable[[int, int], None]


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text for people and JSON: a name that is not valid UTF-8 (caf\\xe9.jpg from an
    old FAT or Samba share) keeps every other character and shows U+FFFD where the bad bytes
    were (Python's str would carry invisible surrogates that Qt and JSON readers drop)."""
    return os.fsencode(path).decode("utf-8", "replace")


@dataclass(frozen=True)
class SaveItem:
    """One sidecar to write, snapshot in the GUI thread; `tag=None` means remove our scene tag."""

    id: int
    path: Path
    tag: sidecar.SceneTag | None
    clear_first: bool = False  # a saved manual label must go before an automatic one can be written
    companions: tuple[tuple[Path, bool], ...] = ()  # a pair's RAW files, each with its clear_first


@dataclass(frozen=True)
class SaveOutcome:
    id: int
    path: Path
    info: sidecar.SidecarInfo | None  # the sidecar re-read after writing (None when it failed)
    error: str | None = None
    skipped_reason: str | None = None
    planned_manual: str | None = None  # the manual label the plan wrote (None: not manual)
    companion_infos: tuple[sidecar.SidecarInfo | None, ...] = ()  # a pair's RAW sidecars, re-read

    @property
    def sidecars(self) -> list[Path]:
        """Every sidecar the save left, the photo's first."""
        infos = (self.info, *self.companion_infos)
        return [i.path for i in infos if i is not None and i.path is not None]


def _read(
    path: Path, naming: str = defaults.NAMING
) -> tuple[sidecar.SidecarInfo | None, str | None]:
    try:
        return sidecar.read_sidecar(path, naming), None
    except sidecar.SidecarError as exc:
        return None, f"sidecar: {exc}"
    except OSError as exc:
        return None, f"sidecar: {os_reason(exc)}"


Infos = tuple[sidecar.SidecarInfo | None, ...]  # one per file of a record (path first)


def read_files(files: Sequence[Path], naming: str) -> tuple[Infos, str | None]:
    """The sidecars of a photo's files; a pair's errors name the file they belong to."""
    infos, errors = [], []
    for n, path in enumerate(files):
        info, err = _read(path, naming)
        infos.append(info)
        if err:
            errors.append(err if n == 0 else f"{display_path(path.name)}: {err}")
    return tuple(infos), "; ".join(errors) or None


def read_sidecar_infos(
    photos: Sequence[tuple[int, Sequence[Path]]], naming: str = defaults.NAMING
) -> list[tuple[int, Infos, str | None]]:
    """Read the sidecars of (id, files) pairs (files: PhotoRecord.files); touches no
    session, so it may run in a worker."""
    out = []
    for rid, files in photos:
        priority.pause()
        out.append((rid, *read_files(files, naming)))
    return out


def execute_save(
    items: Sequence[SaveItem],
    *,
    naming: str = defaults.NAMING,
    parent: str = defaults.PARENT,
    root: Path | None = None,
    progress: ProgressFn | None = None,
    cancel: Any = None,
) -> list[SaveOutcome]:
    """Write each sidecar and read it back; touches no session state, so it may run in a
    worker. A failure is an outcome for that photo, never an exception that stops the rest.
    `root`: the folder tree being tagged; no sidecar link leading out of it is written through."""
    outcomes = []
    for n, item in enumerate(items, 1):
        if cancel is not None and cancel.is_set():
            break
        planned = item.tag.label if item.tag and item.tag.source == "manual" else None
        files = ((item.path, item.clear_first), *item.companions)
        done = [_save_file(p, item.tag, clear, naming, parent, root) for p, clear in files]
        errors = [
            e if k == 0 else f"{display_path(files[k][0].name)}: {e}"
            for k, (_, e, _) in enumerate(done)
            if e
        ]
        skipped = next((s for _, _, s in done if s), None)
        outcomes.append(
            SaveOutcome(
                item.id,
                item.path,
                done[0][0],
                "; ".join(errors) or None,
                skipped,
                planned,
                tuple(info for info, _, _ in done[1:]),
            )
        )
        if progress:
            progress(n, len(items))
    return outcomes


def _save_file(
    path: Path,
    tag: sidecar.SceneTag | None,
    clear_first: bool,
    naming: str,
    parent: str,
    root: Path | None,
) -> tuple[sidecar.SidecarInfo | None, str | None, str | None]:
    """Write one file's sidecar and read it back: (info, error, skipped reason)."""
    skipped = None
    try:
        if tag is None or clear_first:
            sidecar.clear_scene(path, parent=parent, naming=naming, root=root)
        if tag is not None:
            skipped = sidecar.write_scene(
                path, tag, naming=naming, parent=parent, root=root
            ).skipped_reason
        info, err = _read(path, naming)
        return info, err, skipped
    except sidecar.SidecarError as exc:
        return None, str(exc), None  # names the file and why
    except OSError as exc:
        return None, f"sidecar not written: {os_reason(exc)}", None
    except ValueError as exc:
        return None, f"sidecar not written: {exc}", None
