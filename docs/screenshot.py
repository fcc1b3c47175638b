"""Screenshot of the window for the README: open a folder offscreen, wait for the scan, save a PNG.

    python docs/screenshot.py FOLDER [-o docs/screenshot.png] [--model CARD] [--device cpu]
                              [--size 1600x1000] [--correct N]

Runs with its own temporary settings and thumbnail cache (the user's are not touched). With
--correct N, the N least confident photos get the label of their second-best score by hand, so
the picture shows manual badges too (nothing is saved: sidecars are never written).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument(
        "-o", "--output", type=Path, default=Path(__file__).resolve().parent / "screenshot.png"
    )
    p.add_argument("--model", type=Path, help="model card (default: the bundled one)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--size", default="1600x1000", help="window size WxH")
    p.add_argument(
        "--correct", type=int, default=0, metavar="N", help="label N unsure photos by hand"
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for the scan")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.model.engine import Classifier
    from app.ui.compat import binding_problem
    from app.ui.main import make_app
    from app.ui.settings import Settings
    from app.ui.window import MainWindow

    if (problem := binding_problem()) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    app = make_app()
    tmp = Path(tempfile.mkdtemp(prefix="scene-tagger-shot-"))
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))

    def factory(device: str) -> Classifier:
        return Classifier(card=args.model, device=None if args.device == "auto" else args.device)

    win = MainWindow(settings=settings, classifier_factory=factory, cache_dir=tmp / "thumbnails")
    win.resize(width, height)
    win.show()

    loop = QEventLoop()
    outcome: list[bool] = []
    win.scan_finished.connect(lambda cancelled: (outcome.append(not cancelled), loop.quit()))
    win.classifier_changed.connect(lambda ok: None if ok else (outcome.append(False), loop.quit()))
    QTimer.singleShot(int(args.timeout * 1000), loop.quit)
    if not win.open_folder(args.folder):
        print(f"error: cannot open {args.folder}", file=sys.stderr)
        return 1
    loop.exec()
    if not outcome or not outcome[0]:
        print(
            f"error: the scan did not finish ({'; '.join(win.messages) or 'timeout'})",
            file=sys.stderr,
        )
        return 1

    session = win.session
    assert session is not None
    if args.correct:
        unsure = sorted(
            (r for r in session.records if r.scores and r.source == "auto"),
            key=lambda r: r.confidence or 0.0,
        )[: args.correct]
        for r in unsure:
            second = sorted(r.scores.items(), key=lambda kv: kv[1])[-2][0]  # type: ignore[union-attr]
            win.assign([r.id], second)
    # show the most confident photo of the biggest group in the preview
    biggest = max(win.group_proxies, key=win.group_count)
    view = win.group_panes[biggest].view
    if win.group_count(biggest):
        view.setCurrentIndex(win.group_proxies[biggest].index(0, 0))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # let visible thumbnails and the preview arrive
        app.processEvents()
        if win.thumbnails.pending() == 0:
            break
        time.sleep(0.02)
    win._refresh_status()  # title and unsaved count now, not after the next timer tick
    for _ in range(10):
        app.processEvents()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not win.grab().save(str(args.output)):
        print(f"error: cannot write {args.output}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{c} {win.group_count(c)}" for c in win.group_proxies)
    print(f"{args.output}: {len(session)} photos ({counts}) on {win.device_label.text()}")
    win.close_discarding()  # nothing is saved: the photos' sidecars stay as they were
    win.deleteLater()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
