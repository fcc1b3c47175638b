"""What the headless commands share: output that survives any file name, exit codes, the
options every model-running command takes, opening the classifier, and the classify loop
(progress, Ctrl-C, closing, the summary line)."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app import defaults
from app.tagging.report import percent as percent  # tag's lines print it the same way

if TYPE_CHECKING:
    from app.model.engine import Prediction, SceneClassifier

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away
EXIT_HELP = """exit status:
  0    every photo was done
  1    the run completed but some photos failed, or a subfolder could not be read
       (the count and the folders are on stderr)
  2    bad usage (unknown option, no such folder to tag, a folder named on the command
       line that cannot be listed)
  3    the model cannot be used (missing or damaged weights)
  130  interrupted (Ctrl-C)
  141  the reader of the output went away (| head): classify stopped early
       (tag still writes every sidecar and exits as above)"""


def prog() -> str:
    """How the user started us: 'scene-tagger' for the installed script, else 'python -m app'."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not name or name in ("__main__.py", "-m", "-c") or name.startswith("python"):
        return "python -m app"
    return name


# --------------------------------------------------------------------------------------------
# Small helpers


_UNREAD: set[int] = set()  # the standard streams whose reader went away


def write(stream: TextIO, line: str) -> None:
    """Print a line even when a file name cannot be encoded for this terminal. When the reader
    has gone (`| head -1` closed the pipe), the line and every later one are dropped: no
    traceback, and the work goes on (output_closed() says so, for a command whose only
    product is its output)."""
    if id(stream) in _UNREAD:
        return
    try:
        with _bar_paused(stream):
            _write(stream, line)
    except BrokenPipeError:
        reader_gone(stream)


def _write(stream: TextIO, line: str) -> None:
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


def reader_gone(stream: TextIO) -> None:
    """`stream`'s reader went away: drop what it still holds and whatever comes later. Its
    descriptor is pointed at /dev/null, so the flush Python makes at exit finds somewhere to
    write and prints no 'Exception ignored … BrokenPipeError'."""
    _UNREAD.add(id(stream))
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real descriptor (a test's capture): dropping the lines is enough


def output_closed() -> bool:
    """The reader of stdout went away."""
    return id(sys.stdout) in _UNREAD


def out(line: str) -> None:
    write(sys.stdout, line)


def err(line: str) -> None:
    write(sys.stderr, line)


def probability(text: str) -> float:
    """'0.8', '80%' -> 0.8; argparse turns the ValueError into a usage error (exit 2)."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(text)
    return value


probability.__name__ = "probability"  # argparse names the type in its error message


def none_threshold(text: str) -> float:
    """'0.46' -> 0.46; 'off' -> inf (never "none"); a cosine distance lies in [0, 2]."""
    if text.strip().lower() == "off":
        return math.inf
    value = float(text)
    if not value >= 0.0 or math.isnan(value):
        raise ValueError(text)
    return value


none_threshold.__name__ = "open-set threshold"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"


def keyword_parent(text: str) -> str:
    if not text.strip(" |/"):
        raise argparse.ArgumentTypeError("must name a keyword, e.g. Scene")
    return text


keyword_parent.__name__ = "keyword"


def add_sidecar_options(p: argparse.ArgumentParser) -> None:
    """How scenes are written into sidecars: the same options, help and checks for every
    command that writes them (tag, label)."""
    p.add_argument(
        "--sidecar-name",
        choices=defaults.NAMINGS,
        default=defaults.NAMING,
        help="name of new sidecars: IMG.jpg.xmp (ext, default) or IMG.xmp (base); "
        "an existing sidecar of either name is updated",
    )
    p.add_argument(
        "--parent",
        type=keyword_parent,
        default=defaults.PARENT,
        help=f"parent of the hierarchical keyword (default: {defaults.PARENT})",
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", metavar="CARD", type=Path, help="model card (default: the bundled model)"
    )
    p.add_argument("--device", metavar="D", help="auto, cpu, cuda, cuda:1 or mps (default: auto)")
    add_runtime_options(p)
    p.add_argument(
        "--batch-size",
        metavar="N",
        type=positive_int,
        default=defaults.BATCH_SIZE,
        help=f"photos per forward pass (default: {defaults.BATCH_SIZE})",
    )
    p.add_argument(
        "--none-threshold",
        metavar="D",
        type=none_threshold,
        default=None,
        help="how far from every scene the model knows a photo may be before it is 'none' "
        "(no scene keyword): the open-set score, a cosine distance; lower is stricter, 'off' "
        "never says none (default: the model card's, which calls ~1 %% of scene photos none)",
    )


def add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=defaults.BACKENDS,
        default="auto",
        help="auto (torch on a GPU; on a CPU the fastest gated int8 runtime installed: OpenVINO "
        "or ONNX Runtime; --self-test says which and why), torch, onnx or openvino (default: auto)",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "int8", "bf16", "fp16"),
        default="auto",
        help="auto (on ONNX Runtime or OpenVINO int8 when the card's int8 model passed its gate "
        "there; on torch bf16 where the CPU or GPU has it natively), fp32, int8 (ONNX Runtime, "
        "OpenVINO), bf16 or fp16 (torch)",
    )
    p.add_argument(
        "--tta",
        choices=defaults.TTAS,
        default=defaults.TTA,
        help="test-time augmentation: flip also classifies each photo's mirror image and "
        f"averages the scores (twice the compute) (default: {defaults.TTA})",
    )


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """Parse, turning argparse's exits (usage error, --help, --version) into a return code."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def path_problem(path: Path, folder: bool | None = None) -> str | None:
    """Why a path named on the command line cannot be used, in plain words, or None: it does
    not exist, it may not be reached (a folder above it that may not be searched: permission
    denied), or it is not the folder (folder=True) or the file (folder=False) asked for.
    Path.is_dir/is_file raise for a permission error instead of saying it."""
    from app.photos.oserrors import os_reason

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return os_reason(exc, ENOENT="no such file or folder")
    if folder is True and not stat.S_ISDIR(mode):
        return "not a folder"
    if folder is False and not stat.S_ISREG(mode):
        return "not a file"
    return None


def bad_device(device: str | None) -> str | None:
    """Why `device` is not a device name torch knows, or None when it is fine."""
    if device in (None, "auto", "cpu"):
        return None  # the ONNX path runs on the CPU without ever importing torch
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        return f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)"
    return None


