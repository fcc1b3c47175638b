"""Learning from corrections on the command line (issue 12).

    python -m app label PHOTO… --scene SCENE   label photos by hand, as the window does
    python -m app learn [--from FOLDER… [-r]]   fit a personal model on the corrections
    python -m app learn --list | --rollback | --reset

`label` is the window's path, literally: an app.tagging.session.Session, the photos' predictions set
as a scan sets them, `set_manual`, then `plan_save` / `execute_save` / `apply_saved`; the photo
itself is never opened for writing. Each label saved is recorded with its pooled feature in the
corrections store (app.personal.corrections). `learn` fits, measures and adopts or refuses
(app.personal.head), keeping versions (app.personal.versions). Cheap to import: numpy and the
model load only inside the commands.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import defaults
from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_model_options,
    add_sidecar_options,
    err,
    open_classifier,
    out,
    path_problem,
    prog,
)

LABEL_EXIT_HELP = """exit status:
  0    every photo was labelled (its sidecar written, or already saying so)
  1    some photos were not labelled: not a photo, missing or not reachable (permission
       denied), or their sidecar could not be read or written (each named on stderr);
       the others were
  2    bad usage (unknown option, a scene that is not one of the six)"""
LEARN_EXIT_HELP = """exit status:
  0    done: a personal model was adopted, or the one in use was kept (the report says
       why), or --list, --rollback, --reset did what they say
  1    nothing learned: too few corrections, one scene only, or the corrections store
       cannot be opened (said on stderr); or a subfolder of --from -r could not be read
  2    bad usage (unknown option; a --from that is not a folder or cannot be listed:
       nothing is learned)
  3    the model cannot be used to compute the corrections' features"""

if TYPE_CHECKING:
    from app.model.engine import SceneClassifier


def _model_options(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    p.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the results cache"
    )


def _classifier(args: argparse.Namespace, personal: bool) -> SceneClassifier | int:
    """The classifier, with features (behind the cache unless --no-cache; with the personal
    head when `personal`), or an exit status after saying why there is none."""
    return open_classifier(args, cache=not args.no_cache, personal=personal, features=True)


def _store() -> Any:
    from app.personal.corrections import Corrections

    return Corrections(warn=lambda m: err(f"warning: {m}"))


# --------------------------------------------------------------------------------------------
# label


def label_parser() -> argparse.ArgumentParser:
    from app.model.openset import OUTCOMES  # numpy: only when label's parser is built

    p = argparse.ArgumentParser(
        prog=f"{prog()} label",
        description="Label photos by hand, exactly as the window does (keys 1-6, drag and "
        "drop): a manual scene tag in each photo's XMP sidecar, which automatic runs never "
        "overwrite; 'none' (key 7, 'Not a scene') says it shows none of the six scenes and "
        "writes no keyword. The photo itself is never written. Each label is recorded, with the "
        "model's feature of the photo, for `learn`.",
        epilog=LABEL_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="the photos to label")
    p.add_argument(
        "--scene",
        required=True,
        choices=OUTCOMES,
        help="the scene of these photos, or none (none of the six)",
    )
    add_sidecar_options(p)
    _model_options(p)
    return p


