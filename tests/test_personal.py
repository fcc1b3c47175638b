"""The personal head (app.personal.head, app.personal.versions): numpy fit == torch fit, adoption rules,
versions, and rollback/reset giving back the bundled model's exact outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main as cli
from app.model.calibration import softmax
from app.personal import head as personal
from app.personal.stack import build_classifier
from app.personal.versions import Versions
from tests.conftest import BUNDLED_ID, make_photo


@pytest.fixture(scope="module")
def base() -> personal.Head:
    return personal.Head.from_card()


@pytest.fixture(scope="module")
def replay() -> personal.ReplayBank:
    return personal.ReplayBank.load()


def test_the_bundled_head_read_without_torch_matches_the_network(base: personal.Head) -> None:
    from app.model import scenes

    net, _ = scenes.load_model()
    x = torch.rand(5, 512) * 3
    with torch.no_grad():
        expected = net.head(x[:, :, None, None]).numpy()
    np.testing.assert_allclose(base.logits(x.numpy()), expected, atol=1e-4)


def test_the_torch_free_bundle_reads_the_head_from_the_replay_bank(
    tmp_path: Path, base: personal.Head
) -> None:
    """The packaged app leaves the fp16 safetensors out; the bank carries the head's copy."""
    import shutil

    from app.model import scenes

    src = scenes.resources_dir()
    for name in ("model_card.json", "replay_features.json", "replay_features.safetensors"):
        shutil.copy2(src / name, tmp_path / name)
    card = scenes.ModelCard.read(tmp_path / "model_card.json")
    assert not card.weights_path.exists()
    bundled = personal.Head.from_card(card)
    for a, b in zip(bundled.weights + bundled.biases, base.weights + base.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    data = json.loads((tmp_path / "model_card.json").read_text())
    data["weights"]["sha256"] = "0" * 64  # other weights: the copy does not belong to them
    (tmp_path / "model_card.json").write_text(json.dumps(data))
    with pytest.raises(scenes.ModelError, match="belongs to other weights"):
        personal.Head.from_card(scenes.ModelCard.read(tmp_path / "model_card.json"))


def test_the_replay_bank_is_small_checked_and_balanced(replay: personal.ReplayBank) -> None:
    from app.model.scenes import resources_dir

    assert (resources_dir() / "replay_features.safetensors").stat().st_size <= 4 * 1024 * 1024
    assert replay.features.shape == (3000, 512)
    assert np.bincount(replay.labels).tolist() == [500] * 6
    assert replay.info["features_from"].endswith("/int8")


def _torch_fit(last: personal.Head, sets, prox: float) -> personal.Head:
    """The same objective in torch: autograd and torch's L-BFGS (strong Wolfe), float64."""
    w0 = torch.tensor(last.weights[0])
    b0 = torch.tensor(last.biases[0])
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [w, b],
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        total = 0.5 * prox * (((w - w0) ** 2).sum() + ((b - b0) ** 2).sum())
        for x, y, weight in sets:
            logits = torch.tensor(x) @ w.T + b
            total = total + weight * torch.nn.functional.cross_entropy(logits, torch.tensor(y))
        total.backward()
        return total

    opt.step(closure)
    return personal.Head([w.detach().numpy()], [b.detach().numpy()])


def test_a_torch_fit_and_the_numpy_fit_give_the_same_model(
    base: personal.Head, replay: personal.ReplayBank
) -> None:
    rng = np.random.default_rng(0)
    idx = rng.choice(3000, 30, replace=False)
    x, y = replay.features[idx], (replay.labels[idx] + 1) % 6  # labels it must learn
    rx, ry = replay.subset(100, seed=1)
    numpy_fit = personal.fit(base, x, y, (rx, ry))  # what `learn` runs
    sets = [(base.hidden(x), y, 1.0), (base.hidden(rx), ry, personal.REPLAY_WEIGHT)]
    torch_fit = base.with_last(_torch_fit(base.last(), sets, personal.PROX))
    assert np.abs(numpy_fit.weights[-1] - base.weights[-1]).max() > 0.05  # it learned
    np.testing.assert_array_equal(numpy_fit.weights[0], base.weights[0])  # first layer kept
    np.testing.assert_allclose(numpy_fit.weights[-1], torch_fit.weights[-1], atol=1e-5)
    np.testing.assert_allclose(numpy_fit.biases[-1], torch_fit.biases[-1], atol=1e-5)
    np.testing.assert_allclose(
        softmax(numpy_fit.logits(replay.features)),
        softmax(torch_fit.logits(replay.features)),
        atol=1e-5,
    )


def test_the_objectives_gradient_is_autograds(base: personal.Head, replay) -> None:
    """The hand-written backward pass, through both layers, against torch's autograd."""
    rng = np.random.default_rng(1)
    x, y = replay.features[:40].astype(np.float64), rng.integers(0, 6, 40)
    theta0 = base.flat()
    theta = theta0 + rng.normal(0, 0.01, theta0.shape)
    f, g = personal.objective(base, theta, theta0, [(x, y, 1.0)], 0.1, np.float64)
    t = torch.tensor(theta, requires_grad=True)
    w1, b1 = t[: 512 * 64].view(64, 512), t[512 * 64 : 512 * 64 + 64]
    w2, b2 = t[512 * 64 + 64 : -6].view(6, 64), t[-6:]
    logits = torch.relu(torch.tensor(x) @ w1.T + b1) @ w2.T + b2
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    loss = loss + 0.05 * ((t - torch.tensor(theta0)) ** 2).sum()
    loss.backward()
    assert f == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(g, t.grad.numpy(), atol=1e-12)


def test_learning_needs_enough_corrections_and_two_scenes(
    base: personal.Head, replay: personal.ReplayBank
) -> None:
    x = replay.features[:9]
    with pytest.raises(personal.LearnError, match="at least 10 corrections.*there are 9"):
        personal.learn(x, ["sea"] * 5 + ["forest"] * 4, base, replay, 0.67)
    with pytest.raises(personal.LearnError, match="at least 2 scenes; all 12 are sea"):
        personal.learn(replay.features[:12], ["sea"] * 12, base, replay, 0.67)


def test_a_model_that_is_no_better_on_held_out_corrections_is_not_adopted(
    base: personal.Head, replay: personal.ReplayBank
) -> None:
    # corrections that only confirm what the bundled model already says
    idx = np.concatenate([np.flatnonzero(replay.labels == c)[:5] for c in range(6)])
    right = idx[base.logits(replay.features[idx]).argmax(1) == replay.labels[idx]]
    labels = [personal.scenes.CLASSES[i] for i in replay.labels[right]]
    learned = personal.learn(replay.features[right], labels, base, replay, 0.67)
    assert learned.report.bundled_accuracy == 1.0
    assert not learned.report.adopted
    assert "not better than the bundled model" in learned.report.reason


def test_a_model_that_would_forget_the_six_scenes_is_not_adopted(
    base: personal.Head, replay: personal.ReplayBank
) -> None:
    # a person who calls every glacier a mountain: consistent (held-out accuracy rises), but the
    # bank's glaciers would be lost
    glaciers = np.flatnonzero(replay.labels == 2)[:40]
    streets = np.flatnonzero(replay.labels == 5)[:10]  # confirmations: the model is right
    idx = np.concatenate([glaciers, streets])
    labels = ["mountain"] * 40 + ["street"] * 10
    learned = personal.learn(replay.features[idx], labels, base, replay, 0.67)
    r = learned.report
    assert r.personal_accuracy > r.bundled_accuracy
    assert 100 * (r.replay_before - r.replay_after) > personal.MAX_REPLAY_DROP_POINTS
    assert not r.adopted and "forget the six scenes" in r.reason


def _classify_json(paths: list[Path], capsys: pytest.CaptureFixture[str]) -> tuple[list, str]:
    """The JSON lines of `classify`, and the model id its summary names."""
    capsys.readouterr()
    assert cli.main(["classify", "--json", "--backend", "onnx", *map(str, paths)]) == 0
    out, err = capsys.readouterr()
    model = next(part for part in err.split("; ") if part.startswith("scene-vgg16@"))
    return [json.loads(line) for line in out.splitlines()], model


def test_rollback_and_reset_restore_the_bundled_models_exact_outputs(
    tmp_path: Path,
    base: personal.Head,
    replay: personal.ReplayBank,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(4)]
    bundled, bundled_id = _classify_json(photos, capsys)
    assert bundled_id == f"{BUNDLED_ID}/int8"
    versions = Versions()
    rng = np.random.default_rng(3)
    for n in (1, 2):  # two personal versions, fitted on different corrections
        idx = rng.choice(3000, 20, replace=False)
        labels = [personal.scenes.CLASSES[(i + n) % 6] for i in replay.labels[idx]]
        head = personal.fit(
            base,
            replay.features[idx],
            np.array([personal.scenes.CLASSES.index(lab) for lab in labels]),
            None,
            prox=1e-3,
        )
        report = personal.LearnReport(20, {}, 5, 0.0, 0.5, 0.9, 0.9, 3000, 0.7, 0.1, True)
        versions.add(personal.Learned(head, 0.7, report), BUNDLED_ID)
    second, model = _classify_json(photos, capsys)
    assert model == f"{BUNDLED_ID}/int8+personal.2"
    assert [r["scores"] for r in second] != [r["scores"] for r in bundled]
    assert cli.main(["learn", "--rollback"]) == 0
    first, model = _classify_json(photos, capsys)
    assert model == f"{BUNDLED_ID}/int8+personal.1"
    assert first != second
    assert cli.main(["classify", "--json", "--backend", "onnx", "--bundled", str(photos[0])]) == 0
    assert json.loads(capsys.readouterr().out) == bundled[0]
    assert cli.main(["learn", "--reset"]) == 0
    assert "bundled model" in capsys.readouterr().out
    assert _classify_json(photos, capsys) == (bundled, bundled_id)  # the bundled answers, exactly
    assert cli.main(["learn", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "* bundled" in listing and "personal.2" in listing


def test_a_personal_head_learned_on_other_weights_is_not_used(tmp_path: Path, base, replay) -> None:
    from app.model.engine import Classifier

    report = personal.LearnReport(20, {}, 5, 0.0, 0.5, 0.9, 0.9, 3000, 0.7, 0.1, True)
    Versions().add(personal.Learned(base, 0.7, report), "scene-vgg16@000000000000")
    warnings: list[str] = []
    with Classifier(None, backend="onnx", precision="int8") as clf:
        assert build_classifier(clf, cache=False, warn=warnings.append) is clf
    assert "was learned on scene-vgg16@000000000000" in warnings[0]