def open_classifier(
    args: argparse.Namespace, *, cache: bool = True, personal: bool = True, features: bool = False
) -> SceneClassifier | int:
    """The classifier stack for the model options (app.personal.stack): behind the results
    cache when `cache`, with the active personal head when `personal`; or an exit status
    after printing why there is none. Warnings (a runtime passed over, a cache problem, a
    personal model that cannot run) are lines on stderr, never a stop."""
    from app.model.scenes import ModelError
    from app.personal.stack import ModelChoice, build_classifier

    problem = bad_device(args.device)
    if problem:
        err(f"error: {problem}")
        return EXIT_USAGE
    choice = ModelChoice(
        args.model,
        args.device,
        args.backend,
        args.precision,
        args.batch_size,
        args.tta,
        getattr(args, "none_threshold", None),
    )
    try:
        return build_classifier(
            choice,
            cache=cache,
            personal=personal,
            features=features,
            warn=lambda message: err(f"warning: {message}"),
        )
    except ValueError as exc:  # a backend/precision/device combination that cannot exist
        err(f"error: {exc}")
        return EXIT_USAGE
    except ModelError as exc:
        err(f"error: {exc}")
        return EXIT_MODEL


class Progress:
    """A progress bar on stderr when stderr is a terminal: photos done of all, the rate, the
    time left (tqdm); nothing at all in pipes, files and tests. Lines printed to the same
    terminal meanwhile go above the bar (write() pauses it)."""

    active: Progress | None = None  # the bar on screen, if any

    def __init__(self) -> None:
        self.enabled = _is_terminal(sys.stderr)
        self.bar: Any = None

    def __call__(self, done: int, total: int, errors: int) -> None:
        if not self.enabled or not total or id(sys.stderr) in _UNREAD:  # nothing to show
            return
        if self.bar is None:
            from tqdm import tqdm

            try:  # a terminal that does not say its size (0 x 0) is taken as 80 x 24
                known = min(os.get_terminal_size(sys.stderr.fileno())) > 0
            except (OSError, ValueError, io.UnsupportedOperation):
                known = False
            self.bar = tqdm(
                total=total,
                unit=" photos",
                file=sys.stderr,
                dynamic_ncols=known,  # follows a resized window
                ncols=None if known else 80,
                nrows=None if known else 24,
                mininterval=0.2,
                smoothing=0.05,  # the rate of the whole run so far, nearly: a steadier ETA
                leave=True,  # the final count, rate and time stay above the summary
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, "
                "{rate_fmt}{postfix}]",
            )
            Progress.active = self
        if errors:
            self.bar.set_postfix_str(plural(errors, "error"), refresh=False)
        self.bar.update(done - self.bar.n)

    def clear(self) -> None:
        if self.bar is not None:
            try:
                self.bar.close()
            except BrokenPipeError:
                reader_gone(sys.stderr)
            self.bar = None
        if Progress.active is self:
            Progress.active = None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _bar_paused(stream: TextIO):
    """A line for the terminal the bar is on goes above it: clear the bar, write, redraw."""
    shown = Progress.active
    if shown is None or shown.bar is None or not _is_terminal(stream):
        yield
        return
    shown.bar.clear()
    try:
        yield
    finally:
        shown.bar.refresh()


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f} photos/s" if seconds > 0 and count else "- photos/s"


