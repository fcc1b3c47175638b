"""The contract shared by the app and the training module.

Class names and order, input size, normalization (`to_input`), and the loading of weights
through a model card (sha256 checked, plain tensor files only) all live here, so the
preprocessing that trained the weights is exactly the preprocessing that runs them. Nothing
here imports torchvision or Qt.

torch is imported only when a function needs it, and the networks (app.model.networks, torch) only
when a model is loaded, so the window can show before torch's seconds-long import.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.defaults import INPUT_SIZE  # a card without "input_size" is this size

if TYPE_CHECKING:
    import torch
    from torch import nn

CLASSES: tuple[str, ...] = ("buildings", "forest", "glacier", "mountain", "sea", "street")
NUM_CLASSES = len(CLASSES)

# Normalization applied after scaling pixels to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESCALE_ONLY_MEAN = (0.0, 0.0, 0.0)  # the study's CNNs: Keras rescale=1/255 and nothing else
RESCALE_ONLY_STD = (1.0, 1.0, 1.0)

MODEL_CARD_NAME = "model_card.json"


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def from_dict(cls, d: dict[str, Sequence[float]]) -> Normalization:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}


IMAGENET = Normalization(IMAGENET_MEAN, IMAGENET_STD)
RESCALE_ONLY = Normalization(RESCALE_ONLY_MEAN, RESCALE_ONLY_STD)


def to_input(
    pixels: torch.Tensor | np.ndarray,
    norm: Normalization,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """uint8 pixels (N,H,W,3) or (H,W,3) -> float32 (N,3,H,W), scaled to [0,1] and normalized.

    The one function that turns decoded pixels into network input, in the app and in training.
    Training passes its augmentation as `augment`: it sees float (N,3,H,W) in [0,1], between
    the scaling and the normalization. The app passes none.
    """
    import torch

    if isinstance(pixels, np.ndarray):
        if not pixels.flags.writeable:  # e.g. np.asarray(a PIL image); torch.from_numpy warns
            pixels = pixels.copy()
        pixels = torch.from_numpy(np.ascontiguousarray(pixels))
    if pixels.dim() == 3:
        pixels = pixels.unsqueeze(0)
    if pixels.dtype != torch.uint8:
        raise TypeError(f"expected uint8 pixels, got {pixels.dtype}")
    x = pixels.permute(0, 3, 1, 2).float().div_(255.0)
    if augment is not None:
        x = augment(x)
    return _normalize(x, norm)


def to_input_array(pixels: np.ndarray, norm: Normalization) -> np.ndarray:
    """`to_input` in numpy, for the ONNX Runtime path, which never imports torch: the same
    float32 arithmetic ((x / 255 - mean) / std), bit-identical results (tests/test_runtimes.py)."""
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {pixels.dtype}")
    x = pixels.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    mean = np.asarray(norm.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(norm.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)


def _normalize(x: torch.Tensor, norm: Normalization) -> torch.Tensor:
    import torch

    mean = torch.tensor(norm.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------------------------
# Model card + weights


class ModelError(RuntimeError):
    """Weights or model card that cannot be used; the message names the file and the reason."""


@dataclass
class ModelCard:
    architecture: str
    weights_file: str
    weights_sha256: str
    classes: tuple[str, ...] = CLASSES
    input_size: int = INPUT_SIZE
    normalization: Normalization = IMAGENET
    temperature: float = 1.0
    name: str = "vgg16-scene"
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where the card was read from

    @property
    def model_id(self) -> str:
        """Short, stable identifier written into sidecars: name + first 12 hex of the sha256
        (app.model.modelid)."""
        from app.model.modelid import ModelId

        return str(ModelId.of_weights(self.name, self.weights_sha256))

    @property
    def weights_path(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return base / self.weights_file

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.extra)
        d.update(
            name=self.name,
            architecture=self.architecture,
            classes=list(self.classes),
            input_size=self.input_size,
            normalization=self.normalization.to_dict(),
            temperature=self.temperature,
            weights={"file": self.weights_file, "sha256": self.weights_sha256},
        )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> ModelCard:
        known = {
            "name",
            "architecture",
            "classes",
            "input_size",
            "normalization",
            "temperature",
            "weights",
        }
        try:
            return cls(
                name=str(d.get("name", "scene-model")),
                architecture=str(d["architecture"]),
                weights_file=str(d["weights"]["file"]),
                weights_sha256=str(d["weights"]["sha256"]).lower(),
                classes=tuple(str(c) for c in d.get("classes", CLASSES)),
                input_size=int(d.get("input_size", INPUT_SIZE)),
                normalization=Normalization.from_dict(d["normalization"]),
                temperature=float(d.get("temperature", 1.0)),
                extra={k: v for k, v in d.items() if k not in known},
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            where = f" {path}" if path else ""
            raise ModelError(f"model card{where} is missing or has a bad field: {exc}") from exc

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"model card not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model card {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelError(f"model card {path} is not a JSON object")
        return cls.from_dict(data, path=path)

    def sections_lost(self, path: str | os.PathLike[str]) -> list[str]:
        """The sections of the card now at `path` (top level, and `training`'s) that this card
        lacks: what writing it there would drop. [] where there is no readable card."""
        try:
            old = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(old, dict):
            return []
        new = self.to_dict()
        lost = [k for k in old if k not in new]
        trained, now = old.get("training"), new.get("training") or {}
        if isinstance(trained, dict):
            lost += [f"training.{k}" for k in trained if k not in now]
        return lost

    def write(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        os.replace(tmp, path)
        self.path = path


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resources_dir() -> Path:
    """The bundled resources (weights, card, icons, samples): inside a PyInstaller bundle, or the
    `app` package's data (`app/resources`), wherever the package is installed, whatever the cwd."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(str(importlib.resources.files("app").joinpath("resources")))


def default_card_path() -> Path:
    return resources_dir() / MODEL_CARD_NAME


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read tensors without executing code: safetensors, or torch.load(weights_only=True)."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path} is not a plain tensor file (state dict)")
    return obj


