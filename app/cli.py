"""Headless commands on top of the engine, the session and the sidecar writer, and the window's
launcher.

    python -m app [FOLDER]                 open the window (on FOLDER)
    python -m app classify [options] PATH…  print one label per photo (text or --json)
    python -m app tag FOLDER [options]       write the labels into XMP sidecars
    python -m app cache info|clear|limit|export|import   the results cache (app.cachecli)
    python -m app --version | --self-test

Exit status, as exiftool and rsync do it: 0 = every photo done; 1 = the run completed but some
photos failed (the count on stderr), or the self-test / the window failed; 2 = bad usage;
3 = unusable model; 130 = interrupted (Ctrl-C). Torch and the model are imported only by the
commands that need them.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app import cachecli, defaults

if TYPE_CHECKING:
    from app.engine import Classifier, Prediction
    from app.session import Session

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("classify", "tag", "cache")
EXIT_HELP = """exit status:
  0    every photo was done
  1    the run completed but some photos failed (their count is on stderr)
  2    bad usage (unknown option, no such folder to tag)
  3    the model cannot be used (missing or damaged weights)
  130  interrupted (Ctrl-C)"""


def prog() -> str:
    """How the user started us: 'scene-tagger' for the installed script, else 'python -m app'."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not name or name in ("__main__.py", "-m", "-c") or name.startswith("python"):
        return "python -m app"
    return name


# --------------------------------------------------------------------------------------------
# Small helpers


def _write(stream: TextIO, line: str) -> None:
    """Print a line even when a file name cannot be encoded for this terminal."""
    try:
        stream.write(line + "\n")
    except UnicodeEncodeError:
        enc = getattr(stream, "encoding", None) or "ascii"
        buffer = getattr(stream, "buffer", None)
        try:  # a file name that is not valid UTF-8 goes out as its own bytes, usable by a shell
            data = (line + "\n").encode(enc, "surrogateescape")
        except UnicodeEncodeError:
            data = None
        if buffer is not None and data is not None:
            stream.flush()
            buffer.write(data)
        else:
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
    _add_runtime_options(p)
    p.add_argument(
        "--batch-size",
        metavar="N",
        type=_positive_int,
        default=defaults.BATCH_SIZE,
        help=f"photos per forward pass (default: {defaults.BATCH_SIZE})",
    )


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="auto (torch on a GPU, ONNX Runtime on a CPU), torch or onnx (default: auto)",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "int8", "bf16", "fp16"),
        default="auto",
        help="auto (on ONNX Runtime int8 when the card's int8 model passed its gate; on torch "
        "bf16 where the CPU or GPU has it natively), fp32, int8 (ONNX), bf16 or fp16 (torch)",
    )


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
    if device in (None, "auto", "cpu"):
        return None  # the ONNX path runs on the CPU without ever importing torch
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
            args.model,
            device=args.device,
            precision=args.precision,
            batch_size=args.batch_size,
            backend=args.backend,
            warn=lambda message: _err(f"warning: {message}"),
        )
    except ValueError as exc:  # a backend/precision/device combination that cannot exist
        _err(f"error: {exc}")
        return EXIT_USAGE
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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _exit_status(run: _Run, errors: int) -> int:
    """0 all photos done, 1 done but some failed (the count on stderr), 130 interrupted."""
    if run.status == EXIT_INTERRUPTED:
        return EXIT_INTERRUPTED
    if errors:
        _err(f"{_plural(errors, 'photo')} failed")
        return EXIT_FAILED
    return EXIT_OK


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
            f"{self.elapsed:.1f} s, {_rate(self.count, self.elapsed)}{cachecli.cache_note(clf)}"
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
        prog=f"{prog()} classify",
        description="Classify photos and print one line per photo: path, label, confidence.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos and/or folders")
    p.add_argument("--json", action="store_true", help="one JSON object per line, with all scores")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders")
    _add_model_options(p)
    cachecli.add_run_options(p)
    return p


def json_path(path: Path | str) -> dict[str, str]:
    """{"path": display form} plus, only when the name is not valid UTF-8, "path_bytes": the
    file name's raw bytes in base64, so any consumer can open the very file."""
    from app.session import display_path

    raw = os.fsencode(path)
    shown = display_path(path)
    if shown.encode("utf-8") == raw:
        return {"path": shown}
    return {"path": shown, "path_bytes": base64.b64encode(raw).decode("ascii")}


