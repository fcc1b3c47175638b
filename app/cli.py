"""Headless commands on top of the engine and the sidecar writer, and the window's launcher.

    python -m app [FOLDER]                 open the window (on FOLDER)
    python -m app classify [options] PATH…  print one label per photo (text or --json)
    python -m app tag FOLDER [options]       write the labels into XMP sidecars
    python -m app --version | --self-test

Exit status: 0 when the run completed (even with per-photo errors), 1 when the self-test or
the window fails, 2 for bad usage or a missing path, 3 for unusable weights, 130 on Ctrl-C.
Torch and the model are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from app.engine import Classifier, Prediction

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("classify", "tag")
PROG = "python -m app"


# --------------------------------------------------------------------------------------------
# Small helpers


def _write(stream: TextIO, line: str) -> None:
    """Print a line even when a file name cannot be encoded for this terminal."""
    try:
        stream.write(line + "\n")
    except UnicodeEncodeError:
        enc = getattr(stream, "encoding", None) or "ascii"
        stream.write(line.encode(enc, "backslashreplace").decode(enc, "replace") + "\n")
    stream.flush()


def _out(line: str) -> None:
    _write(sys.stdout, line)


def _err(line: str) -> None:
    _write(sys.stderr, line)


def version() -> str:
    """The installed distribution's version, else the one in pyproject.toml beside the sources."""
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        return dist_version("scene-tagger")
    except (ImportError, PackageNotFoundError):
        pass
    try:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except Exception:
        return "unknown"


def _probability(text: str) -> float:
    """'0.8', '80%' -> 0.8; argparse turns the ValueError into a usage error (exit 2)."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(text)
    return value


_probability.__name__ = "probability"  # argparse names the type in its error message


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"


def _percent(p: float | None) -> str:
    return f"{100 * (p or 0.0):.1f}%"


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", metavar="CARD", type=Path, help="model card (default: the bundled model)"
    )
    p.add_argument("--device", metavar="D", help="auto, cpu, cuda, cuda:1 or mps (default: auto)")
    p.add_argument(
        "--precision", choices=("auto", "fp32", "bf16"), default="auto", help="default: auto"
    )
    p.add_argument("--batch-size", metavar="N", type=_positive_int, default=32, help="default: 32")


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """Parse, turning argparse's exits (usage error, --help, --version) into a return code."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def _missing(paths: Sequence[Path]) -> list[Path]:
    return [p for p in paths if not os.path.lexists(p)]


def _bad_device(device: str | None) -> str | None:
    """Why `device` is not a device name torch knows, or None when it is fine."""
    if device in (None, "auto"):
        return None
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        return f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)"
    return None


def _open_classifier(args: argparse.Namespace) -> Classifier | int:
    """The classifier, or an exit status after printing why there is none."""
    from app.engine import Classifier
    from app.scenes import ModelError

    problem = _bad_device(args.device)
    if problem:
        _err(f"error: {problem}")
        return EXIT_USAGE
    try:
        return Classifier(
            args.model, device=args.device, precision=args.precision, batch_size=args.batch_size
        )
    except ModelError as exc:
        _err(f"error: {exc}")
        return EXIT_MODEL


