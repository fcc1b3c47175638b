"""Checks on the Qt binding that the window depends on.

PySide6 6.12.0 is built for Pythons whose None/True/False are immortal (3.12+). On Python 3.11
it drops a reference to None on every call of a void method and to True on every signal
emit; after a few hundred emits the interpreter aborts ("deallocating True or False"). The
window refuses to start on such a binding with a clear message instead of crashing later.
"""

from __future__ import annotations

import sys

_compensation: list[object] = []  # references given back to None after the probe


def binding_problem() -> str | None:
    """A sentence explaining why this PySide6 cannot run the window, or None when it can."""
    if sys.version_info >= (3, 12):
        return None  # immortal singletons: the bug cannot hurt
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(20):
        probe.setObjectName("probe")
    lost = before - sys.getrefcount(None)
    if lost <= 10:
        return None
    _compensation.extend([None] * lost)  # give back what the probe took
    return (
        f"PySide6 {pyside_version} has a reference-counting bug on Python "
        f"{sys.version_info.major}.{sys.version_info.minor} that crashes the window "
        "('deallocating True or False'). Install PySide6<6.12 (pip install 'PySide6<6.12') "
        "or use Python 3.12 or newer."
    )
