"""PyInstaller runtime hook for packaging checks; does nothing unless SCENE_TAGGER_PROBE is set.

The release check must know, from the bundle itself, when the window is on screen and whether
the model loaded, and must close the window cleanly. With SCENE_TAGGER_PROBE=SECONDS the
bundle prints to stderr

    probe: window shown after 1.23 s (torch imported before the window: no)
    probe: model loaded (ok) after 2.34 s

(seconds since this hook ran, i.e. since the interpreter started) and, SECONDS after the window
is shown, closes it as a user would (without the unsaved-labels question), so the app quits
through its own closeEvent (0: never). "Shown" means show() returned, the event loop runs and the
window has painted once. The app's own code is not touched: the hook wraps
QApplication.exec, which the app calls once, after showing its window.
"""

from __future__ import annotations

import os


def _install(value: str) -> None:
    import sys
    import time

    start = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    quit_after = float(value)
    original_exec = QApplication.exec

    torch_early = False

    def say(line: str, note: str = "") -> None:
        sys.stderr.write(f"probe: {line} after {time.perf_counter() - start:.2f} s{note}\n")
        sys.stderr.flush()

    def shown() -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible():
                widget.repaint()  # the first frame, painted now rather than whenever
                signal = getattr(widget, "classifier_changed", None)
                if signal is not None:
                    signal.connect(lambda ok: say(f"model loaded ({'ok' if ok else 'FAILED'})"))
                    if getattr(widget, "classifier", None) is not None:
                        say("model loaded (ok)")  # already there
        say(
            "window shown", f" (torch imported before the window: {'yes' if torch_early else 'no'})"
        )
        if quit_after > 0:
            QTimer.singleShot(int(quit_after * 1000), close_all)

    def close_all() -> None:
        # As a user would: close the window (whose closeEvent stops the jobs), without the
        # unsaved-labels question; the app quits with its last window. QApplication.quit()
        # alone would skip closeEvent.
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible():
                getattr(widget, "close_discarding", widget.close)()
        QTimer.singleShot(10_000, QApplication.quit)  # in case a window refused to close

    def exec_with_probe(*_args: object) -> int:
        nonlocal torch_early
        torch_early = "torch" in sys.modules
        QTimer.singleShot(0, shown)
        return original_exec()

    QApplication.exec = exec_with_probe  # type: ignore[method-assign]


_value = os.environ.get("SCENE_TAGGER_PROBE")
if _value:
    _install(_value)
