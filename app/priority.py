"""The GUI thread first: background Python work steps aside while the GUI thread is busy.

Python threads share one interpreter lock. A window's repaint or relayout calls from Qt into
Python hundreds of times (each delegate paint, each `data()` and `rowCount()`), and each call
takes the lock back from whichever thread holds it; behind a thread that runs Python without
pause (listing 100,000 files, a flood of cache hits) each of those calls waits up to the
interpreter's switch interval, and a 5 ms repaint becomes a 100 ms stall (docs/window_scan.md).

So the window marks its own work (`gui_work()`: every guarded slot, the photo views' paints,
layout passes and timers), and long loops in other threads call `pause()` between items:
while the GUI thread works they wait for it, at most MAX_WAIT_S; a thread that waited that
long then runs FREE_S unhindered, so a GUI thread that is never idle slows the others down
without stopping them. Outside the window (the command line, tests) nothing is marked, and
`pause()` returns at once. No Qt here: loops in app/ call it without knowing of a window.
(Qt's own awake/aboutToBlock signals do not say it: with the GLib event dispatcher both come
before the events they would bracket.)
"""

from __future__ import annotations

import threading
import time

MAX_WAIT_S = 0.02  # the longest one pause() waits for a busy GUI thread
FREE_S = 0.01  # then the thread runs this long before it pauses again

_idle = threading.Event()
_idle.set()
_local = threading.local()


class _GuiWork:
    """`with gui_work():` around work of the GUI thread (nested is fine; other threads'
    `with` does nothing): other threads' pause() waits until the outermost one ends."""

    depth = 0
    thread: int | None = None  # the GUI thread, set by set_gui_thread()

    def __enter__(self) -> None:
        if threading.get_ident() == self.thread:
            _GuiWork.depth += 1
            _idle.clear()

    def __exit__(self, *exc: object) -> None:
        if threading.get_ident() == self.thread:
            _GuiWork.depth -= 1
            if not _GuiWork.depth:
                _idle.set()


_gui_work = _GuiWork()


def set_gui_thread() -> None:
    """The calling thread is the GUI thread: its gui_work() holds the others back."""
    _GuiWork.thread = threading.get_ident()


def gui_work() -> _GuiWork:
    return _gui_work


def pause() -> None:
    """Between two items of a long loop off the GUI thread: wait while the GUI thread is busy."""
    if _idle.is_set():
        return
    if time.monotonic() < getattr(_local, "free_until", 0.0):
        return
    if not _idle.wait(MAX_WAIT_S):
        _local.free_until = time.monotonic() + FREE_S
