"""Train all three models for a couple of steps on a tiny data set, evaluate, resume, report."""

import json

import numpy as np
import pytest
import torch
from test_training_data import make_dataset

from app.model import networks, scenes
from training import cli, imagenet


@pytest.fixture
def tiny_env(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(cache))
    cache.mkdir()
    # Stand-in ImageNet weights where the converted cache lives: no 60 MB download in tests.
    torch.manual_seed(0)
    scenes.save_state_dict(networks.vgg16_features().state_dict(), cache / imagenet.CACHE_NAME)
    root = make_dataset(tmp_path / "data", per_class=4, nested=True)
    return root, tmp_path / "runs"


@pytest.mark.slow
def test_train_all_three_evaluate_export_and_report(tiny_env, tmp_path, capsys):
    root, runs = tiny_env
    common = ["--data", str(root), "--runs", str(runs), "--quiet"]
    assert cli.main(["train", "all", *common, "--epochs", "1", "--steps", "2"]) == 0
    for key in ("simple", "deeper", "vgg16"):
        result = json.loads((runs / key / "result.json").read_text())
        assert result["n_test"] == 24
        assert 0.0 <= result["stats"]["accuracy"] <= 1.0
        assert len(result["history"]["val_acc"]) >= 1
        assert (runs / key / "checkpoint.pt").is_file()
    assert json.loads((runs / "vgg16" / "result.json").read_text())["n_holdout"] > 0
    assert "Accuracy" in capsys.readouterr().out

    # resume after the last epoch: nothing retrained, same outputs
    before = np.load(runs / "simple" / "test_outputs.npz")["logits"]
    assert cli.main(["train", "simple", *common, "--epochs", "1", "--steps", "2", "--resume"]) == 0
    assert np.allclose(np.load(runs / "simple" / "test_outputs.npz")["logits"], before, atol=1e-5)

    dest = tmp_path / "resources"
    # --no-onnx: the ONNX step calibrates on 256 seg_train photos (tests/test_runtimes.py covers it)
    assert cli.main(["export", "vgg16", "--runs", str(runs), "--dest", str(dest), "--no-onnx"]) == 0
    card = scenes.ModelCard.read(dest / "model_card.json")
    assert card.weights_sha256 == scenes.sha256_file(dest / "scene_vgg16.safetensors")
    assert card.extra["evaluation"]["n"] == 24
    capsys.readouterr()
    # a second export over a card with hand-measured sections says they are gone
    hand = json.loads((dest / "model_card.json").read_text())
    hand["tta"] = {"measured": "for the weights before"}
    hand["training"]["reproduced"] = "a rerun of the weights before"
    (dest / "model_card.json").write_text(json.dumps(hand))
    assert cli.main(["export", "vgg16", "--runs", str(runs), "--dest", str(dest), "--no-onnx"]) == 0
    said = capsys.readouterr().out
    assert "tta, training.reproduced were of the weights before" in said
    assert "tta" not in json.loads((dest / "model_card.json").read_text())
    assert (
        cli.main(
            ["evaluate", "--card", str(dest / "model_card.json"), "--data", str(root), "--quiet"]
        )
        == 0
    )
    assert "seg_test accuracy:" in capsys.readouterr().out

    out = tmp_path / "report"
    assert cli.main(["report", "--data", str(root), "--runs", str(runs), "--out", str(out)]) == 0
    md = (out / "README.md").read_text()
    assert "0.7423" in md and "0.8487" in md and "0.9247" in md
    assert (out / "vgg16_confusion.png").stat().st_size > 1000
    assert (out / "simple_history.png").stat().st_size > 1000


def test_training_help_documents_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for cmd in ("eda", "train", "evaluate", "export", "report"):
        assert cmd in text


def test_bad_data_folder_is_a_clear_error(tmp_path, capsys):
    assert (
        cli.main(["train", "simple", "--data", str(tmp_path / "missing"), "--runs", str(tmp_path)])
        == 2
    )
    assert "not found" in capsys.readouterr().err