def save_state_dict(
    state: dict[str, torch.Tensor], path: str | os.PathLike[str], dtype: torch.dtype | None = None
) -> str:
    """Write a safetensors file atomically (optionally cast floats to `dtype`); returns sha256."""

    from safetensors.torch import save_file

    path = Path(path)
    tensors = {
        k: (v.detach().to(dtype) if dtype is not None and v.is_floating_point() else v.detach())
        .contiguous()
        .cpu()
        for k, v in state.items()
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    os.chmod(tmp, 0o644)  # safetensors creates 0600; weights are meant to be shared and bundled
    os.replace(tmp, path)
    return sha256_file(path)


def load_model(
    card: ModelCard | str | os.PathLike[str] | None = None,
) -> tuple[nn.Module, ModelCard]:
    """Build the card's network and load its weights after checking their sha256.

    Raises ModelError naming the file when the card or weights are missing, truncated, do not
    match the card's sha256, or do not fit the architecture. The network is float32, eval mode.
    """
    if card is None:
        card = default_card_path()
    if not isinstance(card, ModelCard):
        card = ModelCard.read(card)
    wpath = card.weights_path
    if not wpath.is_file():
        raise ModelError(f"weights file not found: {wpath}")
    actual = sha256_file(wpath)
    if actual != card.weights_sha256:
        raise ModelError(
            f"weights file {wpath} does not match its model card (sha256 {actual[:12]}… expected "
            f"{card.weights_sha256[:12]}…): truncated, corrupted or replaced"
        )
    if tuple(card.classes) != CLASSES:
        raise ModelError(f"model card {card.path} lists classes {card.classes}, expected {CLASSES}")
    try:
        state = load_state_dict(wpath)
    except ModelError:
        raise
    except Exception as exc:  # safetensors / torch raise many types for damaged files
        raise ModelError(f"cannot read weights {wpath}: {exc}") from exc
    from app.model import networks

    try:
        net = networks.build_network(card.architecture, len(card.classes))
    except networks.UnknownArchitecture as exc:
        raise ModelError(f"model card {card.path}: {exc}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"weights {wpath} do not fit architecture {card.architecture}: {exc}"
        ) from exc
    net.eval()
    return net, card
