"""What the headless commands share: output that survives any file name, exit codes, the
options every model-running command takes, opening the classifier, and the classify loop
(progress, Ctrl-C, closing, the summary line)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app import defaults

if TYPE_CHECKING:
    from app.model.engine import Prediction, SceneClassifier

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
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


def write(stream: TextIO, line: str) -> None:
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


def out(line: str) -> None:
    write(sys.stdout, line)


def err(line: str) -> None:
    write(sys.stderr, line)


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

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except Exception:
        return "unknown"


def probability(text: str) -> float:
    """'0.8', '80%' -> 0.8; argparse turns the ValueError into a usage error (exit 2)."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(text)
    return value


probability.__name__ = "probability"  # argparse names the type in its error message


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"


def percent(p: float | None) -> str:
    return f"{100 * (p or 0.0):.1f}%"


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


def missing_paths(paths: Sequence[Path]) -> list[Path]:
    return [p for p in paths if not os.path.lexists(p)]


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
        args.model, args.device, args.backend, args.precision, args.batch_size, args.tta
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


def cache_note(clf: SceneClassifier) -> str:
    """'; 2990 from the cache' for the summary line (empty without a cache)."""
    return "" if clf.hits is None else f"; {clf.hits} from the cache"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f} photos/s" if seconds > 0 and count else "- photos/s"


# --------------------------------------------------------------------------------------------
# the classify loop


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def exit_status(run: Run, errors: int) -> int:
    """0 all photos done, 1 done but some failed (the count on stderr), 130 interrupted."""
    if run.status == EXIT_INTERRUPTED:
        return EXIT_INTERRUPTED
    if errors:
        err(f"{plural(errors, 'photo')} failed")
        return EXIT_FAILED
    return EXIT_OK


@dataclass
class Run:
    status: int
    count: int
    elapsed: float

    def summary(self, clf: SceneClassifier) -> str:
        """'(interrupted); device; model; 12.3 s, 45.6 photos/s' after the counts."""
        interrupted = " (interrupted)" if self.status == EXIT_INTERRUPTED else ""
        return (
            f"{interrupted}; {clf.device_name}; {clf.model_id}; "
            f"{self.elapsed:.1f} s, {rate(self.count, self.elapsed)}{cache_note(clf)}"
        )


def classify_all(
    clf: SceneClassifier, photos: Sequence[Path], handle: Callable[[Prediction], None]
) -> Run:
    """Classify with a progress line; Ctrl-C stops cleanly (exit 130) and the classifier closes."""
    progress = Progress()
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
    return Run(status, count, time.perf_counter() - start)
