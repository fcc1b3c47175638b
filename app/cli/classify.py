"""`python -m app classify PATH…`: a report, one row per photo (its label, the model's
confidence, whether the label was set by hand, the six scores), as text, JSON lines or CSV
(app.tagging.report writes it, for the window's Export Report too). Writes nothing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import cache as cachecli
from app.cli.common import (
    EXIT_FAILED,
    EXIT_HELP,
    EXIT_OK,
    EXIT_USAGE,
    Run,
    add_model_options,
    classify_all,
    err,
    exit_status,
    open_classifier,
    out,
    path_problem,
    plural,
    prog,
)
from app.tagging import report

if TYPE_CHECKING:
    from app.model.engine import Prediction

FORMAT_HELP = """formats:
  text  PATH<TAB>LABEL<TAB>97.3%  (manual instead of the percentage for a label set by
        hand), or PATH<TAB>ERROR: why
  json  {"path", "label", "confidence", "source", "scores", "model"} or {"path", "error"}
  csv   path,label,confidence,source,buildings,forest,glacier,mountain,sea,street,error
        (source: manual or automatic; confidence and scores from 0 to 1)"""


def classify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} classify",
        description="Classify photos and print a report, one line per photo: its label, the "
        "model's confidence, whether the label was set by hand (a manual label in the photo's "
        "sidecar wins, as in the window), the six scores. Writes nothing.",
        epilog=f"{FORMAT_HELP}\n\n{EXIT_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="photos and/or folders")
    p.add_argument(
        "--format",
        choices=report.FORMATS,
        default="text",
        help="text (path, label, confidence), json (one object per line, every score) or csv "
        "(a table with a header: path, label, confidence, source, the six scores, error) "
        "(default: text)",
    )
    p.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders")
    add_model_options(p)
    cachecli.add_run_options(p)
    return p


def cmd_classify(args: argparse.Namespace) -> int:
    from app.model.engine import Prediction
    from app.photos.imaging import ListingError, list_photos

    errors = 0
    writer = report.ReportWriter(args.format, out)

    def show(pred: Prediction, model: str | None = None) -> None:
        nonlocal errors
        errors += not pred.ok
        writer.write(report.row_for_prediction(pred, model, report.manual_label(pred.path)))

    # A missing path among several is that path's error line, not a stop (as exiftool does).
    problems = {p: why for p in args.paths if (why := path_problem(p)) is not None}
    present = [p for p in args.paths if p not in problems]
    for path, why in problems.items():
        show(Prediction(path=path, error=why))
    # A folder that cannot be read is said so, never an empty folder; one named on the command
    # line that cannot be listed at all makes the run bad usage (exit 2), a subfolder exit 1.
    unlisted: list[ListingError] = []
    photos = list_photos(present, recursive=args.recursive, errors=unlisted) if present else []
    for problem in unlisted:
        err(f"error: {problem}")
    named = any(problem.folder in present for problem in unlisted)
    photos = cachecli.select_shard(photos, present, args)
    if not photos:
        writer.write_all([])  # a CSV still gets its header
        if not problems and not unlisted:
            err("no photos found")
        status = exit_status(Run(EXIT_OK, 0, 0.0), errors, len(unlisted))
        return EXIT_USAGE if named else status
    clf = open_classifier(args, cache=not args.no_cache, personal=not args.bundled)
    if isinstance(clf, int):
        return clf
    run = classify_all(
        clf, photos, lambda pred: show(pred, clf.model_id), output_is_the_product=True
    )
    writer.write_all([])
    total = run.count + len(problems)
    folders = f", {plural(len(unlisted), 'folder')} not read" if unlisted else ""
    err(f"{plural(total, 'photo')}, {plural(errors, 'error')}{folders}{run.summary(clf)}")
    status = exit_status(run, errors, len(unlisted))
    return EXIT_USAGE if named and status in (EXIT_OK, EXIT_FAILED) else status