class _Progress:
    """A one-line counter on stderr when it is a terminal; silent in pipes and tests."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int, errors: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.2 or done == total):
            self.last = now
            sys.stderr.write(f"\r{done}/{total} photos, {errors} errors ")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f} photos/s" if seconds > 0 and count else "- photos/s"


# --------------------------------------------------------------------------------------------
# classify


@dataclass
class _Run:
    status: int
    count: int
    elapsed: float

    def summary(self, clf: Classifier) -> str:
        """'(interrupted); device; model; 12.3 s, 45.6 photos/s' after the counts."""
        interrupted = " (interrupted)" if self.status == EXIT_INTERRUPTED else ""
        return (
            f"{interrupted}; {clf.device_name}; {clf.model_id}; "
            f"{self.elapsed:.1f} s, {_rate(self.count, self.elapsed)}"
        )


def _classify_all(
    clf: Classifier, photos: Sequence[Path], handle: Callable[[Prediction], None]
) -> _Run:
    """Classify with a progress line; Ctrl-C stops cleanly (exit 130) and the classifier closes."""
    progress = _Progress()
    cancel = threading.Event()
    start = time.perf_counter()
    status, count = EXIT_OK, 0
    try:
        for pred in clf.classify_paths(photos, progress=progress, cancel=cancel):
            count += 1
            handle(pred)
    except KeyboardInterrupt:
        cancel.set()
        status = EXIT_INTERRUPTED
    finally:
        clf.close()
        progress.clear()
    return _Run(status, count, time.perf_counter() - start)


def _classify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} classify",
        description="Classify photos and print one line per photo: path, label, confidence.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos and/or folders")
    p.add_argument("--json", action="store_true", help="one JSON object per line, with all scores")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders")
    _add_model_options(p)
    return p


def _prediction_line(pred: Prediction, as_json: bool) -> str:
    if as_json:
        if pred.ok:
            obj: dict[str, object] = {
                "path": str(pred.path),
                "label": pred.label,
                "confidence": round(pred.confidence or 0.0, 6),
                "scores": {k: round(v, 6) for k, v in (pred.scores or {}).items()},
            }
        else:
            obj = {"path": str(pred.path), "error": pred.error}
        return json.dumps(obj)
    if pred.ok:
        return f"{pred.path}\t{pred.label}\t{_percent(pred.confidence)}"
    return f"{pred.path}\tERROR: {pred.error}"


def cmd_classify(argv: Sequence[str]) -> int:
    args = _parse(_classify_parser(), argv)
    if isinstance(args, int):
        return args
    from app.imaging import list_photos

    missing = _missing(args.paths)
    if missing:
        for path in missing:
            _err(f"error: no such file or folder: {path}")
        return EXIT_USAGE
    clf = _open_classifier(args)
    if isinstance(clf, int):
        return clf
    photos = list_photos(list(args.paths), recursive=args.recursive)
    errors = 0

    def show(pred: Prediction) -> None:
        nonlocal errors
        errors += not pred.ok
        _out(_prediction_line(pred, args.json))

    run = _classify_all(clf, photos, show)
    if not photos:
        _err("no photos found")
    _err(f"{run.count} photos, {errors} errors{run.summary(clf)}")
    return run.status


# --------------------------------------------------------------------------------------------
# tag


def _tag_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} tag",
        description="Classify a folder and write the scene into each photo's XMP sidecar. "
        "Photos labelled by hand are skipped without being classified.",
    )
    p.add_argument("folder", type=Path, metavar="FOLDER")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders")
    p.add_argument(
        "--min-confidence",
        metavar="P",
        type=_probability,
        default=0.0,
        help="leave photos below this confidence untagged: 0.8 or 80%% (default: 0)",
    )
    p.add_argument(
        "--sidecar-name",
        choices=("ext", "base"),
        default="ext",
        help="name of new sidecars: IMG.jpg.xmp (ext, default) or IMG.xmp (base); "
        "an existing sidecar of either name is updated",
    )
    p.add_argument(
        "--parent", default="Scene", help="parent of the hierarchical keyword (default: Scene)"
    )
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="report what would change, write nothing"
    )
    _add_model_options(p)
    return p


def cmd_tag(argv: Sequence[str]) -> int:
    args = _parse(_tag_parser(), argv)
    if isinstance(args, int):
        return args
    if not args.folder.is_dir():
        _err(f"error: not a folder: {args.folder}")
        return EXIT_USAGE
    if not args.parent.strip(" |/"):
        _err("error: --parent must name a keyword, e.g. Scene")
        return EXIT_USAGE
    from app import sidecar
    from app.imaging import list_photos

    clf = _open_classifier(args)
    if isinstance(clf, int):
        return clf
    counts = dict.fromkeys(
        ("written", "unchanged", "skipped manual", "below threshold", "errors"), 0
    )

    def error(path: Path, message: str) -> None:
        counts["errors"] += 1
        _out(f"{path}\tERROR: {message}")

    # Read every sidecar first: a photo labelled by hand is never classified, and a sidecar
    # that cannot be parsed is reported and left alone (it could not be updated anyway).
    to_classify: list[Path] = []
    for photo in list_photos(args.folder, recursive=args.recursive):
        try:
            info = sidecar.read_sidecar(photo, naming=args.sidecar_name)
        except sidecar.SidecarError as exc:
            error(photo, str(exc))
            continue
        if info.scene is not None and info.scene.source == "manual":
            counts["skipped manual"] += 1
            _out(f"{photo}\tskipped: labelled by hand ({info.scene.label})")
            continue
        to_classify.append(photo)

    would = "would write" if args.dry_run else "written"

    def write(pred: Prediction) -> None:
        if not pred.ok:
            error(pred.path, pred.error or "unknown error")
            return
        assert pred.label is not None and pred.confidence is not None
        if pred.confidence < args.min_confidence:
            counts["below threshold"] += 1
            _out(f"{pred.path}\tbelow threshold\t{pred.label}\t{_percent(pred.confidence)}")
            return
        tag = sidecar.SceneTag(
            label=pred.label,
            source="auto",
            confidence=pred.confidence,
            scores=dict(pred.scores or {}),
            model_id=clf.model_id,
        )
        try:
            result = sidecar.write_scene(
                pred.path,
                tag,
                naming=args.sidecar_name,
                parent=args.parent,
                dry_run=args.dry_run,
                root=args.folder,
            )
        except sidecar.SidecarError as exc:
            error(pred.path, str(exc))
            return
        if result.skipped_reason:
            counts["skipped manual"] += 1
            _out(f"{pred.path}\tskipped: {result.skipped_reason}")
        elif result.changed:
            counts["written"] += 1
            _out(
                f"{pred.path}\t{would}\t{pred.label}\t{_percent(pred.confidence)}\t{result.path.name}"
            )
        else:
            counts["unchanged"] += 1
            _out(f"{pred.path}\tunchanged\t{pred.label}\t{_percent(pred.confidence)}")

    run = _classify_all(clf, to_classify, write)
    summary = ", ".join(
        f"{v} {'would be written' if k == 'written' and args.dry_run else k}"
        for k, v in counts.items()
    )
    _err(f"{summary}{run.summary(clf)}")
    return run.status


# --------------------------------------------------------------------------------------------
# self-test, window, entry point


def _expected_label(path: Path, classes: Sequence[str]) -> str | None:
    """A sample named after its class ('sea.jpg', 'sea_2.jpg', 'sea-1.png') must get that label."""
    stem = path.stem.lower()
    for c in classes:
        if stem == c or (stem.startswith(c) and not stem[len(c)].isalpha()):
            return c
    return None


def self_test(model: Path | None, device: str | None, samples: Path | None) -> int:
    """Load the weights (sha256 checked) and classify the bundled samples; one summary line."""
    from app.engine import Classifier
    from app.imaging import list_photos
    from app.scenes import ModelError, resources_dir

    start = time.perf_counter()
    samples = samples or resources_dir() / "samples"
    problem = _bad_device(device)
    if problem:
        _out(f"self-test FAILED: {problem}")
        return EXIT_USAGE
    try:
        clf = Classifier(model, device=device)
    except ModelError as exc:
        _out(f"self-test FAILED: {exc}")
        return EXIT_MODEL
    problems: list[str] = []
    photos = list_photos(samples) if samples.is_dir() else []
    if not photos:
        problems.append(f"no sample photos in {samples}")
    with clf:
        for pred in clf.classify_paths(photos):
            if not pred.ok:
                problems.append(f"{pred.path.name}: {pred.error}")
                continue
            values = list((pred.scores or {}).values())
            if not all(math.isfinite(v) for v in values) or abs(sum(values) - 1.0) > 1e-3:
                problems.append(f"{pred.path.name}: scores are not probabilities")
            expected = _expected_label(pred.path, clf.card.classes)
            if expected and pred.label != expected:
                problems.append(f"{pred.path.name}: expected {expected}, got {pred.label}")
    took = time.perf_counter() - start
    if problems:
        _out(f"self-test FAILED ({clf.model_id}, {clf.device_name}): " + "; ".join(problems))
        return EXIT_FAILED
    _out(
        f"self-test ok: {len(photos)} samples classified, weights sha256 ok ({clf.model_id}), "
        f"{clf.device_name}, {took:.1f} s"
    )
    return EXIT_OK


def run_window(folder: Path | None) -> int:
    """Open the window; the Qt side is imported only now, so headless use never needs it."""
    try:
        from app.ui.main import run_gui
    except ImportError as exc:
        _err(
            f"error: the window cannot open ({exc}). "
            f"The headless commands still work: {PROG} classify PATH…, {PROG} tag FOLDER"
        )
        return EXIT_FAILED
    return int(run_gui(folder) or 0)


def _main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [-h] [--version] [--self-test] [FOLDER]\n"
        f"       {PROG} classify [-h] [options] PATH [PATH ...]\n"
        f"       {PROG} tag [-h] [options] FOLDER",
        description="Scene Tagger: tag photos by scene (buildings, forest, glacier, mountain, sea, "
        "street). Without a command, open the window (on FOLDER).",
        epilog=f"commands: classify (print labels), tag (write XMP sidecars); "
        f"'{PROG} classify -h' for their options",
    )
    p.add_argument(
        "folder", nargs="?", type=Path, metavar="FOLDER", help="folder to open in the window"
    )
    p.add_argument("--version", action="version", version=f"scene-tagger {version()}")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="classify the bundled samples and check the weights",
    )
    p.add_argument("--model", metavar="CARD", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--device", metavar="D", help=argparse.SUPPRESS)
    p.add_argument("--samples", metavar="DIR", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "classify":
        return cmd_classify(argv[1:])
    if argv and argv[0] == "tag":
        return cmd_tag(argv[1:])
    args = _parse(_main_parser(), argv)
    if isinstance(args, int):
        return args
    if args.self_test:
        return self_test(args.model, args.device, args.samples)
    if args.folder is not None and not args.folder.is_dir():
        _err(f"error: not a folder: {args.folder}")
        return EXIT_USAGE
    return run_window(args.folder)
