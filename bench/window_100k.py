"""A folder of 100,000 photos in the real window (offscreen): listing, sidecars, thumbnails,
scrolling and the first minute of a scan, with the longest event-loop stall of each phase.

    python bench/window_100k.py [--count 100000] [--layout flat|nested] [--scan-seconds 60]

Builds the tree in /tmp from hard links to the seg_test photos (never committed), opens it in
MainWindow with the bundled model (the window's default runtime), and prints one line per
phase: when photos first showed, when the first thumbnail arrived, when every sidecar was
read, the longest stall of the event loop (a 10 ms timer), and the resident memory.
Figures go to docs/window_scan.md, with what else was running on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SEG_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "intel-scenes" / "seg_test"


def build_tree(root: Path, count: int, layout: str) -> Path:
    """`count` hard links to the seg_test photos under `root` (reused when already there)."""
    folder = root / f"{layout}{count}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    sources = sorted(SEG_TEST.glob("*/*.jpg"))
    if not sources:
        sys.exit(f"no photos under {SEG_TEST}")
    for i in range(count):
        sub = folder / f"d{i // 1000:03d}" if layout == "nested" else folder
        sub.mkdir(parents=True, exist_ok=True)
        target = sub / f"{i:06d}.jpg"
        if not target.exists():
            os.link(sources[i % len(sources)], target)
    marker.touch()
    return folder


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--layout", choices=("flat", "nested"), default="nested")
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "scene-tagger-100k")
    p.add_argument("--scan-seconds", type=float, default=60.0)
    p.add_argument(
        "--model-first",
        action="store_true",
        help="wait until the model has loaded before choosing the folder (a warm start; "
        "otherwise the model loads while the folder is listed, as on a cold start)",
    )
    args = p.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from app.ui.main import make_app
    from app.ui.settings import Settings
    from app.ui.thumbnails import GRID_SIDE
    from app.ui.window import MainWindow

    t_build = time.perf_counter()
    folder = build_tree(args.root, args.count, args.layout)
    print(f"tree: {folder} ({args.count:,} photos, {time.perf_counter() - t_build:.1f} s)")
    app = make_app()
    home = Path(tempfile.mkdtemp(prefix="scene-tagger-bench-"))
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")  # cold thumbnail store
    settings = Settings(QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat))
    win = MainWindow(settings=settings, cache_dir=home / "thumbs")
    win.resize(1400, 900)
    win.show()

    phase = ["listing"]
    gaps: dict[str, float] = {}
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps[phase[0]] = max(gaps.get(phase[0], 0.0), now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter() - start)

    win.loader.listed.connect(lambda *_: mark("photos shown"))
    win.thumbnails.ready.connect(lambda _p, side: side == GRID_SIDE and mark("first thumbnail"))
    win.folder_opened.connect(lambda _f: mark("all sidecars read"))
    if args.model_first:
        ready = QEventLoop()
        win.classifier_changed.connect(lambda _ok: ready.quit())
        if win.classifier is None:
            ready.exec()
    # A folder nobody has tagged yet: every photo waits in "Needs review" until the model has
    # seen it, so that is the list on screen (and the one whose thumbnails are asked for).
    win.tabs.setCurrentWidget(win.review_pane)
    start = last[0] = time.perf_counter()
    timer.start()
    loop = QEventLoop()
    win.folder_opened.connect(lambda _f: loop.quit())
    win.open_folder(folder, recursive=True)
    loop.exec()
    print(f"after listing: {rss_mib():.0f} MiB resident")

    phase[0] = "scrolling"
    bar = win.review_pane.view.verticalScrollBar()
    t_scroll = time.perf_counter()
    steps = 40
    for i in range(steps + 1):  # page through the list top to bottom
        bar.setValue(bar.maximum() * i // steps)
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            app.processEvents()
    scroll_s = time.perf_counter() - t_scroll
    print(f"after scrolling: {rss_mib():.0f} MiB resident")

    phase[0] = "scanning"
    t_scan = time.perf_counter()
    while time.perf_counter() - t_scan < args.scan_seconds:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    done = sum(1 for r in win.session.records if r.prediction is not None)
    win.cancel_scan()
    timer.stop()

    for name in ("photos shown", "first thumbnail", "all sidecars read"):
        print(f"{name:>18}: {marks.get(name, float('nan')):6.2f} s after the folder was chosen")
    print(f"{'scrolled':>18}: {steps} pages in {scroll_s:.1f} s")
    print(f"{'scan':>18}: {done:,} photos in {args.scan_seconds:.0f} s ({win.device_label.text()})")
    for name, gap in gaps.items():
        print(f"longest stall while {name}: {gap * 1000:.0f} ms")
    print(f"resident memory at the end: {rss_mib():.0f} MiB")
    win.close_discarding()
    return 0


if __name__ == "__main__":
    sys.exit(main())