# --------------------------------------------------------------------------------------------
# the classify loop


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def exit_status(run: Run, errors: int, unlisted: int = 0) -> int:
    """0 all photos done, 1 done but some failed or `unlisted` folders could not be read (the
    counts on stderr), 130 interrupted, 141 stopped because nobody read the output."""
    if run.status in (EXIT_INTERRUPTED, EXIT_PIPE):
        return run.status
    if errors or unlisted:
        failed = [plural(errors, "photo")] if errors else []
        failed += [plural(unlisted, "folder")] if unlisted else []
        err(f"{' and '.join(failed)} failed")
        return EXIT_FAILED
    return EXIT_OK


STOPPED = {EXIT_INTERRUPTED: " (interrupted)", EXIT_PIPE: " (stopped: the output was closed)"}


@dataclass
class Run:
    status: int
    count: int
    elapsed: float

    def summary(self, clf: SceneClassifier) -> str:
        """'(interrupted); device; model; 12.3 s, 45.6 photos/s; 3 from the cache' after the
        counts; '0.1 s, all 12 from the cache' when the model had nothing to do."""
        return (
            f"{STOPPED.get(self.status, '')}; {clf.device_name}; {clf.model_id}; "
            f"{self.elapsed:.1f} s, {speed_note(clf, self.count, self.elapsed)}"
        )


def speed_note(clf: SceneClassifier, count: int, seconds: float) -> str:
    """The rate, and how many results the cache gave; no rate when the cache gave them all
    (12 photos looked up in 0.01 s is no speed of the model's)."""
    hits = clf.hits
    if count == 0:
        return "nothing to classify"  # tag on a folder it tagged before
    if hits is None:
        return rate(count, seconds)  # no cache (--no-cache)
    if hits >= count:  # (a stopped run looked up more than it printed)
        return f"all {count} from the cache"
    return f"{rate(count, seconds)}; {hits} from the cache"


def classify_all(
    clf: SceneClassifier,
    photos: Sequence[Path],
    handle: Callable[[Prediction], None],
    output_is_the_product: bool = False,
) -> Run:
    """Classify with a progress bar; Ctrl-C stops cleanly (exit 130) and the classifier closes.
    `output_is_the_product` (classify, a dry run): stop as soon as nobody reads stdout (exit
    141); otherwise (tag) every photo is done whoever reads."""
    progress = Progress()
    cancel = threading.Event()
    start = time.perf_counter()
    status, count = EXIT_OK, 0
    predictions = clf.classify_paths(photos, progress=progress, cancel=cancel)
    try:
        for pred in predictions:
            count += 1
            handle(pred)
            if output_is_the_product and output_closed():
                status = EXIT_PIPE
                break
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        cancel.set()
        close = getattr(predictions, "close", None)
        if close is not None:
            close()  # a stopped run: what the cache has of it is stored now
        clf.close()
        progress.clear()
    return Run(status, count, time.perf_counter() - start)
