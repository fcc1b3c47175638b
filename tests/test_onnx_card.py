"""The bundled card's ONNX figures hold: files, gate arithmetic, and a 120-photo seg_test re-run.

`python -m training export-onnx` records, for each ONNX model, the labels it gives the first 20
seg_test photos of every class; here those photos are decoded and classified again through the
app's runtime and must get the same labels (int8 kernels differ a little between CPUs, so two
of 120 may move), the same accuracy within that, and fp32 must agree with torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.model import runtimes, scenes
from app.photos import imaging
from training import data as D

pytest.importorskip("onnxruntime")

CARD = scenes.ModelCard.read(scenes.default_card_path())
ONNX = CARD.extra.get("onnx") or {}
pytestmark = pytest.mark.skipif(not ONNX, reason="the bundled card lists no ONNX models")


def test_the_files_are_the_cards() -> None:
    for precision in ("fp32", "int8"):
        entry = ONNX[precision]
        assert scenes.sha256_file(scenes.resources_dir() / entry["file"]) == entry["sha256"]
        assert 0.05 < entry["temperature"] < 20
    size = (scenes.resources_dir() / ONNX["int8"]["file"]).stat().st_size
    assert size < 20e6  # committed: int8 weights only, not fp32


def test_the_gate_record_follows_from_its_figures() -> None:
    g = ONNX["int8"]["gate"]
    assert g["n"] == 3000
    assert g["accuracy_drop_points"] == pytest.approx(
        100 * (g["accuracy_fp32"] - g["accuracy_int8"])
    )
    passed = (
        g["accuracy_drop_points"] <= g["max_accuracy_drop_points"]
        and g["label_agreement"] >= g["min_label_agreement"]
        and g["ece"] <= g["max_ece"]
    )
    assert g["passed"] == passed
    assert g["accuracy_int8"] == pytest.approx(ONNX["int8"]["evaluation"]["accuracy"])
    assert g["accuracy_fp32"] == pytest.approx(ONNX["fp32"]["evaluation"]["accuracy"])


@pytest.mark.dataset
@pytest.mark.slow
def test_a_seg_test_slice_reproduces_the_cards_labels(shared_data: Path) -> None:
    from training.evaluation import runtime_logits
    from training.onnx_export import slice_indices

    index = D.index_split(shared_data, "seg_test")
    idx = slice_indices(index.labels)
    labels = index.labels[idx]
    pixels = np.stack([imaging.load_pixels(index.paths[i]) for i in idx])
    got = {}
    for precision in ("fp32", "int8"):
        rt = runtimes.OnnxRuntime(CARD, precision)
        got[precision] = runtime_logits(rt, pixels, progress=False).argmax(1)
        pinned = ONNX[precision]["slice_check"]
        assert pinned["photos"] == len(idx) == 120
        expected = np.array([int(c) for c in pinned["labels"]])
        assert (got[precision] != expected).sum() <= 2, precision
        assert abs((got[precision] == labels).mean() - pinned["accuracy"]) <= 2 / 120
    torch_rt = runtimes.TorchRuntime(CARD, device="cpu", precision="fp32")
    by_torch = runtime_logits(torch_rt, pixels, progress=False).argmax(1)
    assert (by_torch == got["fp32"]).mean() >= 119 / 120  # the same weights
    assert (got["int8"] == got["fp32"]).mean() >= 0.95
