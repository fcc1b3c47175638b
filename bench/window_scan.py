"""Scan a labelled folder in the real window (offscreen) and check the groups it shows.

    python bench/window_scan.py [--data ../shared/data/intel-scenes/seg_test] [--limit N]

Builds a flat folder of symlinks named `<class>__<file>` (the window scans one folder), opens it
in MainWindow with the bundled model, waits for the scan, then reports: photos in each group,
the share whose group matches the folder they came from, time, photos/s and the longest
event-loop stall seen during the scan (a 10 ms timer measures it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.model.scenes import CLASSES

DEFAULT = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "intel-scenes" / "seg_test"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, default=DEFAULT, help="folder with one sub-folder per class"
    )
    p.add_argument("--limit", type=int, default=0, help="photos per class (0: all)")
    p.add_argument("--timeout", type=float, default=3600)
    args = p.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from app.model.engine import Classifier
    from app.ui.main import make_app
    from app.ui.settings import Settings
    from app.ui.window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="scene-tagger-scan-"))
    folder = tmp / "photos"
    folder.mkdir()
    for cls in CLASSES:
        files = sorted((args.data / cls).iterdir())
        for f in files[: args.limit or None]:
            (folder / f"{cls}__{f.name}").symlink_to(f.resolve())
    n = sum(1 for _ in folder.iterdir())

    app = make_app()  # noqa: F841 - the QApplication must live while the window runs
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win = MainWindow(
        settings=settings, classifier_factory=lambda device: Classifier(), cache_dir=tmp / "thumbs"
    )
    win.resize(1400, 900)
    win.show()

    gaps: list[tuple[float, float]] = []  # (gap, when it ended, from the folder's opening)
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        gaps.append((now - last[0], now - t0))
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    done: list[bool] = []
    win.scan_finished.connect(lambda cancelled: (done.append(not cancelled), loop.quit()))
    win.classifier_changed.connect(lambda ok: None if ok else (done.append(False), loop.quit()))
    QTimer.singleShot(int(args.timeout * 1000), loop.quit)
    t0 = time.monotonic()
    win.open_folder(folder)
    timer.start()
    loop.exec()
    timer.stop()
    secs = time.monotonic() - t0
    if not done or not done[0]:
        print("error: the scan did not finish", file=sys.stderr)
        return 1
    session = win.session
    assert session is not None
    right = sum(1 for r in session.records if r.label == r.path.name.split("__", 1)[0])
    labelled = sum(1 for r in session.records if r.label)
    counts = {c: win.group_count(c) for c in CLASSES}
    print(f"photos: {n}, labelled: {labelled}, errors: {n - labelled}")
    print("groups: " + ", ".join(f"{c} {k}" for c, k in counts.items()))
    print(f"group matches source folder: {right}/{n} = {right / n:.4f}")
    print(
        f"scan: {secs:.0f} s ({n / secs:.1f} photos/s, including model load) on {win.device_label.text()}"
    )
    worst = sorted(gaps, reverse=True)[:3]
    print(
        f"longest event-loop gap during the scan: {worst[0][0] * 1000:.0f} ms (10 ms timer); "
        "the three longest ended at "
        + ", ".join(f"{t:.1f} s ({g * 1000:.0f} ms)" for g, t in worst)
    )
    win.close_discarding()
    return 0


if __name__ == "__main__":
    sys.exit(main())
