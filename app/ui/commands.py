"""Undo commands: one small command per user action, holding ids, old labels and the new label.

A bulk action (a drop of 500 photos, key 3 on a selection) is one command over many ids, so one
Ctrl+Z undoes it whole, exactly as a macro would, at the cost of one model update instead of
hundreds. Saving is not a command: it does not change what the user decided, only the disk.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QUndoCommand

from app.tagging.session import Session


def describe(label: str | None, count: int) -> str:
    what = f"{count} photo" + ("s" if count != 1 else "")
    return f"Mark {what} as {label}" if label else f"Return {what} to the automatic label"


class AssignSceneCommand(QUndoCommand):
    """Set the manual label of some photos (None = back to automatic)."""

    def __init__(self, session: Session, ids: Sequence[int], label: str | None) -> None:
        self.session = session
        self.label = label
        records = session.records
        # files that proved to be no image get no scene (PhotoRecord.labelable), as in `label`
        self.refused = [i for i in ids if label is not None and not records[i].labelable]
        refused = set(self.refused)
        self.old = {
            i: records[i].manual for i in ids if records[i].manual != label and i not in refused
        }
        super().__init__(describe(label, len(self.old)))

    def is_noop(self) -> bool:
        return not self.old

    def redo(self) -> None:
        self.session.set_manual(list(self.old), self.label)

    def undo(self) -> None:
        self.session.restore_manual(dict(self.old))
