"""Runtimes: torch and ONNX Runtime agree, `auto` picks and falls back, the CLI says why.

A tiny network (same contract as VGG16Scene: features -> pool -> head) is exported to ONNX
fp32 (fp16-stored weights) and int8 by the real export code, so every path here is the
bundled model's path at a few thousand parameters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli.main import main
from app.model import choice, runtimes, scenes
from app.model.engine import Classifier
from app.photos import imaging
from app.tagging import sidecar
from tests.conftest import REPO, make_photo

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.onnx_fixtures import photos, write_onnx_model


def test_fp16_storage_halves_the_file_and_keeps_the_numbers(onnx_card: Path) -> None:
    import onnx

    folder = onnx_card.parent
    stored = onnx.load(str(folder / "tiny.onnx")).graph.initializer
    assert {t.data_type for t in stored} == {onnx.TensorProto.FLOAT16}
    assert (folder / "tiny.onnx").stat().st_size < (folder / "raw.onnx").stat().st_size
    with Classifier(onnx_card, backend="onnx", precision="fp32") as clf:
        pixels = np.stack([imaging.load_pixels(p) for p in photos(folder / "p", 8)])
        logits, features = clf.runtime.run_pixels(pixels)
    net, card = scenes.load_model(onnx_card)
    with torch.no_grad():
        x = scenes.to_input(pixels, card.normalization)
        expected = net(x).numpy()
        pooled = net.pool(net.features(x)).flatten(1).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    assert features is not None and features.shape == (8, 16)
    np.testing.assert_allclose(features, pooled, atol=1e-5)


def test_onnx_fp32_and_torch_give_the_same_predictions(onnx_card: Path, tmp_path: Path) -> None:
    files = photos(tmp_path, 12)
    t = Classifier(onnx_card, backend="torch", precision="fp32")
    o = Classifier(onnx_card, backend="onnx", precision="fp32")
    with t, o:
        by_torch, by_onnx = list(t.classify_paths(files)), list(o.classify_paths(files))
        assert t.model_id == o.model_id == t.card.model_id  # same weights, same id
        assert "torch fp32" in t.device_name and "ONNX Runtime fp32" in o.device_name
    for a, b in zip(by_torch, by_onnx, strict=True):
        assert a.label == b.label
        np.testing.assert_allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-5)


def test_auto_on_a_cpu_runs_the_gated_int8_model(onnx_card: Path, tmp_path: Path) -> None:
    warnings: list[str] = []
    with Classifier(onnx_card, device="cpu", warn=warnings.append) as clf:
        assert (clf.backend, clf.precision) == ("onnx", "int8")
        assert clf.model_id == f"{clf.card.model_id}/int8"
        assert clf.device_name.endswith("ONNX Runtime int8")
        preds = list(clf.classify_paths(photos(tmp_path, 5)))
    assert all(p.ok for p in preds) and not warnings
    assert all(sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5) for p in preds)


def test_int8_that_failed_its_gate_is_not_chosen(tmp_path: Path) -> None:
    card = write_onnx_model(tmp_path / "m", gate_passed=False)
    with Classifier(card, device="cpu") as clf:
        assert (clf.backend, clf.precision) == ("onnx", "fp32")
        assert clf.model_id == clf.card.model_id
    with Classifier(card, backend="onnx", precision="int8") as clf:  # asked for by name: runs
        assert clf.precision == "int8"


def test_a_damaged_onnx_file_is_named_and_auto_falls_back(onnx_copy: Path) -> None:
    int8 = onnx_copy.parent / "tiny.int8.onnx"
    int8.write_bytes(int8.read_bytes()[:-100])  # truncated
    warnings: list[str] = []
    with Classifier(onnx_copy, device="cpu", warn=warnings.append) as clf:
        assert (clf.backend, clf.precision) == ("onnx", "fp32")
    assert len(warnings) == 1 and str(int8) in warnings[0]
    assert (
        "does not match its model card" in warnings[0]
        and "falling back to ONNX fp32" in warnings[0]
    )
    (onnx_copy.parent / "tiny.onnx").unlink()
    warnings.clear()
    with Classifier(onnx_copy, device="cpu", warn=warnings.append) as clf:
        assert clf.backend == "torch"
    assert "ONNX model file not found" in warnings[1] and warnings[1].endswith(
        "falling back to torch"
    )


def test_explicit_onnx_without_a_usable_model_exits_3(
    onnx_copy: Path, tiny_card: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = make_photo(tmp_path / "a.jpg")
    (onnx_copy.parent / "tiny.onnx").write_bytes(b"not an onnx file")
    args = ["classify", str(photo), "--model", str(onnx_copy), "--backend", "onnx"]
    assert main([*args, "--precision", "fp32"]) == 3
    err = capsys.readouterr().err
    assert "tiny.onnx" in err and "does not match its model card" in err
    assert main(["classify", str(photo), "--model", str(tiny_card), "--backend", "onnx"]) == 3
    assert "lists no ONNX fp32 model" in capsys.readouterr().err
    assert main([*args, "--precision", "bf16"]) == 2  # a combination that cannot exist
    assert "bf16 runs on torch only" in capsys.readouterr().err


def test_tag_writes_the_runtime_variant_into_the_sidecar(onnx_card: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    files = photos(folder, 3)
    assert (
        main(
            [
                "tag",
                str(folder),
                "--model",
                str(onnx_card),
                "--device",
                "cpu",
                "--min-confidence",
                "0",
            ]
        )
        == 0
    )
    tags = [sidecar.read_sidecar(p).scene for p in files]
    assert all(t is not None and t.model_id.endswith("/int8") for t in tags)
    assert tags[0].model_id.startswith("tiny-onnx@")


def test_the_onnx_path_never_imports_torch(onnx_card: Path, tmp_path: Path) -> None:
    files = photos(tmp_path / "p", 3)
    code = (
        "import json, sys\n"
        "from app.cli.main import main\n"
        f"rc = main(['classify', '--json', '--device', 'cpu', '--model', {str(onnx_card)!r}, "
        f"{str(tmp_path / 'p')!r}])\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"rc": 0, "torch": False}
    assert sum('"label"' in line for line in lines) == len(files)
    assert "ONNX Runtime int8" in out.stderr


def test_choice_of_runtime(onnx_card: Path) -> None:
    card = scenes.ModelCard.read(onnx_card)
    assert choice.candidates(card, "auto", "auto", "cpu") == [
        ("onnx", "int8"),
        ("onnx", "fp32"),
        ("torch", "fp32"),
    ]
    assert choice.candidates(card, "auto", "fp32", "cpu") == [("onnx", "fp32"), ("torch", "fp32")]
    assert choice.candidates(card, "auto", "bf16", "cpu") == [("torch", "bf16")]
    assert choice.candidates(card, "onnx", "auto", None) == [("onnx", "int8"), ("onnx", "fp32")]
    assert choice.candidates(card, "torch", "auto", None) == [("torch", "auto")]
    with pytest.raises(ValueError, match="ONNX Runtime runs on the CPU"):
        choice.candidates(card, "onnx", "auto", "cuda")


def test_self_test_on_the_bundled_onnx_model(capsys: pytest.CaptureFixture[str]) -> None:
    card = scenes.ModelCard.read(scenes.default_card_path())
    if "onnx" not in card.extra:
        pytest.skip("the bundled card lists no ONNX models")
    assert main(["--self-test", "--backend", "onnx", "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("self-test ok") and "ONNX Runtime fp32" in out


def test_the_numpy_preprocessing_is_bit_identical_to_to_input() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    for norm in (scenes.IMAGENET, scenes.RESCALE_ONLY):
        a = scenes.to_input_array(pixels, norm)
        assert a.dtype == np.float32 and a.shape == (3, 3, 150, 150) and a.flags.c_contiguous
        assert np.array_equal(a, scenes.to_input(pixels, norm).numpy())
    single = scenes.to_input_array(pixels[0], scenes.IMAGENET)
    assert np.array_equal(single, scenes.to_input_array(pixels[:1], scenes.IMAGENET))


def test_without_onnxruntime_auto_runs_torch_quietly(
    onnx_card: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtimes, "onnxruntime_available", lambda: False)
    warnings: list[str] = []
    with Classifier(onnx_card, device="cpu", warn=warnings.append) as clf:
        assert clf.backend == "torch" and clf.model_id == clf.card.model_id
    assert warnings == []
    with pytest.raises(scenes.ModelError, match="onnxruntime is not installed"):
        Classifier(onnx_card, backend="onnx")
