"""The study's three networks, with the exact parameter counts it reported, and the one table
(app.model.networks.ARCHITECTURES) through which model cards name them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO

from app.model import networks, scenes
from app.model.networks import (
    ARCHITECTURES,
    DeeperCNN,
    SimpleCNN,
    VGG16Scene,
    build_network,
    count_parameters,
)
from app.model.scenes import NUM_CLASSES
from training.models import RECIPES, build


@pytest.mark.parametrize(
    ("net", "expected"),
    [(SimpleCNN, 1_440_566), (DeeperCNN, 1_726_758), (VGG16Scene, 14_747_910)],
)
def test_parameter_counts_match_the_study(net, expected):
    assert count_parameters(net(NUM_CLASSES)) == expected


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_listed_architecture_maps_150px_photos_to_six_logits(architecture):
    with torch.inference_mode():
        out = build_network(architecture, NUM_CLASSES).eval()(torch.zeros(2, 3, 150, 150))
    assert out.shape == (2, 6)


def test_the_table_names_the_study_cnns():
    assert networks.network_class("simple_cnn") is SimpleCNN
    assert networks.network_class("deeper_cnn") is DeeperCNN
    assert networks.network_class("vgg16_scene") is VGG16Scene


def test_an_unknown_architecture_is_a_clear_error(tmp_path):
    with pytest.raises(networks.UnknownArchitecture, match="'resnet'.*known: deeper_cnn"):
        build_network("resnet", NUM_CLASSES)
    # through a model card: a ModelError naming the card, like every other unusable model
    weights = tmp_path / "w.safetensors"
    sha = scenes.save_state_dict({"x": torch.zeros(1)}, weights)
    card = scenes.ModelCard("resnet", weights.name, sha)
    card.write(tmp_path / "card.json")
    with pytest.raises(scenes.ModelError, match="card.json.*unknown architecture 'resnet'"):
        scenes.load_model(tmp_path / "card.json")


def test_a_card_for_a_study_cnn_loads_without_training(tmp_path):
    """A fresh interpreter loads a simple_cnn card through app.model.scenes alone, and never imports
    training (the app, packaged without it, can run any network a card names)."""
    torch.manual_seed(0)
    sha = scenes.save_state_dict(
        SimpleCNN(NUM_CLASSES).state_dict(), tmp_path / "simple.safetensors"
    )
    scenes.ModelCard("simple_cnn", "simple.safetensors", sha).write(tmp_path / "card.json")
    code = (
        "import sys\n"
        "from app.model import scenes\n"
        "assert 'training.models' not in sys.modules and 'app.model.networks' not in sys.modules\n"
        f"net, card = scenes.load_model({str(tmp_path / 'card.json')!r})\n"
        "print(type(net).__module__, type(net).__name__, 'training' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["app.model.networks", "SimpleCNN", "False"]


def test_deeper_cnn_flattens_9x9x256_like_keras_valid_pooling():
    feats = DeeperCNN(NUM_CLASSES).features(torch.zeros(1, 3, 150, 150))
    assert feats.shape == (1, 256, 9, 9)


def test_recipes_build_registered_architectures():
    for recipe in RECIPES.values():
        assert recipe.architecture in ARCHITECTURES
        assert count_parameters(build(recipe)) > 1_000_000
    assert RECIPES["simple"].steps_per_epoch == 438 and RECIPES["simple"].seed == 42
    study = RECIPES["vgg16-study"]
    assert [(p.epochs, p.lr, p.train) for p in study.phases] == [
        (10, 1e-3, "head"),
        (4, 1e-5, "all"),
    ]


def _lrs(recipe_key: str, steps: int) -> list[float]:
    """The learning rate of each step of a recipe's first phase, read from its scheduler."""
    from training.loop import make_optimizer

    recipe = RECIPES[recipe_key]
    opt, sched = make_optimizer(build(recipe), recipe.phases[0], 0, steps)
    base = opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"])
    if sched is None:
        return [base] * steps
    return [base * sched.lr_lambdas[0](k) for k in range(steps)]


