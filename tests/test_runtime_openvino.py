"""OpenVINO: runs the card's ONNX files as ONNX Runtime does (features too), has its own id for
int8, caches compiled models, is chosen by `auto` only where installed, gated and faster; the
bundled card's OpenVINO gate record holds and a seg_test slice reproduces it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli.main import main
from app.model import choice, runtimes, scenes
from app.model.engine import Classifier
from app.photos import imaging
from training import data as D

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.onnx_fixtures import photos  # noqa: E402

CARD = scenes.ModelCard.read(scenes.default_card_path())


def _pixels(tmp_path: Path, n: int = 6) -> np.ndarray:
    return np.stack([imaging.load_pixels(p) for p in photos(tmp_path / "px", n, seed=7)])


def _gated_copy(onnx_card: Path, tmp_path: Path, passed: bool = True) -> Path:
    dest = tmp_path / "gated"
    shutil.copytree(onnx_card.parent, dest, ignore=shutil.ignore_patterns("calib", "raw.onnx"))
    card_file = dest / scenes.MODEL_CARD_NAME
    card = json.loads(card_file.read_text())
    card["onnx"]["int8"]["openvino"] = {"gate": {"passed": passed}}
    card_file.write_text(json.dumps(card))
    return card_file


def test_openvino_gives_onnx_runtimes_numbers_and_the_features(
    onnx_card: Path,
    tmp_path: Path,
) -> None:
    card = scenes.ModelCard.read(onnx_card)
    px = _pixels(tmp_path)
    for precision in ("fp32", "int8"):
        ov = runtimes.OpenVinoRuntime(card, precision, threads=2, cache_dir=None)
        # the few fp32 nodes of the int8 model in f32 too, whatever the CPU offers (calibration)
        assert ov.inference_precision == "f32"
        ort = runtimes.OnnxRuntime(card, precision, threads=2)
        (lo, fo), (lr, fr) = ov.run_pixels(px), ort.run_pixels(px)
        assert fo is not None and fr is not None and fo.shape == fr.shape == (len(px), fr.shape[1])
        assert np.array_equal(lo.argmax(1), lr.argmax(1)), precision
        atol = 1e-4 if precision == "fp32" else 0.1  # int8: other kernels, other rounding
        np.testing.assert_allclose(lo, lr, atol=atol, rtol=0)
        np.testing.assert_allclose(fo, fr, atol=atol * 10, rtol=0)
        assert ov.temperature == ort.temperature
        # one request reuses its buffers: a second call must not change the first's arrays
        before = lo.copy()
        ov.run_pixels(px[::-1].copy())
        assert np.array_equal(lo, before)
    assert ov.model_id == f"{card.model_id}/int8" == ort.model_id  # the same model, other kernels
    assert ov.description == "CPU (2 threads), OpenVINO int8"


def test_compiled_models_are_cached_in_the_given_folder(
    onnx_card: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    card = scenes.ModelCard.read(onnx_card)
    monkeypatch.setenv(runtimes.OV_CACHE_ENV, str(tmp_path / "ovcache"))
    assert runtimes.openvino_cache_dir() == tmp_path / "ovcache"
    rt = runtimes.OpenVinoRuntime(card, "int8")
    assert rt.cache_dir == tmp_path / "ovcache"
    blobs = sorted((tmp_path / "ovcache").rglob("*.blob"))
    assert blobs, "no compiled model written to the cache folder"
    again = runtimes.OpenVinoRuntime(card, "int8")  # from the cache: the same numbers
    px = _pixels(tmp_path, 3)
    np.testing.assert_array_equal(rt.run_pixels(px)[0], again.run_pixels(px)[0])
    assert sorted((tmp_path / "ovcache").rglob("*.blob")) == blobs
    monkeypatch.setenv(runtimes.OV_CACHE_ENV, "")
    assert runtimes.openvino_cache_dir() is None
    monkeypatch.delenv(runtimes.OV_CACHE_ENV)
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "user"))
    assert runtimes.openvino_cache_dir() == tmp_path / "user" / "openvino"


def test_auto_takes_openvino_only_where_installed_gated_and_faster(
    onnx_card: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ungated = scenes.ModelCard.read(onnx_card)
    gated = scenes.ModelCard.read(_gated_copy(onnx_card, tmp_path))
    failed = scenes.ModelCard.read(_gated_copy(onnx_card, tmp_path / "f", passed=False))
    fast = choice.OPENVINO_TAKEN[0]
    monkeypatch.setattr(choice, "cpu_kind", lambda: fast)
    assert choice.candidates(gated, "auto", "auto", "cpu")[:2] == [
        ("openvino", "int8"),
        ("onnx", "int8"),
    ]
    assert "OpenVINO int8" in choice.auto_choice(gated, "cpu")
    assert choice.expected_model_id(gated, "auto", "auto", "cpu") == f"{gated.model_id}/int8"
    assert choice.candidates(ungated, "auto", "auto", "cpu")[0] == ("onnx", "int8")
    assert "no passed OpenVINO int8 gate" in choice.auto_choice(ungated, "cpu")
    assert choice.candidates(failed, "auto", "auto", "cpu")[0] == ("onnx", "int8")
    assert choice.candidates(gated, "auto", "fp32", "cpu")[0] == ("onnx", "fp32")
    assert choice.candidates(gated, "openvino", "auto", None) == [
        ("openvino", "int8"),
        ("openvino", "fp32"),
    ]
    assert choice.candidates(ungated, "openvino", "auto", None) == [("openvino", "fp32")]
    with pytest.raises(ValueError, match="OpenVINO runs on the CPU"):
        choice.candidates(gated, "openvino", "auto", "cuda")
    with pytest.raises(ValueError, match="bf16 runs on torch only"):
        choice.candidates(gated, "openvino", "bf16", None)
    slow = [k for k in (*choice.OPENVINO_OVER_ORT, "") if k not in choice.OPENVINO_TAKEN]
    assert "AVX2" in slow
    for kind in slow:  # no faster, not gated there, or the kind cannot be told: ONNX Runtime
        monkeypatch.setattr(choice, "cpu_kind", lambda kind=kind: kind)
        assert choice.candidates(gated, "auto", "auto", "cpu")[0] == ("onnx", "int8")
        taken = ", ".join(choice.OPENVINO_TAKEN)
        assert f"auto takes it only on {taken}" in choice.auto_choice(gated, "cpu")
    monkeypatch.setattr(choice, "cpu_kind", lambda: fast)
    monkeypatch.setattr(runtimes, "openvino_available", lambda: False)
    assert choice.candidates(gated, "auto", "auto", "cpu")[0] == ("onnx", "int8")
    assert "OpenVINO is not installed" in choice.auto_choice(gated, "cpu")


def test_auto_takes_openvino_only_on_the_kinds_of_cpu_its_gate_ran_on(
    onnx_card: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training.openvino_gate import merged_record

    card_file = _gated_copy(onnx_card, tmp_path)
    data = json.loads(card_file.read_text())

    def rec(kind: str, passed: bool, acc: float = 0.93) -> dict:
        return {"measured_on": f"{kind} CPU", "gate": {"passed": passed, "accuracy_int8": acc}}

    data["onnx"]["int8"]["openvino"] = merged_record(None, rec("AMX", True))
    card_file.write_text(json.dumps(data))
    amx_only = scenes.ModelCard.read(card_file)
    monkeypatch.setattr(choice, "cpu_kind", lambda: "AVX-512 BF16")
    assert choice.openvino_gated_kinds(amx_only) == ["AMX"]
    assert choice.candidates(amx_only, "auto", "auto", "cpu")[0] == ("onnx", "int8")
    assert "gated on AMX kernels, not on AVX-512 BF16's" in choice.auto_choice(amx_only, "cpu")
    # an explicit --backend openvino still runs the gated int8 file
    assert choice.candidates(amx_only, "openvino", "auto", None)[0] == ("openvino", "int8")

    # a second kind's run is added beside the first; the top level stays the first kind's
    both = merged_record(data["onnx"]["int8"]["openvino"], rec("AVX-512 BF16", True, 0.94))
    assert both["measured_on"] == "AMX CPU" and set(both["by_cpu"]) == {"AMX", "AVX-512 BF16"}
    # a rerun on a kind replaces that kind's record only
    again = merged_record(both, rec("AMX", True, 0.95))
    assert again["gate"]["accuracy_int8"] == again["by_cpu"]["AMX"]["gate"]["accuracy_int8"] == 0.95
    assert again["by_cpu"]["AVX-512 BF16"]["gate"]["accuracy_int8"] == 0.94
    failed_here = merged_record(again, rec("AVX-512 BF16", False))
    for record, first in ((again, ("openvino", "int8")), (failed_here, ("onnx", "int8"))):
        data["onnx"]["int8"]["openvino"] = record
        card_file.write_text(json.dumps(data))
        card = scenes.ModelCard.read(card_file)
        assert choice.candidates(card, "auto", "auto", "cpu")[0] == first
    assert choice.openvino_gated_kinds(card) == ["AMX"]


def test_auto_loads_openvino_and_a_damaged_file_falls_back(
    onnx_card: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    card_file = _gated_copy(onnx_card, tmp_path)
    monkeypatch.setattr(choice, "cpu_kind", lambda: "AMX")
    monkeypatch.setenv(runtimes.OV_CACHE_ENV, "")
    with Classifier(card_file, device="cpu") as clf:
        assert (clf.backend, clf.precision) == ("openvino", "int8")
        assert clf.model_id.endswith("/int8") and "OpenVINO int8" in clf.runtime_why
        assert clf.device_name.endswith("OpenVINO int8")
        preds = list(clf.classify_paths(photos(tmp_path / "p", 3)))
    assert all(p.ok and p.feature is not None for p in preds)
    int8 = card_file.parent / "tiny.int8.onnx"
    int8.write_bytes(int8.read_bytes()[:-100])
    warnings: list[str] = []
    with Classifier(card_file, device="cpu", warn=warnings.append) as clf:
        assert (clf.backend, clf.precision) == ("onnx", "fp32")
    assert "falling back to ONNX int8" in warnings[0]


def test_self_test_names_openvino_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    if choice.openvino_gate(CARD) is None:
        pytest.skip("the bundled card records no OpenVINO gate")
    assert main(["--self-test", "--backend", "openvino"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("self-test ok") and "OpenVINO int8" in out and "/int8)" in out
    assert main(["--self-test"]) == 0
    assert "runtime chosen: " in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# the bundled model's gate


def test_the_bundled_openvino_gate_record_follows_from_its_figures() -> None:
    ov = choice.openvino_gate(CARD)
    if ov is None:
        pytest.skip("the bundled card records no OpenVINO gate")
    onnx = CARD.extra["onnx"]
    record = onnx["int8"]["openvino"]
    records = [record, *(record.get("by_cpu") or {}).values()]
    for kind, r in (record.get("by_cpu") or {}).items():  # each kind's run says it ran there
        assert r["measured_on"] == f"{kind} CPU" and "by_cpu" not in r
    # every kind auto would take OpenVINO on has its own passed gate in the bundled card
    assert set(choice.OPENVINO_TAKEN) <= set(choice.openvino_gated_kinds(CARD))
    for g in [x for r in records for x in (r["gate"], r["without_bf16"]["gate"])]:
        assert g["n"] == 3000
        assert g["accuracy_fp32"] == pytest.approx(onnx["fp32"]["evaluation"]["accuracy"])
        assert g["accuracy_drop_points"] == pytest.approx(
            100 * (g["accuracy_fp32"] - g["accuracy_int8"])
        )
        # the gate the issue set: ≤ 0.5 points, ≥ 99 % labels equal to fp32, ECE stated
        assert g["accuracy_drop_points"] <= 0.5 and g["label_agreement"] >= 0.99
        assert 0 < g["ece"] <= g["max_ece"]
    assert ov["passed"] is True


@pytest.mark.dataset
@pytest.mark.slow
def test_a_seg_test_slice_reproduces_the_openvino_record(shared_data: Path) -> None:
    from training.onnx_export import runtime_logits, slice_indices

    record = (CARD.extra.get("onnx") or {}).get("int8", {}).get("openvino")
    if not record:
        pytest.skip("the bundled card records no OpenVINO gate")
    # this CPU's own run where the card has one (its kernels), else the first one recorded
    record = (record.get("by_cpu") or {}).get(choice.cpu_kind(), record)
    index = D.index_split(shared_data, "seg_test")
    idx = slice_indices(index.labels)
    pixels = np.stack([imaging.load_pixels(index.paths[i]) for i in idx])
    rt = runtimes.OpenVinoRuntime(CARD, "int8", cache_dir=None)
    got = runtime_logits(rt, pixels, progress=False).argmax(1)
    bf16 = rt.inference_precision == record["inference_precision"]
    pinned = record["slice_check"] if bf16 else record["without_bf16"]["slice_check"]
    expected = np.array([int(c) for c in pinned["labels"]])
    assert (got != expected).sum() <= 2  # int8 kernels differ a little between CPUs
    fp32 = runtime_logits(runtimes.OnnxRuntime(CARD, "fp32"), pixels, progress=False).argmax(1)
    assert (got == fp32).mean() >= 0.95
