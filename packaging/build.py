"""Build the one-folder app dist/SceneTagger/ with PyInstaller, from a CPU-only build venv.

    python3.11 packaging/build.py [--resources DIR] [--venv DIR] [--fresh]

The build venv (default: <tmp>/scene-tagger-build-venv, never in the repo) gets exactly the
app's runtime (packaging/requirements-build.txt: ONNX Runtime runs the model, no torch), so
nothing torch, CUDA or training-related can end up in the bundle; the script refuses a venv that has
them. PyInstaller runs niced (the build is heavy and the machine may be busy). The bundle's
size is printed at the end. Works the same on Linux, macOS and Windows (see docs/packaging.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "scene_tagger.spec"
REQUIREMENTS = PACKAGING / "requirements-build.txt"
NAME = "SceneTagger"
STAMP = ".scene-tagger-build-stamp"
FORBIDDEN = (
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "nvidia-",
    "matplotlib",
    "scipy",
    "PyQt",
    "onnx",  # the exporter (onnxruntime, which runs the model, is allowed: see below)
)
ALLOWED = ("onnxruntime",)
LINUX_EXTRAS = ("linux/install.sh",)  # the desktop entry comes from the app: install-desktop


def default_venv() -> Path:
    return Path(tempfile.gettempdir()) / "scene-tagger-build-venv"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str | Path], **kwargs: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def ensure_venv(venv: Path, fresh: bool) -> Path:
    """The build venv with the pinned requirements; reinstalls only when they changed."""
    wanted = hashlib.sha256(f"{sys.version}\n{REQUIREMENTS.read_text()}".encode()).hexdigest()
    stamp = venv / STAMP
    if fresh and venv.exists():
        shutil.rmtree(venv)
    python = venv_python(venv)
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == wanted:
        return python
    if not python.exists():
        run([sys.executable, "-m", "venv", venv])
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    run(pip + ["-r", REQUIREMENTS])
    check_venv(python)
    stamp.write_text(wanted + "\n")
    return python


def check_venv(python: Path) -> None:
    """Refuse a venv whose packages would make the bundle big or pull in training code."""
    probe = (
        "import importlib.metadata as m, json;"
        "print(json.dumps([None, [d.metadata['Name'] for d in m.distributions()]]))"
    )
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
    import json

    cuda, names = json.loads(out.stdout.strip().splitlines()[-1])
    bad = sorted(
        n
        for n in names
        if n.lower().startswith(tuple(f.lower() for f in FORBIDDEN))
        and not n.lower().startswith(ALLOWED)
    )
    if cuda is not None or bad:
        raise SystemExit(
            f"the build venv is not minimal (unwanted: {bad}); rebuild it with --fresh"
        )


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes, files) of a folder, not following links."""
    total = count = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            total += st.st_size
            count += 1
    return total, count


def strip_debug_info(bundle: Path) -> int:
    """Remove debug sections from the bundle's shared libraries (Linux): libpython alone
    carries 18 MB of them. Libraries that wheels vendored (`*.libs/`: numpy's OpenBLAS,
    Pillow's codecs…) were rewritten by auditwheel's patchelf and break when stripped (numpy:
    "ELF load command address/offset not page-aligned"), so they are left alone. Returns the
    bytes saved."""
    strip = shutil.which("strip")
    if strip is None or not sys.platform.startswith("linux"):
        return 0
    before = folder_size(bundle)[0]
    for root, dirs, files in os.walk(bundle):
        dirs[:] = [d for d in dirs if not d.endswith(".libs")]
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not (".so" in name or name == NAME):
                continue
            with open(path, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue
            subprocess.run([strip, "--strip-debug", str(path)], check=False, capture_output=True)
    return before - folder_size(bundle)[0]


def make_readable(path: Path) -> None:
    """Everyone may read the bundle (weights written by safetensors can be 0600)."""
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            mode = os.lstat(p).st_mode
            if not stat.S_ISLNK(mode):
                extra = stat.S_IRGRP | stat.S_IROTH
                if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
                    extra |= stat.S_IXGRP | stat.S_IXOTH
                os.chmod(p, mode | extra)


def build(args: argparse.Namespace) -> Path:
    python = ensure_venv(args.venv, args.fresh)
    env = dict(os.environ)
    if args.resources:
        env["SCENE_TAGGER_RESOURCES"] = str(args.resources.resolve())
    dist = args.distpath.resolve()
    cmd: list[str | Path] = [python, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    cmd += ["--distpath", dist, "--workpath", args.workpath.resolve(), SPEC]
    if not args.keep_cache:
        cmd.insert(3, "--clean")
    if args.nice and hasattr(os, "nice"):
        cmd = ["nice", "-n", str(args.nice), *cmd]
    start = time.monotonic()
    run(cmd, env=env, cwd=REPO)
    bundle = dist / NAME
    if sys.platform.startswith("linux"):
        for rel in LINUX_EXTRAS:
            shutil.copy2(PACKAGING / rel, bundle / Path(rel).name)
    saved = strip_debug_info(bundle)
    if saved:
        print(f"stripped {saved / 2**20:.0f} MiB of debug info")
    make_readable(bundle)
    size, files = folder_size(bundle)
    print(
        f"built {bundle} in {time.monotonic() - start:.0f} s: "
        f"{size / 2**20:.0f} MiB ({size / 1e9:.2f} GB), {files} files"
    )
    return bundle


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--resources",
        type=Path,
        help="folder bundled as resources/ (default: resources/); "
        "must hold model_card.json and its weights",
    )
    p.add_argument(
        "--venv", type=Path, default=default_venv(), help="build venv (default: %(default)s)"
    )
    p.add_argument("--fresh", action="store_true", help="delete and recreate the build venv")
    p.add_argument("--distpath", type=Path, default=REPO / "dist", help="default: dist/")
    p.add_argument("--workpath", type=Path, default=REPO / "build" / "pyinstaller")
    p.add_argument("--keep-cache", action="store_true", help="skip --clean (faster rebuilds)")
    p.add_argument("--nice", type=int, default=10, help="niceness of PyInstaller (default: 10)")
    return p


def main(argv: list[str] | None = None) -> int:
    build(parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
