"""Shared fixtures: offscreen Qt, a tiny random model + card, small folders of generated photos."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Caches the app shares with other programs (the freedesktop thumbnail store, platformdirs'
# user cache) go to a folder of this test run, never the real ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="scene-tagger-tests-cache-")

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.model import networks, scenes

REPO = Path(__file__).resolve().parent.parent
# The bundled model's id (`scene-vgg16@<sha256[:12]>`), read from its card: tests that name it
# follow the weights when they are retrained.
BUNDLED_ID = scenes.ModelCard.read(scenes.default_card_path()).model_id
# The window fixtures (make_window, …) live in tests/uikit.py, shared by the offscreen and the
# real-display UI tests.
pytest_plugins = ["tests.uikit", "tests.onnx_fixtures"]

SHARED_DATA = (REPO.parent / "shared" / "data" / "intel-scenes").resolve()

# The study's simple CNN on seg_test, caret orientation: rows = Prediction, columns = Reference.
STUDY_CM = np.array(
    [
        [348, 24, 14, 20, 35, 106],
        [8, 418, 3, 4, 4, 19],
        [7, 5, 357, 53, 38, 5],
        [19, 6, 98, 381, 61, 5],
        [13, 1, 75, 65, 363, 6],
        [42, 20, 6, 2, 9, 360],
    ]
)


def write_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Random TinyTestNet weights (fp16 safetensors) + a `tiny_test` model card in `folder`;
    returns the card path."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = networks.TinyTestNet(scenes.NUM_CLASSES)
    sha = scenes.save_state_dict(net.state_dict(), folder / "tiny.safetensors", dtype=torch.float16)
    card = scenes.ModelCard(
        architecture="tiny_test",
        weights_file="tiny.safetensors",
        weights_sha256=sha,
        normalization=scenes.IMAGENET,
        name="tiny-test",
    )
    path = folder / scenes.MODEL_CARD_NAME
    card.write(path)
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache folder (the results cache lives there): no test reads or
    fills the user's cache, and no test sees another's results."""
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(folder))
    # the corrections store and personal models (app.userdirs.data_dir): the same for them
    monkeypatch.setenv("SCENE_TAGGER_DATA", str(tmp_path / "user-data"))
    return folder


@pytest.fixture(scope="session")
def tiny_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny_model"))


def make_photo(
    path: Path, size: tuple[int, int] = (200, 150), seed: int = 0, fmt: str | None = None
) -> Path:
    """A real, decodable photo with some structure (gradients + noise) in any Pillow format."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack(
        [
            (xx * 255 // max(w - 1, 1)),
            (yy * 255 // max(h - 1, 1)),
            ((xx + yy) * 127 // max(w + h - 2, 1)),
        ],
        -1,
    )
    arr = np.clip(base + rng.integers(-30, 30, size=(h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGB").save(path, format=fmt)
    return path


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Six small JPEGs in a fresh folder."""
    folder = tmp_path / "photos"
    for i in range(6):
        make_photo(folder / f"IMG_{i:04d}.jpg", seed=i)
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "seg_test").is_dir():
        pytest.skip("shared data set not found at ../shared/data/intel-scenes")
    return SHARED_DATA
