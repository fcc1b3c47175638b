"""app.model.engine: Classifier over files and pixels, per-photo errors, order, cancel, precision."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_photo
from PIL import Image

from app.model import devices, engine, scenes
from app.model.calibration import softmax
from app.model.engine import Classifier, Prediction
from app.model.networks import TinyTestNet
from app.photos import imaging


@pytest.fixture(scope="module")
def confident_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny net with scaled-up weights: decisive outputs, so labels are a fair comparison."""
    folder = tmp_path_factory.mktemp("confident")
    torch.manual_seed(7)
    net = TinyTestNet(scenes.NUM_CLASSES)
    with torch.no_grad():
        net.head[1].weight.mul_(40.0)
    sha = scenes.save_state_dict(net.state_dict(), folder / "w.safetensors")
    card = scenes.ModelCard("tiny_test", "w.safetensors", sha, name="confident", temperature=1.5)
    card.write(folder / "model_card.json")
    return folder / "model_card.json"


def varied_photos(folder: Path, n: int) -> list[Path]:
    """Photos that differ in colour and structure, so a decisive net gives varied labels."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        base = rng.integers(0, 256, 3)
        arr = np.clip(base + rng.normal(0, 40 * (i % 4), (120, 160, 3)), 0, 255).astype(np.uint8)
        path = folder / f"v{i:02d}.png"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, "RGB").save(path)
        paths.append(path)
    return paths


def test_prediction_ok() -> None:
    assert Prediction(Path("a.jpg"), "sea", 0.9, {"sea": 0.9}).ok
    assert not Prediction(Path("a.jpg"), error="file not found").ok
    assert not Prediction(Path("a.jpg")).ok


def test_classify_paths_yields_scores_in_input_order(tiny_card: Path, photo_folder: Path) -> None:
    photos = sorted(photo_folder.glob("*.jpg"), reverse=True)
    with Classifier(tiny_card, device="cpu", batch_size=4) as clf:
        preds = list(clf.classify_paths(photos))
        assert clf.model_id.startswith("tiny-test@") and clf.device.type == "cpu"
        assert clf.device_name.startswith("CPU (")
        direct = clf.classify_pixels(np.stack([imaging.load_pixels(p) for p in photos]))
    assert [p.path for p in preds] == photos
    for pred, row in zip(preds, direct, strict=True):
        assert pred.ok and pred.error is None
        assert list(pred.scores) == list(scenes.CLASSES)
        assert pred.label == scenes.CLASSES[int(row.argmax())]
        assert pred.confidence == pytest.approx(max(pred.scores.values()))
        assert sum(pred.scores.values()) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(list(pred.scores.values()), row, atol=1e-6)


def test_scores_are_softmax_of_logits_over_temperature(
    confident_card: Path, tmp_path: Path
) -> None:
    photo = varied_photos(tmp_path, 1)[0]
    net, card = scenes.load_model(confident_card)
    x = scenes.to_input(np.array(imaging.load_pixels(photo)), card.normalization)
    with torch.no_grad():
        expected = torch.softmax(net(x) / 1.5, dim=1)[0].numpy()
    with Classifier(confident_card, device="cpu", precision="fp32") as clf:
        (pred,) = clf.classify_paths([photo])
    np.testing.assert_allclose(list(pred.scores.values()), expected, rtol=1e-4, atol=1e-6)


def test_bad_files_are_errors_in_place_and_the_run_continues(
    tiny_card: Path, tmp_path: Path
) -> None:
    good = [make_photo(tmp_path / f"g{i}.jpg", seed=i) for i in range(5)]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("not a photo")
    missing = tmp_path / "missing.jpg"
    order = [good[0], empty, good[1], good[2], text, missing, good[3], good[4]]
    calls: list[tuple[int, int, int]] = []
    with Classifier(tiny_card, device="cpu", batch_size=3) as clf:
        preds = list(clf.classify_paths(order, progress=lambda *a: calls.append(a)))
    assert [p.path for p in preds] == order
    assert [p.ok for p in preds] == [True, False, True, True, False, False, True, True]
    assert preds[1].error and preds[1].label is None and preds[1].scores is None
    assert preds[5].error == "file not found"
    assert calls[0] == (0, 8, 0) and calls[-1] == (8, 8, 3) and len(calls) == 9
    assert [c[0] for c in calls] == list(range(9))


def test_all_photos_bad_and_empty_input(tiny_card: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n")
    with Classifier(tiny_card, device="cpu") as clf:
        assert [p.ok for p in clf.classify_paths([bad, bad])] == [False, False]
        assert list(clf.classify_paths([])) == []


def test_unexpected_decoder_exception_is_a_value(
    tiny_card: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = sorted(photo_folder.glob("*.jpg"))
    real = imaging.load_pixels

    def flaky(path: Path, size: int) -> np.ndarray:
        if path == photos[2]:
            raise ValueError("decoder bug")
        return real(path, size)

    monkeypatch.setattr(imaging, "load_pixels", flaky)
    with Classifier(tiny_card, device="cpu", batch_size=2) as clf:
        preds = list(clf.classify_paths(photos))
    assert [p.ok for p in preds] == [True, True, False, True, True, True]
    assert "decoder bug" in preds[2].error


def test_model_failure_fails_the_batch_not_the_run(
    tiny_card: Path, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = sorted(photo_folder.glob("*.jpg"))
    with Classifier(tiny_card, device="cpu", batch_size=2) as clf:
        real = clf._forward_features
        calls = iter(range(100))

        def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            if next(calls) == 1:
                raise RuntimeError("out of memory")
            return real(batch)

        monkeypatch.setattr(clf, "_forward_features", forward)
        preds = list(clf.classify_paths(photos))
    assert [p.ok for p in preds] == [True, True, False, False, True, True]
    assert "out of memory" in preds[2].error


def test_bf16_and_fp32_agree_on_labels(confident_card: Path, tmp_path: Path) -> None:
    photos = varied_photos(tmp_path, 24)
    with Classifier(confident_card, device="cpu", precision="fp32", batch_size=8) as c32:
        fp32 = list(c32.classify_paths(photos))
        assert c32.device_name.endswith("fp32")
    with Classifier(confident_card, device="cpu", precision="bf16", batch_size=8) as c16:
        bf16 = list(c16.classify_paths(photos))
        assert c16.device_name.endswith("bf16")
    assert len({p.label for p in fp32}) >= 2  # the comparison means something
    p32 = np.array([list(p.scores.values()) for p in fp32])
    p16 = np.array([list(p.scores.values()) for p in bf16])
    assert np.abs(p32 - p16).max() < 0.05
    top2 = np.sort(p32, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) > 0.05
    assert decisive.sum() >= 12
    assert [a.label for a, d in zip(fp32, decisive, strict=True) if d] == [
        b.label for b, d in zip(bf16, decisive, strict=True) if d
    ]


def test_classify_pixels_batches_and_checks_input(tiny_card: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (7, 150, 150, 3), dtype=np.uint8)
    with Classifier(tiny_card, device="cpu", batch_size=3, precision="fp32") as clf:
        probs = clf.classify_pixels(pixels)
        one = clf.classify_pixels(pixels[4])
        with pytest.raises(ValueError, match="uint8"):
            clf.classify_pixels(pixels.astype(np.float32))
    assert probs.shape == (7, 6) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(one[0], probs[4], atol=1e-6)


def test_cancel_before_and_during_a_run(tiny_card: Path, tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"p{i:02d}.jpg", size=(64, 48), seed=i) for i in range(40)]
    with Classifier(tiny_card, device="cpu", batch_size=4) as clf:
        stop = threading.Event()
        stop.set()
        assert list(clf.classify_paths(photos, cancel=stop)) == []

        stop = threading.Event()
        got = []
        for pred in clf.classify_paths(photos, cancel=stop):
            got.append(pred)
            stop.set()
        assert len(got) == 1
        # the classifier is still usable after a cancelled run
        assert len(list(clf.classify_paths(photos[:5]))) == 5


def test_cancel_from_another_thread_returns_promptly(
    tiny_card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = [make_photo(tmp_path / f"p{i:02d}.jpg", size=(64, 48), seed=i) for i in range(100)]
    real = imaging.load_pixels

    def slow(path: Path, size: int) -> np.ndarray:
        time.sleep(0.1)
        return real(path, size)

    monkeypatch.setattr(imaging, "load_pixels", slow)
    stop = threading.Event()
    with Classifier(tiny_card, device="cpu", batch_size=4, decode_workers=2) as clf:
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        start = time.monotonic()
        got = list(clf.classify_paths(photos, cancel=stop))
        took = time.monotonic() - start
        timer.join()
    assert 0 < len(got) < 50  # the whole run would take ~5 s with 2 workers
    assert took < 2.5


def test_abandoned_generator_drops_queued_work(tiny_card: Path, tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"p{i:02d}.jpg", size=(64, 48), seed=i) for i in range(30)]
    with Classifier(tiny_card, device="cpu", batch_size=2) as clf:
        gen = clf.classify_paths(photos)
        assert next(gen).ok
        gen.close()
        assert len(list(clf.classify_paths(photos[:3]))) == 3


def test_closed_classifier_refuses_work(tiny_card: Path, photo_folder: Path) -> None:
    clf = Classifier(tiny_card, device="cpu")
    clf.close()
    with pytest.raises(RuntimeError, match="closed"):
        list(clf.classify_paths(list(photo_folder.iterdir())))


def test_bad_arguments(tiny_card: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        Classifier(tiny_card, precision="int4")
    with pytest.raises(ValueError, match="int8 runs on ONNX Runtime or OpenVINO only"):
        Classifier(tiny_card, backend="torch", precision="int8")
    with pytest.raises(scenes.ModelError, match="lists no ONNX int8 model"):
        Classifier(tiny_card, precision="int8")
    with pytest.raises(ValueError, match="batch_size"):
        Classifier(tiny_card, batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(devices.DeviceError, match="CUDA"):  # a ModelError too
            Classifier(tiny_card, device="cuda")


def test_default_decode_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    # two decode workers beside the model even on 2 cores (bench/decode_split.py), at most 4
    for cores, cpu in ((1, 2), (2, 2), (4, 2), (8, 4), (64, 4)):
        monkeypatch.setattr(engine.os, "cpu_count", lambda cores=cores: cores)
        assert engine.default_decode_workers(torch.device("cpu")) == cpu, cores
    assert engine.default_decode_workers(torch.device("cuda")) == 8


# --- unusable weights ----------------------------------------------------------------------


@pytest.fixture
def model_copy(tiny_card: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_card.parent, folder)
    return folder / tiny_card.name


def test_missing_weights(model_copy: Path) -> None:
    (model_copy.parent / "tiny.safetensors").unlink()
    with pytest.raises(scenes.ModelError, match="not found.*tiny.safetensors"):
        Classifier(model_copy)


def test_truncated_weights(model_copy: Path) -> None:
    weights = model_copy.parent / "tiny.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(scenes.ModelError, match="tiny.safetensors.*does not match"):
        Classifier(model_copy)


def test_weights_that_do_not_match_the_card(model_copy: Path) -> None:
    card = scenes.ModelCard.read(model_copy)
    card.weights_sha256 = "0" * 64
    card.write(model_copy)
    with pytest.raises(scenes.ModelError, match="tiny.safetensors"):
        Classifier(model_copy)


def test_missing_card(tmp_path: Path) -> None:
    with pytest.raises(scenes.ModelError, match="nowhere.json"):
        Classifier(tmp_path / "nowhere.json")


def test_predictions_carry_the_pooled_feature_the_head_saw(tmp_path: Path) -> None:
    """Issue 12: the runtime's (N, 512) pooled features reach Prediction.feature, and the
    bundled head on that feature gives the prediction's own scores (int8 ONNX, the CPU default)."""
    from app.personal import head as personal

    photos = varied_photos(tmp_path, 4)
    with Classifier(None, backend="onnx", precision="int8", batch_size=4) as clf:
        preds = list(clf.classify_paths(photos))
        head = personal.Head.from_card(clf.card)
        temperature = clf.runtime.temperature
    assert all(p.ok and p.feature is not None and p.feature.shape == (512,) for p in preds)
    feats = np.stack([p.feature for p in preds])
    probs = softmax(head.logits(feats), temperature)
    scores = np.array([list(p.scores.values()) for p in preds])
    np.testing.assert_allclose(probs, scores, atol=1e-4)


@pytest.mark.parametrize(
    ("vendor", "flags", "bf16"),
    [
        ("GenuineIntel", "avx2 avx512f avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16", True),
        ("GenuineIntel", "avx2 avx512f avx512_vnni avx512_bf16", False),  # AMX hidden: 0.72x
        ("AuthenticAMD", "avx2 avx512f avx512_vnni avx512_bf16", True),  # EPYC: 2x fp32
        ("AuthenticAMD", "avx2 fma", False),  # emulated bf16: 6x slower
    ],
)
def test_torch_autocasts_to_bf16_only_where_it_measured_faster(
    monkeypatch: pytest.MonkeyPatch, vendor: str, flags: str, bf16: bool
) -> None:

    info = {"vendor_id": vendor, "flags": f"fpu sse {flags}", "model name": "a CPU"}
    monkeypatch.setattr(devices, "_cpuinfo", lambda: info)
    assert devices.cpu_supports_bf16() is bf16
    expected = torch.bfloat16 if bf16 else None
    assert devices.autocast_dtype(torch.device("cpu")) is expected
    assert devices.autocast_dtype(torch.device("cpu"), "bf16") is torch.bfloat16
    assert devices.cpu_flags() >= set(flags.split()) and devices.cpu_name() == "a CPU"
