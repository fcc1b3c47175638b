"""`python -m app tag FOLDER`: classify a folder and write its sidecars, on the window's rules
(app.tagging.session.Session: the same plan and save calls the window makes)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import defaults
from app.cli import cache as cachecli
from app.cli.common import (
    EXIT_HELP,
    EXIT_OK,
    EXIT_USAGE,
    Run,
    add_model_options,
    add_sidecar_options,
    classify_all,
    err,
    exit_status,
    open_classifier,
    out,
    path_problem,
    percent,
    probability,
    prog,
)

if TYPE_CHECKING:
    from app.model.engine import Prediction
    from app.tagging.session import Session

# --------------------------------------------------------------------------------------------
# tag: the window's rules (app.tagging.session.Session), without the window


def tag_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} tag",
        description="Classify a folder and write the scene into each photo's XMP sidecar, with "
        "the window's rules: photos labelled by hand are never classified nor overwritten, "
        "photos whose sidecar already holds this model's label are not classified again, "
        "labels below the confidence threshold are not written, and a photo that is none of "
        "the six scenes (see --none-threshold) gets no scene keyword: one this model wrote "
        "there earlier is removed.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "folder",
        type=Path,
        metavar="FOLDER",
        help="the folder whose photos get sidecars (with -r, its subfolders' too)",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders")
    p.add_argument(
        "--min-confidence",
        metavar="P",
        type=probability,
        default=defaults.THRESHOLD,
        help="leave photos below this confidence untagged, as the window's 'Needs review' "
        f"does: 0.8 or 80%% (default: {defaults.THRESHOLD:g})",
    )
    add_sidecar_options(p)
    p.add_argument(
        "--raw-jpeg",
        choices=defaults.RAW_JPEG_MODES,
        default=defaults.RAW_JPEG,
        help="a RAW + JPEG pair (IMG.CR2 + IMG.JPG): two photos, each classified and tagged "
        "(separate, default: darktable, digiKam), or one photo, the JPEG classified and its "
        "label written to both sidecars (one: Lightroom's way)",
    )
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="report what would change, write nothing"
    )
    add_model_options(p)
    cachecli.add_run_options(p)
    return p


class _TagReport:
    """The per-photo lines and the counts of `tag`."""

    KEYS = ("written", "unchanged", "skipped manual", "below threshold", "none", "errors")

    def __init__(self, dry_run: bool, unlisted: int = 0) -> None:
        self.dry_run = dry_run
        self.counts = dict.fromkeys(self.KEYS, 0)
        self.unlisted = unlisted  # folders that could not be read

    def line(self, key: str, path: Path, text: str) -> None:
        self.counts[key] += 1
        out(f"{path}\t{text}")

    def summary(self) -> str:
        parts = [
            f"{v} {'would be written' if k == 'written' and self.dry_run else k}"
            for k, v in self.counts.items()
        ]
        if self.unlisted:
            parts.append(
                f"{self.unlisted} {'folder' if self.unlisted == 1 else 'folders'} not read"
            )
        return ", ".join(parts)


def cmd_tag(args: argparse.Namespace) -> int:
    if (why := path_problem(args.folder, folder=True)) is not None:
        err(f"error: {why}: {args.folder}")
        return EXIT_USAGE
    from app.tagging.session_io import execute_save

    session = cachecli.open_session(
        args, threshold=args.min_confidence, naming=args.sidecar_name, parent=args.parent
    )
    unlisted = session.listing_errors  # folders that could not be read: said, never skipped
    for problem in unlisted:
        err(f"error: {problem}")
    if any(problem.folder == args.folder for problem in unlisted):
        return EXIT_USAGE  # the folder asked for cannot be listed at all
    if not len(session):
        if unlisted:
            return exit_status(Run(EXIT_OK, 0, 0.0), 0, len(unlisted))
        err(f"no photos found in {args.folder}")
        return EXIT_OK
    report = _TagReport(args.dry_run, len(unlisted))
    for r in session.records:
        if r.sidecar_error:  # unreadable sidecar: it could not be updated, so no classifying
            report.line("errors", r.path, f"ERROR: {r.sidecar_error}")
        elif r.manual:
            report.line("skipped manual", r.path, f"skipped: labelled by hand ({r.manual})")
    clf = open_classifier(args, cache=not args.no_cache, personal=not args.bundled)
    if isinstance(clf, int):
        return clf
    wanted = set(session.to_classify(clf.model_id, getattr(clf, "open_set", None) is not None))
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

    # a dry run's report is all it makes: it stops when nobody reads it; a real run writes
    # every sidecar whoever reads its lines
    run = classify_all(
        clf, [session.records[i].path for i in ids], save, output_is_the_product=args.dry_run
    )
    err(f"{report.summary()}{run.summary(clf)}")
    return exit_status(run, report.counts["errors"], len(unlisted))


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
    elif label == "none":  # app.model.openset.NONE: no keyword; an earlier automatic one goes
        done = ("would remove" if report.dry_run else "removed") if planned else "no keyword"
        report.line("none", r.path, f"none\t{done}\topen-set {_distance(r)}")
    elif planned:
        verb = "would write" if report.dry_run else "written"
        names = (
            [sidecar_name(f, session.naming) for f in r.files]
            if outcome is None
            else [p.name for p in outcome.sidecars]
        )
        report.line("written", r.path, f"{verb}\t{label}\t{percent(conf)}\t{', '.join(names)}")
    elif conf is not None and not r.auto_confident(session.threshold):
        report.line("below threshold", r.path, f"below threshold\t{label}\t{percent(conf)}")
    else:
        report.line("unchanged", r.path, f"unchanged\t{label}\t{percent(conf)}")


def _distance(r: Any) -> str:
    d = r.prediction.open_set if r.prediction is not None else None
    return "-" if d is None else ("personal" if d == float("inf") else f"{d:.3f}")


def sidecar_name(photo: Path, naming: str) -> str:
    from app.tagging import sidecar

    found = sidecar.find_sidecar(photo, naming)
    return (found or sidecar.target_sidecar(photo, naming)).name
