"""The command line's entry point: the command table (COMMANDS), from which dispatch, the usage
text and `--help`'s list of commands all come; the self-test; the window's launcher.

    python -m app [FOLDER]         open the window (on FOLDER)
    python -m app COMMAND …        a row of COMMANDS: classify, tag, cache, label, learn,
                                   install-desktop, uninstall-desktop
    python -m app --version | --self-test

A new command is a new row: its name, its line in --help, its parser and the function it runs.
Exit status, as exiftool and rsync do it: 0 = every photo done; 1 = the run completed but some
photos failed (the count on stderr), or the self-test / the window failed; 2 = bad usage;
3 = unusable model; 130 = interrupted (Ctrl-C). Torch and the model are imported only by the
commands that need them.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.cli import cache, classify, desktop, learn, tag
from app.cli.common import (
    EXIT_FAILED,
    EXIT_HELP,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
    add_runtime_options,
    bad_device,
    err,
    out,
    parse,
    path_problem,
    prog,
    reader_gone,
)
from app.userdirs import version


@dataclass(frozen=True)
class Command:
    """A row of the command table: `python -m app NAME …` parses its arguments with `parser()`
    and runs `run(args)`; `help` is its line under `commands:` in `--help`."""

    name: str
    help: str
    parser: Callable[[], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]


# The one list of commands: dispatch, the usage text and the `commands:` epilog come from it.
COMMANDS: tuple[Command, ...] = (
    Command(
        "classify",
        "a report of labels (text, JSON or CSV)",
        classify.classify_parser,
        classify.cmd_classify,
    ),
    Command("tag", "write the labels into XMP sidecars", tag.tag_parser, tag.cmd_tag),
    Command("cache", "the results cache", cache.cache_parser, cache.cmd_cache),
    Command("label", "label photos by hand", learn.label_parser, learn.cmd_label),
    Command("learn", "a personal model from your corrections", learn.learn_parser, learn.cmd_learn),
    Command(
        "install-desktop",
        "the applications menu and Open With, for this user",
        desktop.install_parser,
        desktop.cmd_install,
    ),
    Command(
        "uninstall-desktop",
        "remove what install-desktop added",
        desktop.uninstall_parser,
        desktop.cmd_uninstall,
    ),
)


def synopsis(parser: argparse.ArgumentParser) -> str:
    """`PROG [-h] [options] --required R POSITIONAL …`: a command's usage line without the
    options every run may leave out (its own -h lists them)."""
    words = [parser.prog]
    optional = [a for a in parser._actions if a.option_strings and not a.required]
    if any(isinstance(a, argparse._HelpAction) for a in optional):
        words.append("[-h]")
    if any(not isinstance(a, argparse._HelpAction) for a in optional):
        words.append("[options]")
    for a in parser._actions:
        if a.option_strings and a.required:
            words.append(f"{a.option_strings[-1]} {a.metavar or a.dest.upper()}")
    for a in parser._actions:
        if a.option_strings:
            continue
        if isinstance(a, argparse._SubParsersAction):
            words.append("{" + ",".join(a.choices) + "} ...")
            continue
        name = a.metavar or a.dest
        words.append(
            {"+": f"{name} [{name} ...]", "*": f"[{name} ...]", "?": f"[{name}]"}.get(a.nargs, name)
        )
    return " ".join(words)


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
    from app.model.scenes import ModelError, resources_dir
    from app.personal.stack import ModelChoice, build_classifier
    from app.photos.imaging import list_photos

    start = time.perf_counter()
    samples = samples or resources_dir() / "samples"
    problem = bad_device(device)
    if problem:
        out(f"self-test FAILED: {problem}")
        return EXIT_USAGE
    try:
        clf = build_classifier(  # the weights alone: no cache, no personal head
            ModelChoice(model, device, backend, precision, tta=tta),
            cache=False,
            personal=False,
            warn=lambda message: err(f"warning: {message}"),
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
        f"{clf.device_name}, {took:.1f} s; runtime chosen: {clf.runtime_why}"
    )
    return EXIT_OK


def run_window(folder: Path | None, recursive: bool = False, photo: Path | None = None) -> int:
    """Open the window (on a folder, or on a photo's folder with that photo selected); the Qt
    side is imported only now, so headless use never needs it."""
    try:
        from app.ui.main import run_gui
    except ImportError as exc:
        err(
            f"error: the window cannot open ({exc}). "
            f"The headless commands still work: {prog()} classify PATH…, {prog()} tag FOLDER"
        )
        return EXIT_FAILED
    return int(run_gui(folder, recursive=recursive, photo=photo) or 0)


def _main_parser() -> argparse.ArgumentParser:
    usage = [f"{prog()} [-h] [--version] [--self-test] [FOLDER | PHOTO]"]
    usage += [synopsis(c.parser()) for c in COMMANDS]
    width = max(len(c.name) for c in COMMANDS)
    listed = "\n".join(f"  {c.name:<{width}}  {c.help}" for c in COMMANDS)
    p = argparse.ArgumentParser(
        prog=prog(),
        usage="\n       ".join(usage),
        description="Scene Tagger: tag photos by scene (buildings, forest, glacier, mountain, sea, "
        "street). Without a command, open the window (on FOLDER; on a PHOTO: its folder, with "
        "that photo selected).",
        epilog=f"commands:\n{listed}\n'{prog()} COMMAND -h' for a command's options\n\n{EXIT_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "folder",
        nargs="*",
        type=Path,
        metavar="FOLDER",
        help="folder to open in the window; or a photo: its folder opens with that photo "
        "selected (what a file manager's Open With passes; further photos are ignored)",
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
    """Run one command; its exit status. A reader of stdout that goes away (`| head -1`) never
    ends in a traceback: lines are dropped from then on (cli.common.write), and an output
    written in one go (cache export -) that meets the closed pipe stops with 141."""
    try:
        status = _dispatch(argv)
        sys.stdout.flush()  # now, not in Python's exit, where a closed pipe prints a complaint
        return status
    except BrokenPipeError:
        reader_gone(sys.stdout)
        return EXIT_PIPE


def _dispatch(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((c for c in COMMANDS if argv and argv[0] == c.name), None)
    if command is not None:
        args = parse(command.parser(), argv[1:])
        return args if isinstance(args, int) else command.run(args)
    args = parse(_main_parser(), argv)
    if isinstance(args, int):
        return args
    if args.self_test:
        return self_test(
            args.model, args.device, args.samples, args.backend, args.precision, args.tta
        )
    target = args.folder[0] if args.folder else None
    if target is not None and (why := path_problem(target)) is not None:
        err(f"error: {why}: {target}")
        return EXIT_USAGE
    if target is not None and target.is_file():
        from app.photos.formats import is_photo

        if not is_photo(target):
            err(f"error: not a photo or a folder: {target}")
            return EXIT_USAGE
        return run_window(None, args.recursive, photo=target)
    if target is not None and not target.is_dir():
        err(f"error: not a folder: {target}")
        return EXIT_USAGE
    return run_window(target, args.recursive)