def _prediction_line(pred: Prediction, as_json: bool) -> str:
    if as_json:
        obj: dict[str, object] = json_path(pred.path)
        if pred.ok:
            obj["label"] = pred.label
            obj["confidence"] = round(pred.confidence or 0.0, 6)
            obj["scores"] = {k: round(v, 6) for k, v in (pred.scores or {}).items()}
        else:
            obj["error"] = pred.error
        return json.dumps(obj)
    if pred.ok:
        return f"{pred.path}\t{pred.label}\t{_percent(pred.confidence)}"
    return f"{pred.path}\tERROR: {pred.error}"


MISSING = "no such file or folder"


def cmd_classify(argv: Sequence[str]) -> int:
    args = _parse(_classify_parser(), argv)
    if isinstance(args, int):
        return args
    from app.engine import Prediction
    from app.imaging import list_photos

    errors = 0

    def show(pred: Prediction) -> None:
        nonlocal errors
        errors += not pred.ok
        _out(_prediction_line(pred, args.json))

    # A missing path among several is that path's error line, not a stop (as exiftool does).
    missing = _missing(args.paths)
    present = [p for p in args.paths if p not in missing]
    for path in missing:
        show(Prediction(path=path, error=MISSING))
    photos = list_photos(present, recursive=args.recursive) if present else []
    photos = cachecli.select_shard(photos, present, args)
    if not photos:
        if not missing:
            _err("no photos found")
        return _exit_status(_Run(EXIT_OK, 0, 0.0), errors)
    clf = _open_classifier(args)
    if isinstance(clf, int):
        return clf
    clf = cachecli.wrap(clf, args, _err)
    run = _classify_all(clf, photos, show)
    total = run.count + len(missing)
    _err(f"{_plural(total, 'photo')}, {_plural(errors, 'error')}{run.summary(clf)}")
    return _exit_status(run, errors)


# --------------------------------------------------------------------------------------------
# tag: the window's rules (app.session.Session), without the window


def _tag_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} tag",
        description="Classify a folder and write the scene into each photo's XMP sidecar, with "
        "the window's rules: photos labelled by hand are never classified nor overwritten, "
        "photos whose sidecar already holds this model's label are not classified again, "
        "and labels below the confidence threshold are not written.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", type=Path, metavar="FOLDER")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders")
    p.add_argument(
        "--min-confidence",
        metavar="P",
        type=_probability,
        default=defaults.THRESHOLD,
        help="leave photos below this confidence untagged, as the window's 'Needs review' "
        f"does: 0.8 or 80%% (default: {defaults.THRESHOLD:g})",
    )
    p.add_argument(
        "--sidecar-name",
        choices=defaults.NAMINGS,
        default=defaults.NAMING,
        help="name of new sidecars: IMG.jpg.xmp (ext, default) or IMG.xmp (base); "
        "an existing sidecar of either name is updated",
    )
    p.add_argument(
        "--parent",
        default=defaults.PARENT,
        help=f"parent of the hierarchical keyword (default: {defaults.PARENT})",
    )
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="report what would change, write nothing"
    )
    _add_model_options(p)
    cachecli.add_run_options(p)
    return p


class _TagReport:
    """The per-photo lines and the counts of `tag`."""

    KEYS = ("written", "unchanged", "skipped manual", "below threshold", "errors")

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.counts = dict.fromkeys(self.KEYS, 0)

    def line(self, key: str, path: Path, text: str) -> None:
        self.counts[key] += 1
        _out(f"{path}\t{text}")

    def summary(self) -> str:
        return ", ".join(
            f"{v} {'would be written' if k == 'written' and self.dry_run else k}"
            for k, v in self.counts.items()
        )


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
    from app.session import execute_save

    session = cachecli.open_session(
        args, threshold=args.min_confidence, naming=args.sidecar_name, parent=args.parent
    )
    if not len(session):
        _err(f"no photos found in {args.folder}")
        return EXIT_OK
    report = _TagReport(args.dry_run)
    for r in session.records:
        if r.sidecar_error:  # unreadable sidecar: it could not be updated, so no classifying
            report.line("errors", r.path, f"ERROR: {r.sidecar_error}")
        elif r.manual:
            report.line("skipped manual", r.path, f"skipped: labelled by hand ({r.manual})")
    clf = _open_classifier(args)
    if isinstance(clf, int):
        return clf
    clf = cachecli.wrap(clf, args, _err)
    wanted = set(session.to_classify(clf.model_id))
    for r in session.records:  # already tagged by this very model: nothing to redo
        if r.id not in wanted and not r.manual and not r.sidecar_error:
            _tag_outcome(session, report, r.id, None)
    ids = [i for i in sorted(wanted) if not session.records[i].sidecar_error]
    root = session.folder

    def save(pred: Prediction) -> None:
        session.set_predictions([pred], clf.model_id)
        rid = session.id_for(pred.path)
        assert rid is not None
        items = session.plan_save([rid])
        outcome = None
        if items and not args.dry_run:
            outcomes = execute_save(items, naming=session.naming, parent=session.parent, root=root)
            session.apply_saved(outcomes)
            outcome = outcomes[0]
        _tag_outcome(session, report, rid, outcome, planned=bool(items))

    run = _classify_all(clf, [session.records[i].path for i in ids], save)
    _err(f"{report.summary()}{run.summary(clf)}")
    return _exit_status(run, report.counts["errors"])


