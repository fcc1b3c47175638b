"""Launch the built SceneTagger a few times and time it: launch -> window shown -> model loaded.

    python packaging/measure_startup.py [--bundle dist/SceneTagger] [--runs 3] [FOLDER]

Each run starts the bundle with a clean HOME, offscreen (no display needed), and the bundle's
probe (packaging/rthook_probe.py) printing when the window is shown and the model loaded, then
quitting. Times are wall-clock seconds from launching the process. The first run reads the
files from disk (cold-ish); the median of the rest is the warm figure. Exit status 0 when every
run showed the window, loaded the model, quit cleanly and printed no traceback.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXE = "SceneTagger.exe" if os.name == "nt" else "SceneTagger"


@dataclass
class Run:
    returncode: int | None = None
    shown: float | None = None
    model: float | None = None
    model_ok: bool = False
    torch_early: bool | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.returncode != 0:
            found.append(f"exit status {self.returncode}")
        if self.shown is None:
            found.append("the window was never shown")
        if self.model is None or not self.model_ok:
            found.append("the model did not load")
        if any("Traceback" in line for line in self.lines):
            found.append("a traceback was printed")
        return found


def launch(exe: Path, folder: Path | None, home: Path, quit_after: float, timeout: float) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "QT_", "PYTHON"))}
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        SCENE_TAGGER_PROBE=str(quit_after),
    )
    cmd = [str(exe)] + ([str(folder)] if folder else [])
    run = Run()
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=home,  # never the repo: resources must come from the bundle
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            now = time.perf_counter() - start
            run.lines.append(line.rstrip("\n"))
            if line.startswith("probe: window shown") and run.shown is None:
                run.shown = now
                run.torch_early = "torch already loaded: yes" in line
            elif line.startswith("probe: model loaded") and run.model is None:
                run.model = now
                run.model_ok = "(ok)" in line

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        run.returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        run.lines.append(f"(killed after {timeout:.0f} s)")
    reader.join(timeout=5)
    return run


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "folder", nargs="?", type=Path, help="folder to open (default: the welcome page)"
    )
    p.add_argument("--bundle", type=Path, default=REPO / "dist" / "SceneTagger")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--quit-after", type=float, default=2.0, help="seconds after the model loaded, then close"
    )
    p.add_argument("--timeout", type=float, default=120.0, help="per run")
    p.add_argument("--target", type=float, default=3.0, help="warm window-shown target, seconds")
    args = p.parse_args(argv)
    exe = args.bundle / EXE
    if not exe.is_file():
        print(f"no bundle at {exe}; build it first (python packaging/build.py)", file=sys.stderr)
        return 2
    folder = args.folder.resolve() if args.folder else None
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="scene-tagger-home-") as home:
        for n in range(args.runs):
            r = launch(exe, folder, Path(home), args.quit_after, args.timeout)
            runs.append(r)
            torch = {None: "?", True: "yes", False: "no"}[r.torch_early]
            print(
                f"run {n + 1}: window shown {_fmt(r.shown)} s, model loaded {_fmt(r.model)} s, "
                f"torch loaded at show: {torch}, exit {r.returncode}"
            )
            for problem in r.problems:
                print(f"  problem: {problem}")
            if r.problems:
                print("  stderr:\n    " + "\n    ".join(r.lines[-30:]))
    warm = runs[1:] or runs
    shown = [r.shown for r in warm if r.shown is not None]
    model = [r.model for r in warm if r.model is not None]
    if shown:
        median = statistics.median(shown)
        verdict = "within" if median <= args.target else "OVER"
        model_txt = f"{statistics.median(model):.2f} s" if model else "-"
        print(
            f"startup (warm median of {len(warm)}): window shown {median:.2f} s "
            f"({verdict} the {args.target:g} s target), model loaded {model_txt}; "
            f"first run: {_fmt(runs[0].shown)} s / {_fmt(runs[0].model)} s"
        )
    return 0 if all(not r.problems for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
