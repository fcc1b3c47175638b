"""`python -m app classify PATH…`: one line per photo (path, label, confidence), or JSON."""

from __future__ import annotations

import argparse
import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import cache as cachecli
from app.cli.common import (
    EXIT_HELP,
    EXIT_OK,
    Run,
    add_model_options,
    classify_all,
    err,
    exit_status,
    missing_paths,
    open_classifier,
    out,
    percent,
    plural,
    prog,
)

if TYPE_CHECKING:
    from app.model.engine import Prediction

MISSING = "no such file or folder"


def classify_parser() -> argparse.ArgumentParser:
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


def cmd_classify(args: argparse.Namespace) -> int:
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
    clf = open_classifier(args, cache=not args.no_cache, personal=not args.bundled)
    if isinstance(clf, int):
        return clf
    run = classify_all(clf, photos, lambda pred: show(pred, clf.model_id))
    total = run.count + len(missing)
    err(f"{plural(total, 'photo')}, {plural(errors, 'error')}{run.summary(clf)}")
    return exit_status(run, errors)