def _tag_outcome(
    session: Session, report: _TagReport, rid: int, outcome: Any, planned: bool = False
) -> None:
    """One photo's line after its save (or its plan, in a dry run)."""
    r = session.records[rid]
    label, conf = r.auto_label, r.auto_confidence
    if r.classify_error:
        report.line("errors", r.path, f"ERROR: {r.classify_error}")
    elif outcome is not None and outcome.error:
        report.line("errors", r.path, f"ERROR: {outcome.error}")
    elif outcome is not None and outcome.skipped_reason:
        report.line("skipped manual", r.path, f"skipped: {outcome.skipped_reason}")
    elif planned:
        verb = "would write" if report.dry_run else "written"
        name = sidecar_name(r.path, session.naming) if outcome is None else outcome.info.path.name
        report.line("written", r.path, f"{verb}\t{label}\t{_percent(conf)}\t{name}")
    elif conf is not None and conf < session.threshold:
        report.line("below threshold", r.path, f"below threshold\t{label}\t{_percent(conf)}")
    else:
        report.line("unchanged", r.path, f"unchanged\t{label}\t{_percent(conf)}")


def sidecar_name(photo: Path, naming: str) -> str:
    from app import sidecar

    found = sidecar.find_sidecar(photo, naming)
    return (found or sidecar.target_sidecar(photo, naming)).name


# --------------------------------------------------------------------------------------------
# self-test, window, entry point


def _expected_label(path: Path, classes: Sequence[str]) -> str | None:
    """A sample named after its class ('sea.jpg', 'sea_2.jpg', 'sea-1.png') must get that label."""
    stem = path.stem.lower()
    for c in classes:
        if stem == c or (stem.startswith(c) and not stem[len(c)].isalpha()):
            return c
    return None


def self_test(
    model: Path | None,
    device: str | None,
    samples: Path | None,
    backend: str = "auto",
    precision: str = "auto",
) -> int:
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
        clf = Classifier(
            model,
            device=device,
            backend=backend,
            precision=precision,
            warn=lambda message: _err(f"warning: {message}"),
        )
    except ValueError as exc:
        _out(f"self-test FAILED: {exc}")
        return EXIT_USAGE
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


def run_window(folder: Path | None, recursive: bool = False) -> int:
    """Open the window; the Qt side is imported only now, so headless use never needs it."""
    try:
        from app.ui.main import run_gui
    except ImportError as exc:
        _err(
            f"error: the window cannot open ({exc}). "
            f"The headless commands still work: {prog()} classify PATH…, {prog()} tag FOLDER"
        )
        return EXIT_FAILED
    return int(run_gui(folder, recursive=recursive) or 0)


def _main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog(),
        usage=f"{prog()} [-h] [--version] [--self-test] [FOLDER]\n"
        f"       {prog()} classify [-h] [options] PATH [PATH ...]\n"
        f"       {prog()} tag [-h] [options] FOLDER\n"
        f"       {prog()} cache {{info,clear,limit,export,import}} …",
        description="Scene Tagger: tag photos by scene (buildings, forest, glacier, mountain, sea, "
        "street). Without a command, open the window (on FOLDER).",
        epilog=f"commands: classify (print labels), tag (write XMP sidecars); "
        f"'{prog()} classify -h' for their options\n\n{EXIT_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "folder", nargs="?", type=Path, metavar="FOLDER", help="folder to open in the window"
    )
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="open FOLDER with the photos of all its subfolders (also View ▸ Include Subfolders)",
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
    _add_runtime_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "classify":
        return cmd_classify(argv[1:])
    if argv and argv[0] == "tag":
        return cmd_tag(argv[1:])
    if argv and argv[0] == "cache":
        return cachecli.cmd_cache(argv[1:], prog(), _out, _err)
    args = _parse(_main_parser(), argv)
    if isinstance(args, int):
        return args
    if args.self_test:
        return self_test(args.model, args.device, args.samples, args.backend, args.precision)
    if args.folder is not None and not args.folder.is_dir():
        _err(f"error: not a folder: {args.folder}")
        return EXIT_USAGE
    return run_window(args.folder, args.recursive)
