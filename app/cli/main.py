"""Headless commands on top of the engine, the session and the sidecar writer, and the window's
launcher.

    python -m app [FOLDER]                 open the window (on FOLDER)
    python -m app classify [options] PATH…  print one label per photo (text or --json)
    python -m app tag FOLDER [options]       write the labels into XMP sidecars
    python -m app cache info|clear|limit|export|import   the results cache (app.cli.cache)
    python -m app label PHOTO… --scene S | learn …   learning from corrections (app.cli.learn)
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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import cache as cachecli
from app.cli.common import (
    EXIT_FAILED,
    EXIT_HELP,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_USAGE,
    Run,
    add_model_options,
    add_runtime_options,
    bad_device,
    classify_all,
    err,
    exit_status,
    missing_paths,
    open_classifier,
    out,
    parse,
    percent,
    plural,
    prog,
    version,
)
from app.cli.tag import cmd_tag

if TYPE_CHECKING:
    from app.model.engine import Prediction

COMMANDS = ("classify", "tag", "cache", "label", "learn")


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
    add_model_options(p)
    cachecli.add_run_options(p)
    return p


def json_path(path: Path | str) -> dict[str, str]:
    """{"path": display form} plus, only when the name is not valid UTF-8, "path_bytes": the
    file name's raw bytes in base64, so any consumer can open the very file."""
    from app.tagging.session_io import display_path

    raw = os.fsencode(path)
    shown = display_path(path)
    if shown.encode("utf-8") == raw:
        return {"path": shown}
    return {"path": shown, "path_bytes": base64.b64encode(raw).decode("ascii")}


def _prediction_line(pred: Prediction, as_json: bool, model: str | None = None) -> str:
    if as_json:
        obj: dict[str, object] = json_path(pred.path)
        if pred.ok:
            obj["label"] = pred.label
            obj["confidence"] = round(pred.confidence or 0.0, 6)
            obj["scores"] = {k: round(v, 6) for k, v in (pred.scores or {}).items()}
            obj["model"] = model  # which model said so (a personal version names itself)
        else:
            obj["error"] = pred.error
        return json.dumps(obj)
    if pred.ok:
        return f"{pred.path}\t{pred.label}\t{percent(pred.confidence)}"
    return f"{pred.path}\tERROR: {pred.error}"


MISSING = "no such file or folder"


def cmd_classify(argv: Sequence[str]) -> int:
    args = parse(_classify_parser(), argv)
    if isinstance(args, int):
        return args
    from app.model.engine import Prediction
    from app.photos.imaging import list_photos

    errors = 0

    def show(pred: Prediction, model: str | None = None) -> None:
        nonlocal errors
        errors += not pred.ok
        out(_prediction_line(pred, args.json, model))

    # A missing path among several is that path's error line, not a stop (as exiftool does).
    missing = missing_paths(args.paths)
    present = [p for p in args.paths if p not in missing]
    for path in missing:
        show(Prediction(path=path, error=MISSING))
    photos = list_photos(present, recursive=args.recursive) if present else []
    photos = cachecli.select_shard(photos, present, args)
    if not photos:
        if not missing:
            err("no photos found")
        return exit_status(Run(EXIT_OK, 0, 0.0), errors)
    clf = open_classifier(args)
    if isinstance(clf, int):
        return clf
    clf = cachecli.wrap(clf, args, err)
    run = classify_all(clf, photos, lambda pred: show(pred, clf.model_id))
    total = run.count + len(missing)
    err(f"{plural(total, 'photo')}, {plural(errors, 'error')}{run.summary(clf)}")
    return exit_status(run, errors)


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
    tta: str = "none",
) -> int:
    """Load the weights (sha256 checked) and classify the bundled samples; one summary line."""
    from app.model.engine import Classifier
    from app.model.scenes import ModelError, resources_dir
    from app.photos.imaging import list_photos

    start = time.perf_counter()
    samples = samples or resources_dir() / "samples"
    problem = bad_device(device)
    if problem:
        out(f"self-test FAILED: {problem}")
        return EXIT_USAGE
    try:
        clf = Classifier(
            model,
            device=device,
            backend=backend,
            precision=precision,
            warn=lambda message: err(f"warning: {message}"),
            tta=tta,
        )
    except ValueError as exc:
        out(f"self-test FAILED: {exc}")
        return EXIT_USAGE
    except ModelError as exc:
        out(f"self-test FAILED: {exc}")
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
        out(f"self-test FAILED ({clf.model_id}, {clf.device_name}): " + "; ".join(problems))
        return EXIT_FAILED
    out(
        f"self-test ok: {len(photos)} samples classified, weights sha256 ok ({clf.model_id}), "
        f"{clf.device_name}, {took:.1f} s"
    )
    return EXIT_OK


def run_window(folder: Path | None, recursive: bool = False) -> int:
    """Open the window; the Qt side is imported only now, so headless use never needs it."""
    try:
        from app.ui.main import run_gui
    except ImportError as exc:
        err(
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
        f"       {prog()} cache {{info,clear,limit,export,import}} …\n"
        f"       {prog()} label PHOTO … --scene SCENE | learn [--from FOLDER …]",
        description="Scene Tagger: tag photos by scene (buildings, forest, glacier, mountain, sea, "
        "street). Without a command, open the window (on FOLDER).",
        epilog=f"commands: classify (print labels), tag (write XMP sidecars), label (by hand), "
        f"learn (a personal model from your corrections); "
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
    add_runtime_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "classify":
        return cmd_classify(argv[1:])
    if argv and argv[0] == "tag":
        return cmd_tag(argv[1:])
    if argv and argv[0] in ("label", "learn"):
        from app.cli import learn as learncli  # learning from corrections (docs/learning.md)

        return learncli.main(argv, prog())
    if argv and argv[0] == "cache":
        return cachecli.cmd_cache(argv[1:], prog(), out, err)
    args = parse(_main_parser(), argv)
    if isinstance(args, int):
        return args
    if args.self_test:
        return self_test(
            args.model, args.device, args.samples, args.backend, args.precision, args.tta
        )
    if args.folder is not None and not args.folder.is_dir():
        err(f"error: not a folder: {args.folder}")
        return EXIT_USAGE
    return run_window(args.folder, args.recursive)
