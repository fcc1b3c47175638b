"""PyInstaller runtime hook for packaging checks; does nothing unless SCENE_TAGGER_PROBE is set.

The release check must know, from the bundle itself, when the window is on screen and whether
the model loaded, and must close the window cleanly. With SCENE_TAGGER_PROBE=SECONDS the
bundle prints to stderr

    probe: window shown after 1.23 s (torch already loaded: no)
    probe: model loaded (ok) after 3.45 s

(seconds since this hook ran, i.e. since the interpreter started) and, SECONDS after the model
loaded, closes the window as a user would (without the unsaved-labels question), so the app
quits through its own closeEvent (0: never). "Shown" means show() returned, the event loop
runs and the window has painted once; "torch already loaded" says whether torch was fully
imported by then (it should be loading on a worker thread instead). The app's own code is not
touched: the hook wraps QApplication.exec, which the app calls once, after showing its window.
"""

from __future__ import annotations

import os

MODEL_WAIT_S = 120  # a model that never reports: close anyway, the check then fails on it


def _install(value: str) -> None:
    import sys
    import time

    start = time.perf_counter()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    close_after_ms = int(float(value) * 1000)
    original_exec = QApplication.exec
    state = {"torch loaded": False, "model": False, "closing": False}

    def say(line: str, note: str = "") -> None:
        sys.stderr.write(f"probe: {line} after {time.perf_counter() - start:.2f} s{note}\n")
        sys.stderr.flush()

    def torch_loaded() -> bool:
        """torch fully imported (not merely being imported by a worker thread)."""
        torch = sys.modules.get("torch")
        return torch is not None and not getattr(torch.__spec__, "_initializing", False)

    def close_later(ms: int) -> None:
        if close_after_ms > 0:
            QTimer.singleShot(ms, close_all)

    def model_ready(ok: bool) -> None:
        if not state["model"]:
            state["model"] = True
            say(f"model loaded ({'ok' if ok else 'FAILED'})")
            close_later(close_after_ms)

    def shown() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        for window in windows:
            window.repaint()  # the first frame, painted now rather than whenever
        loaded = "yes" if state["torch loaded"] else "no"
        say("window shown", f" (torch already loaded: {loaded})")
        main = next((w for w in windows if hasattr(w, "classifier_changed")), None)
        if main is None:
            close_later(close_after_ms)
            return
        main.classifier_changed.connect(model_ready)
        if getattr(main, "classifier", None) is not None:
            model_ready(True)
        else:
            close_later(MODEL_WAIT_S * 1000)

    def close_all() -> None:
        # As a user would: close the window (its closeEvent stops the jobs), without the
        # unsaved-labels question; the app quits with its last window. QApplication.quit()
        # alone would skip closeEvent.
        if state["closing"]:
            return
        state["closing"] = True
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible():
                getattr(widget, "close_discarding", widget.close)()
        QTimer.singleShot(10_000, QApplication.quit)  # in case a window refused to close

    def exec_with_probe(*_args: object) -> int:
        state["torch loaded"] = torch_loaded()
        QTimer.singleShot(0, shown)
        return original_exec()

    QApplication.exec = exec_with_probe  # type: ignore[method-assign]


_value = os.environ.get("SCENE_TAGGER_PROBE")
if _value:
    _install(_value)