def cmd_label(args: argparse.Namespace) -> int:
    from app.personal.corrections import StoreError, sync_session
    from app.photos import imaging
    from app.tagging.session import Session
    from app.tagging.session_io import display_path, execute_save

    failed = 0
    by_folder: dict[Path, list[Path]] = {}
    for photo in args.photos:
        if (why := path_problem(photo, folder=False)) is not None:
            err(f"{photo}\tERROR: {why}; not labelled")
            failed += 1
        elif not imaging.is_photo(photo):
            err(f"{photo}\tERROR: not a photo this app reads ({photo.suffix or 'no extension'})")
            failed += 1
        elif (problem := imaging.not_a_photo(photo)) is not None:
            # a text file named .jpg: no sidecar, no correction (the window refuses it too)
            err(f"{photo}\tERROR: {problem}; not labelled")
            failed += 1
        else:
            by_folder.setdefault(photo.parent, []).append(photo)
    if not by_folder:
        return EXIT_FAILED
    clf = _classifier(args, personal=True)
    if isinstance(clf, int):
        err("warning: no model: the labels are written and recorded without features")
        clf = None
    try:
        store = _store()
    except StoreError as exc:
        err(f"warning: {exc}; labels are written but not recorded for learning")
        store = None
    for folder, photos in by_folder.items():
        session = Session(folder, photos, naming=args.sidecar_name, parent=args.parent)
        session.read_sidecars(notify=False)
        features: dict[Path, Any] = {}
        if clf is not None:
            wanted = set(session.to_classify(clf.model_id))
            # every photo's feature is wanted; the session takes a prediction only where a
            # scan would (a sidecar already holding this model's label keeps its scores)
            for pred in clf.classify_paths(photos):
                features[pred.path] = pred.feature if pred.ok else None
                rid = session.id_for(pred.path)
                if rid in wanted:
                    session.set_predictions([pred], clf.model_id)
        ok_ids = [r.id for r in session.records if not r.sidecar_error]
        for r in session.records:
            if r.sidecar_error:
                err(f"{display_path(r.path)}\tERROR: {r.sidecar_error}")
                failed += 1
        session.set_manual(ok_ids, args.scene)
        items = session.plan_save(ok_ids)
        outcomes = execute_save(items, naming=session.naming, parent=session.parent, root=folder)
        session.apply_saved(outcomes)
        written = {o.id: o for o in outcomes}
        for rid in ok_ids:
            r, o = session.records[rid], written.get(rid)
            if o is not None and o.error:
                err(f"{display_path(r.path)}\tERROR: {o.error}")
                failed += 1
            else:
                name = o.info.path.name if o is not None and o.info else "unchanged"
                out(f"{display_path(r.path)}\t{args.scene}\t{name}")
        if store is not None:
            model = clf.model_id if clf is not None else None
            sync_session(store, session, ok_ids, features, model)
    if store is not None:
        store.close()
    if clf is not None:
        clf.close()
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------------------------
# learn


def learn_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog()} learn",
        description="Fit a personal model on your corrections (the photos you labelled by "
        "hand), starting from the bundled model's head and kept close to it, with a bank of "
        "its training features so it cannot forget the six scenes. It is adopted only when "
        "cross-validation on your own photos shows it beats the bundled model and it loses at "
        "most 0.5 points on the bank. Everything stays on this machine.",
        epilog=LEARN_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="folders",
        nargs="+",
        type=Path,
        default=[],
        metavar="FOLDER",
        help="first import the manual labels found in these folders' sidecars",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders of --from")
    p.add_argument(
        "--sidecar-name", choices=defaults.NAMINGS, default=defaults.NAMING, help=argparse.SUPPRESS
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--list", action="store_true", help="list the personal models and corrections"
    )
    what.add_argument(
        "--rollback", action="store_true", help="go back to the previous personal model"
    )
    what.add_argument("--reset", action="store_true", help="go back to the bundled model")
    p.add_argument("--json", action="store_true", help="print the report (or --list) as JSON")
    _model_options(p)
    return p


def _import_folders(args: argparse.Namespace, store: Any) -> list[Any]:
    """Record the hand labels of the named folders' sidecars as corrections; returns the
    folders that could not be listed (each said on stderr), never skipped in silence."""
    from app.model.openset import OUTCOMES
    from app.personal.corrections import Correction
    from app.tagging.session import Session

    unlisted = []
    for folder in args.folders:  # each a folder: cmd_learn checked
        # a RAW + JPEG pair is one photo to learn from (their features are near twins: counted
        # twice they would weigh twice); its label is the one either sidecar holds
        session = Session.open(
            folder, recursive=args.recursive, naming=args.sidecar_name, raw_jpeg="one"
        )
        for problem in session.listing_errors:
            err(f"error: {problem}")
        unlisted += session.listing_errors
        items = []
        for r in session.records:
            if r.sidecar_error:
                err(f"{r.path}\tERROR: {r.sidecar_error}")
            elif r.saved is not None and r.saved.source == "manual" and r.saved.label in OUTCOMES:
                items.append(Correction(r.path, r.saved.label))
        store.record(items)
        out(f"{folder}: {len(items)} photos labelled by hand")
    return unlisted


