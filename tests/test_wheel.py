"""A plain `pip install` (not editable) gets a working app: the wheel carries the bundled
resources as package data (app.model.scenes.resources_dir finds them with importlib.resources).
`.ci/run` installs this wheel in a fresh venv and runs `scene-tagger --self-test` elsewhere;
this test checks the wheel's contents, which is what breaks when a resource is added in a
place pyproject.toml's package-data does not name."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def source_tree(dest: Path) -> Path:
    """What the wheel is built from (pyproject, setup.py, README, the licence, the packages, the
    user's guide in docs/), copied so the build's build/ and *.egg-info never land in the
    working tree."""
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    (dest / "docs").mkdir()
    shutil.copy2(REPO / "docs" / "user-guide.md", dest / "docs" / "user-guide.md")
    shutil.copytree(REPO / "docs" / "guide", dest / "docs" / "guide")
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.xmp")
    for package in ("app", "training"):
        shutil.copytree(REPO / package, dest / package, ignore=junk)
    return dest


def test_the_wheel_carries_the_weights_card_onnx_samples_and_icons(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", src],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("scene_tagger-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    resources = REPO / "app" / "resources"
    shipped = {
        p.relative_to(REPO).as_posix()
        for p in resources.rglob("*")
        if p.is_file() and p.suffix != ".xmp" and "__pycache__" not in p.parts
    }
    assert shipped <= names, sorted(shipped - names)
    kinds = {
        "card": "app/resources/model_card.json",
        "weights": "app/resources/scene_vgg16.safetensors",
        "onnx fp32": "app/resources/scene_vgg16.onnx",
        "onnx int8": "app/resources/scene_vgg16.int8.onnx",
        "replay bank": "app/resources/replay_features.safetensors",
        "icon": "app/resources/icons/scene-tagger.svg",
    }
    assert {k: v for k, v in kinds.items() if v not in names} == {}
    samples = [n for n in names if n.startswith("app/resources/samples/")]
    assert len(samples) == 12 and all(n.endswith(".jpg") for n in samples)
    assert not [n for n in names if n.startswith("resources/")]  # inside the package only
    assert "app/__main__.py" in names and any(n.endswith("entry_points.txt") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "scene-tagger = app.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    # Help: the user's guide with its pictures (setup.py), the notices (package data), the
    # project's licence (PEP 639 license-files)
    assert "app/guide/user-guide.md" in names and "app/resources/THIRD_PARTY_NOTICES.md" in names
    pictures = {p.name for p in (REPO / "docs" / "guide").glob("*.png")}
    assert pictures and {f"app/guide/guide/{p}" for p in pictures} <= names
    licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert zipfile.ZipFile(wheel).read(licence) == (REPO / "LICENSE").read_bytes()
    assert not [n for n in names if n.startswith("app/guide/") and n.endswith(".py")]
