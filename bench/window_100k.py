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


class GcTimes:
    """The interpreter's cyclic garbage collections per phase: how many and the longest, for
    each generation (a collection holds the interpreter: every thread waits, the GUI's too)."""

    def __init__(self, phase: list[str]) -> None:
        import gc

        self.phase, self.started = phase, 0.0
        self.seen: dict[tuple[str, int], list[float]] = {}
        gc.callbacks.append(self)

    def __call__(self, event: str, info: dict) -> None:
        if event == "start":
            self.started = time.perf_counter()
            return
        ms = (time.perf_counter() - self.started) * 1000
        self.seen.setdefault((self.phase[0], info["generation"]), []).append(ms)

    def print(self) -> None:
        for (phase, gen), times in sorted(self.seen.items()):
            print(
                f"garbage collections while {phase}, generation {gen}: {len(times)}, "
                f"longest {max(times):.0f} ms, {sum(times):.0f} ms in all"
            )


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StackSampler:
    """A thread that records every thread's innermost frames every 5 ms; `report` prints, for
    a stall of the event loop, where the GUI thread was and what the other threads ran (a GUI
    thread waiting in Qt while another thread holds the interpreter shows as `main`)."""

    def __init__(self) -> None:
        import threading

        self.main = threading.main_thread().ident
        self.me = 0
        self.samples: list[tuple[float, str, str]] = []
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _where(frame) -> str:
        import traceback

        stack = traceback.extract_stack(frame)
        ours = [f for f in stack if "/app/" in f.filename] or stack[-1:]
        inner = stack[-1]
        top = " < ".join(
            f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(ours[-2:])
        )
        return top if inner in ours else f"{Path(inner.filename).name}:{inner.name} < {top}"

    def _run(self) -> None:
        import threading

        self.me = threading.get_ident()
        while True:
            frames = sys._current_frames()
            main = frames.get(self.main)
            others = sorted(
                self._where(f) for t, f in frames.items() if t not in (self.main, self.me)
            )
            busy = [o for o in others if "wait" not in o and "get" not in o.split(" <")[0]]
            if main is not None:
                self.samples.append((time.perf_counter(), self._where(main), " | ".join(busy)))
                del self.samples[:-4000]
            time.sleep(0.005)

    def report(self, phase: str, t0: float, t1: float) -> None:
        from collections import Counter

        window = [(w, o) for t, w, o in list(self.samples) if t0 <= t <= t1]
        print(f"stall of {(t1 - t0) * 1000:.0f} ms while {phase}: {len(window)} samples")
        for where, n in Counter(w for w, _ in window).most_common(3):
            print(f"    {n:4d}  GUI: {where}")
        for where, n in Counter(o for _, o in window).most_common(3):
            print(f"    {n:4d}  others: {where[:300]}")


def thread_cpu() -> dict[tuple[int, str], float]:
    """CPU seconds used so far by this process's live threads, by (nice value, name) (Linux)."""
    out: dict[tuple[int, str], float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        fields, name = tail.split(), head.split("(", 1)[1]
        key = (int(fields[16]), f"{name}:{stat.parent.name}")
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def run_for(seconds: float) -> None:
    """Run the event loop for `seconds`, asleep when there is nothing to do (a loop around
    processEvents() spins: it took a core from the scan it was measuring)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


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
    p.add_argument(
        "--warm-cache",
        action="store_true",
        help="use the user's results cache (photos classified before are not classified again)",
    )
    p.add_argument(
        "--stall-stacks",
        metavar="MS",
        type=float,
        help="sample the GUI thread's Python stack every 5 ms and print where it was during "
        "each event-loop stall longer than MS (finds what a stall is made of)",
    )
    args = p.parse_args(argv)
    sampler = StackSampler() if args.stall_stacks else None

    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from app.ui.main import make_app
    from app.ui.settings import Settings
    from app.ui.thumbnails import GRID_SIDE
    from app.ui.window import MainWindow

    t_build = time.perf_counter()
    folder = build_tree(args.root, args.count, args.layout)
    print(f"tree: {folder} ({args.count:,} photos, {time.perf_counter() - t_build:.1f} s)")
    _app = make_app()  # kept alive for the whole run
    home = Path(tempfile.mkdtemp(prefix="scene-tagger-bench-"))
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")  # cold thumbnail store
    if not args.warm_cache:  # a library never classified before: every photo needs the model
        os.environ["SCENE_TAGGER_CACHE"] = str(home / "results")
    settings = Settings(QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat))
    win = MainWindow(settings=settings, cache_dir=home / "thumbs")
    win.resize(1400, 900)
    win.show()

    phase = ["listing"]
    gaps: dict[str, float] = {}
    collections = GcTimes(phase)
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps[phase[0]] = max(gaps.get(phase[0], 0.0), now - last[0])
        if sampler is not None and (now - last[0]) * 1000 > args.stall_stacks:
            sampler.report(phase[0], last[0], now)
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
        run_for(0.05)
    scroll_s = time.perf_counter() - t_scroll
    print(f"after scrolling: {rss_mib():.0f} MiB resident")

    phase[0] = "scanning"
    cpu_before = thread_cpu()
    run_for(args.scan_seconds)
    done = sum(1 for r in win.session.records if r.prediction is not None)
    cpu_scan = {n: c - cpu_before.get(n, 0.0) for n, c in thread_cpu().items()}
    win.cancel_scan()
    timer.stop()

    for name in ("photos shown", "first thumbnail", "all sidecars read"):
        print(f"{name:>18}: {marks.get(name, float('nan')):6.2f} s after the folder was chosen")
    print(f"{'scrolled':>18}: {steps} pages in {scroll_s:.1f} s")
    print(f"{'scan':>18}: {done:,} photos in {args.scan_seconds:.0f} s ({win.device_label.text()})")
    for name, gap in gaps.items():
        print(f"longest stall while {name}: {gap * 1000:.0f} ms")
    collections.print()
    print(f"resident memory at the end: {rss_mib():.0f} MiB")
    used = ", ".join(
        f"{name} (nice {n}) {c:.1f} s" for (n, name), c in sorted(cpu_scan.items()) if c >= 0.5
    )
    print(f"CPU used while scanning, by thread (live threads, 0.5 s or more): {used}")
    win.close_discarding()
    return 0


if __name__ == "__main__":
    sys.exit(main())
