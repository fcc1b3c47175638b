"""Screenshots of the window for the README and the user's guide: open a folder, wait for the
scan, save PNGs.

    python docs/screenshot.py FOLDER [-o docs/screenshot.png] [--model CARD] [--device cpu]
                              [--size 1600x1000] [--correct N] [--dark]
    python docs/screenshot.py FOLDER --guide [--out-dir docs/guide]

The first form takes the README's picture. --guide takes every picture docs/user-guide.md shows
(GUIDE_SHOTS: the welcome page, the first launch, Needs review, the larger preview, the find box,
dark mode, Settings, About, Keyboard Shortcuts), each from the live window driven as a user
would: keys for the review, the find box typed into. Runs offscreen by default; under Xvfb
(QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" …) with the X server's fonts.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# name -> what it shows (docs/user-guide.md embeds guide/<name>.png)
GUIDE_SHOTS = {
    "welcome": "the welcome page (no folder open)",
    "first-launch": "the first launch: the sample photos with the introduction",
    "review": "Needs review worked through with the keys, the preview showing the scores",
    "loupe": "the larger preview (Space)",
    "find": "the find box filtering the groups",
    "dark": "the window in the dark appearance",
    "settings": "the Settings dialog",
    "about": "Help ▸ About",
    "shortcuts": "Help ▸ Keyboard Shortcuts",
}


def settle(app: Any, win: Any, seconds: float = 30) -> None:
    """Let visible thumbnails, the preview and layouts arrive: no thumbnail pending for a few
    passes of the event loop in a row (a repaint asks for the next ones)."""
    deadline, quiet = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and quiet < 15:
        app.processEvents()
        quiet = quiet + 1 if win.thumbnails.pending() == 0 else 0
        time.sleep(0.03)
    win._refresh_status()  # title and unsaved count now, not after the next timer tick
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def save(widget: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise SystemExit(f"error: cannot write {path}")
    print(f"{path}: {widget.width()}x{widget.height()}")


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
    p.add_argument("--dark", action="store_true", help="the dark appearance")
    p.add_argument("--guide", action="store_true", help="every picture of docs/user-guide.md")
    p.add_argument(
        "--out-dir", type=Path, default=Path(__file__).resolve().parent / "guide", metavar="DIR"
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
    if args.dark:
        settings.color_scheme = "dark"

    def factory(device: str) -> Classifier:
        return Classifier(card=args.model, device=None if args.device == "auto" else args.device)

    win = MainWindow(settings=settings, classifier_factory=factory, cache_dir=tmp / "thumbnails")
    win.resize(width, height)
    win.show()
    shots: dict[str, Callable[[], None]] = {}
    if args.guide:
        settle(app, win, 2)
        shots["welcome"] = lambda: save(win, args.out_dir / "welcome.png")

    loop = QEventLoop()
    outcome: list[bool] = []
    win.scan_finished.connect(lambda cancelled: (outcome.append(not cancelled), loop.quit()))
    win.classifier_changed.connect(lambda ok: None if ok else (outcome.append(False), loop.quit()))
    QTimer.singleShot(int(args.timeout * 1000), loop.quit)
    if args.guide:
        shots.pop("welcome")()
        win.samples_folder = args.folder  # the window treats it as the samples: the intro shows
        win.intro.show()
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
    if args.guide:
        guide(app, win, args.out_dir)
    else:
        # show the most confident photo of the biggest group in the preview
        biggest = max(win.group_proxies, key=win.group_count)
        view = win.group_panes[biggest].view
        if win.group_count(biggest):
            view.setCurrentIndex(win.group_proxies[biggest].index(0, 0))
        settle(app, win)
        save(win, args.output)
    counts = ", ".join(f"{c} {win.group_count(c)}" for c in win.group_proxies)
    print(f"{len(session)} photos ({counts}) on {win.device_label.text()}")
    win.close_discarding()  # nothing is saved: the photos' sidecars stay as they were
    win.deleteLater()
    QApplication.processEvents()
    return 0


def guide(app: Any, win: Any, out: Path) -> None:
    """The guide's pictures, from the window driven through its own actions and keys."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.model.scenes import CLASSES
    from app.ui.actions import ActionId
    from app.ui.dialogs import SettingsDialog

    def key(widget: Any, k: Qt.Key) -> None:
        QTest.keyClick(widget, k)
        settle(app, win, 5)

    settle(app, win)
    save(win, out / "first-launch.png")
    win.intro.dismiss()

    # Needs review: a stricter threshold puts the samples' less sure photos there; one labelled
    # with a key, the next one selected
    win.threshold_box.setValue(99)
    win.actions[ActionId.SHOW_REVIEW].trigger()
    review = win.review_pane.view
    first = win.review_proxy.index(0).data(Qt.ItemDataRole.UserRole)
    if first is not None and first.label in CLASSES and win.review_proxy.rowCount() > 1:
        key(review, Qt.Key(Qt.Key.Key_1 + CLASSES.index(first.label)))  # the model was right
    settle(app, win)
    save(win, out / "review.png")

    win.actions[ActionId.LOUPE].trigger()
    loupe = win.central.loupe
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and win.thumbnails.pending():
        app.processEvents()
        time.sleep(0.02)
    settle(app, win)
    save(win, out / "loupe.png")
    key(loupe, Qt.Key.Key_Escape)

    win.actions[ActionId.SHOW_SCENES].trigger()
    win.actions[ActionId.FIND].trigger()
    QTest.keyClicks(win.find_box, "s")
    QTest.keyClicks(win.find_box, "ea")
    win.find_box.apply()
    settle(app, win)
    save(win, out / "find.png")
    win.find_box.clear()
    win.find_box.apply()
    win.threshold_box.setValue(80)

    win.settings.color_scheme = "dark"  # as Settings ▸ Appearance ▸ Dark does it
    win.looks.set_choice()
    biggest = max(win.group_proxies, key=win.group_count)
    win.browser.focus_list(win.group_panes[biggest].view)
    settle(app, win)
    save(win, out / "dark.png")
    win.settings.color_scheme = "system"
    win.looks.set_choice()
    settle(app, win)

    dialog = SettingsDialog(win.settings, win)
    dialog.show()
    settle(app, win, 2)
    save(dialog, out / "settings.png")
    dialog.close()
    for name, action in (("about", ActionId.ABOUT), ("shortcuts", ActionId.SHORTCUTS)):
        win.actions[action].trigger()
        shown = win.help.open[name]
        settle(app, win, 2)
        save(shown, out / f"{name}.png")
        shown.close()


if __name__ == "__main__":
    sys.exit(main())
