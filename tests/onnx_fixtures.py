"""ONNX fixtures shared by the runtime and window tests: a tiny network exported by the real
export code (fp32 stored in fp16, int8 calibrated), and its model card."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from app.model import scenes
from app.model.networks import TinyPooledTestNet
from app.photos import imaging
from tests.conftest import make_photo


def photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    return [make_photo(folder / f"IMG_{i:04d}.jpg", seed=seed + i) for i in range(n)]


def write_onnx_model(folder: Path, gate_passed: bool = True) -> Path:
    """Tiny weights (fp16 safetensors) + ONNX fp32 + int8 + a card listing all three."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    net = TinyPooledTestNet(scenes.NUM_CLASSES)
    sha = scenes.save_state_dict(net.state_dict(), folder / "tiny.safetensors", dtype=torch.float16)
    card = scenes.ModelCard(
        "tiny_pooled_test", "tiny.safetensors", sha, name="tiny-onnx", temperature=1.5
    )
    card.write(folder / scenes.MODEL_CARD_NAME)
    net, card = scenes.load_model(card)
    from training.onnx_export import export_fp32, quantize_int8, store_fp16

    export_fp32(net, folder / "raw.onnx")
    store_fp16(folder / "raw.onnx", folder / "tiny.onnx")
    calib = np.stack([imaging.load_pixels(p) for p in photos(folder / "calib", 32, seed=100)])
    quantize_int8(
        folder / "raw.onnx", folder / "tiny.int8.onnx", calib, card.normalization, "percentile"
    )
    card.extra["onnx"] = {
        "fp32": {
            "file": "tiny.onnx",
            "sha256": scenes.sha256_file(folder / "tiny.onnx"),
            "temperature": 1.5,
        },
        "int8": {
            "file": "tiny.int8.onnx",
            "sha256": scenes.sha256_file(folder / "tiny.int8.onnx"),
            "temperature": 1.4,
            "gate": {"passed": gate_passed},
        },
    }
    card.write(folder / scenes.MODEL_CARD_NAME)
    return folder / scenes.MODEL_CARD_NAME


@pytest.fixture(scope="session")
def onnx_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_onnx_model(tmp_path_factory.mktemp("tiny_onnx"))


@pytest.fixture
def onnx_copy(onnx_card: Path, tmp_path: Path) -> Path:
    """A private copy of the ONNX model folder, for tests that damage files."""
    dest = tmp_path / "model"
    shutil.copytree(onnx_card.parent, dest, ignore=shutil.ignore_patterns("calib", "raw.onnx"))
    return dest / scenes.MODEL_CARD_NAME


def odd_photo(path: Path, seed: int = 0) -> Path:
    """A flat blue photo: far, for the tiny network, from the gradient photos `photos` makes
    (open-set distance ~0.5 against ~0.0 in every runtime; the card below puts its threshold
    at 0.3). `seed` changes the size only (distinct files, the same features)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (200 + seed, 150), (0, 0, 255)).save(path)
    return path


def add_open_set(card_path: Path, k: int = 1, threshold: float = 0.3) -> Path:
    """Give a card an open_set section whose bank is the features of 12 gradient photos
    (the way training's export-open-set writes it, bank file and sha256 beside the card)."""
    from safetensors.numpy import save

    from app.model.engine import Classifier

    folder = card_path.parent
    with Classifier(card_path, backend="onnx", precision="fp32") as clf:
        feats = np.stack([p.feature for p in clf.classify_paths(photos(folder / "bank", 12))])
    blob = save({"features": feats.astype(np.float16)})
    (folder / "bank.safetensors").write_bytes(blob)
    card = scenes.ModelCard.read(card_path)
    card.extra["open_set"] = {
        "method": "knn-cosine",
        "k": k,
        "threshold": threshold,
        "bank": {"file": "bank.safetensors", "sha256": scenes.sha256_bytes(blob)},
    }
    card.write(card_path)
    return card_path


@pytest.fixture(scope="session")
def open_set_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny ONNX model with an open-set section: gradient photos are scenes, noise is none."""
    return add_open_set(write_onnx_model(tmp_path_factory.mktemp("tiny_open_set")))