def _list(versions: Any, store: Any, as_json: bool = False) -> int:
    active = versions.active()
    if as_json:
        out(
            json.dumps(
                {
                    "corrections": len(store),
                    "by_scene": store.counts(),
                    "active": None if active is None else active.number,
                    "versions": [
                        {
                            "version": v.number,
                            "name": f"personal.{v.number}",
                            "created": v.created,
                            "corrections": v.corrections,
                            "bundled_accuracy": v.report["bundled_accuracy"],
                            "personal_accuracy": v.report["personal_accuracy"],
                            "base_model": v.base_model,
                        }
                        for v in versions.list()
                    ],
                }
            )
        )
        return EXIT_OK
    out(f"corrections: {len(store)} ({', '.join(f'{k} {v}' for k, v in store.counts().items())})")
    out(f"{'*' if active is None else ' '} bundled")
    for v in versions.list():
        mark = "*" if active is not None and v.number == active.number else " "
        r = v.report
        out(
            f"{mark} personal.{v.number}\t{v.created}\t{v.corrections} corrections\t"
            f"held-out {100 * r['bundled_accuracy']:.1f} % -> {100 * r['personal_accuracy']:.1f} %\t"
            f"base {v.base_model}"
        )
    return EXIT_OK


def cmd_learn(args: argparse.Namespace) -> int:
    from app.model import scenes
    from app.personal import head as personal
    from app.personal.corrections import StoreError
    from app.personal.learning import learn_from_corrections, missing_features
    from app.personal.versions import VersionError, Versions

    not_folders = {f: why for f in args.folders if (why := path_problem(f, folder=True))}
    for folder, why in not_folders.items():
        err(f"error: {why}: {folder}")
    if not_folders:
        return EXIT_USAGE  # nothing imported, nothing learned: the command was not the one meant
    versions = Versions()
    try:
        store = _store()
    except StoreError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    clf = None
    try:
        if args.list:
            return _list(versions, store, args.json)
        if args.reset or args.rollback:
            active = versions.rollback() if args.rollback else versions.reset()
            out(f"active: {'bundled model' if active is None else f'personal.{active.number}'}")
            return EXIT_OK
        unlisted = _import_folders(args, store) if args.folders else []
        if any(problem.folder in args.folders for problem in unlisted):
            return EXIT_USAGE  # a named folder could not be read: learning now would mislead
        if missing_features(store):  # a model is opened only when a feature is missing
            clf = _classifier(args, personal=False)
            if isinstance(clf, int):
                return clf
        card = scenes.ModelCard.read(args.model or scenes.default_card_path())
        try:
            outcome = learn_from_corrections(
                store, card, versions, clf, lambda path, why: err(f"{path}\tskipped: {why}")
            )
        except personal.LearnError as exc:
            err(f"learn: {exc}")
            return EXIT_FAILED
        report, version = outcome.report, outcome.version
        if args.json:
            out(json.dumps({**report.to_dict(), "version": version.number if version else None}))
        else:
            for line in report.lines():
                out(line)
            out(report.reason)
            if version is not None:
                out(
                    f"personal.{version.number} is active: tags now name it "
                    f"({card.model_id}…+personal.{version.number}); "
                    f"`{prog()} learn --rollback` or `--reset` to go back"
                )
            else:
                active = versions.active()
                out(
                    "kept: "
                    + ("the bundled model" if active is None else f"personal.{active.number}")
                )
        return EXIT_FAILED if unlisted else EXIT_OK  # a subfolder (-r) could not be read
    except VersionError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    finally:
        store.close()
        if clf is not None:
            clf.close()