def test_simple_study_recipe_keeps_the_study_constant_rate():
    study = RECIPES["simple-study"]
    assert [(p.epochs, p.lr, p.schedule) for p in study.phases] == [(10, 1e-3, "constant")]
    assert set(_lrs("simple-study", 50)) == {1e-3}


def test_simple_recipe_warms_up_over_its_first_epoch_then_holds_the_study_rate():
    simple = RECIPES["simple"]
    assert (simple.batch_size, simple.seed, simple.steps_per_epoch) == (32, 42, 438)
    steps = simple.phases[0].epochs * simple.steps_per_epoch  # 4,380
    lrs = _lrs("simple", steps)
    assert lrs[0] == pytest.approx(1e-3 / 438)
    assert lrs[218] == pytest.approx(1e-3 * 219 / 438)
    assert all(a < b for a, b in zip(lrs[:437], lrs[1:438], strict=True))
    assert lrs[437:] == pytest.approx([1e-3] * (steps - 437))


def test_an_unknown_schedule_is_refused():
    from dataclasses import replace

    from training.loop import make_optimizer

    phase = replace(RECIPES["simple"].phases[0], schedule="exponential")
    with pytest.raises(ValueError, match="exponential"):
        make_optimizer(build(RECIPES["simple"]), phase, 0, 10)


def test_the_bundled_weights_were_trained_by_the_vgg16_recipe():
    """`python -m training train vgg16` is what made resources/: the card's recipe is today's."""
    card = json.loads(scenes.default_card_path().read_text(encoding="utf-8"))
    trained = card["training"]["recipe"]
    assert trained == json.loads(json.dumps(RECIPES["vgg16"].to_dict(), default=float))
    assert card["architecture"] == RECIPES["vgg16"].architecture
    assert card["normalization"] == RECIPES["vgg16"].normalization.to_dict()


def test_vgg16_b3_is_the_bundled_recipe_with_block_3_trainable_too():
    b3, bundled = RECIPES["vgg16-b3"], RECIPES["vgg16"]
    assert [p.train for p in b3.phases] == ["head", "from:10"]
    assert b3.phases[0] == bundled.phases[0]
    from dataclasses import replace

    assert replace(b3.phases[1], name=bundled.phases[1].name, train="from:17") == bundled.phases[1]
    assert b3.feature_key is None  # its caches are pool2, not the bundled recipe's pool3
    net = build(b3)
    assert isinstance(net.features[10], torch.nn.Conv2d) and net.features[10].in_channels == 128
    assert "Blocks 1-2 stay" in b3.description and "blocks 3-5 + head" in b3.description


def test_vgg16_clean_is_the_bundled_recipe_without_the_flagged_photos():
    from dataclasses import replace

    from training.data import DEFAULT_DATA, REPO_ROOT, read_list

    clean, bundled = RECIPES["vgg16-clean"], RECIPES["vgg16"]
    assert (
        replace(
            clean, key="vgg16", title=bundled.title, description=bundled.description, exclude=None
        )
        == bundled
    )
    assert clean.feature_key == bundled.feature_key  # the same caches: rows are left out of batches
    flagged = read_list(REPO_ROOT / clean.exclude)
    assert 50 < len(flagged) < 1400  # a few percent of seg_train's 14,034
    assert all(r["relpath"].split("/")[0] == r["given"] for r in flagged)
    assert len({r["relpath"] for r in flagged}) == len(flagged)
    data = DEFAULT_DATA if DEFAULT_DATA.is_dir() else Path("/work/shared/data/intel-scenes")
    if not (data / "seg_train").is_dir():
        pytest.skip("intel-scenes not here")
    assert all((data / "seg_train" / r["relpath"]).is_file() for r in flagged)
