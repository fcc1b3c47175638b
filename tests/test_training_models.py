"""The study's three networks, with the exact parameter counts it reported."""

import pytest
import torch

from app import scenes
from app.scenes import VGG16Scene, count_parameters
from training.models import RECIPES, DeeperCNN, SimpleCNN, build


@pytest.mark.parametrize(
    ("net", "expected"),
    [(SimpleCNN, 1_440_566), (DeeperCNN, 1_726_758), (VGG16Scene, 14_747_910)],
)
def test_parameter_counts_match_the_study(net, expected):
    assert count_parameters(net()) == expected


@pytest.mark.parametrize("net", [SimpleCNN, DeeperCNN, VGG16Scene])
def test_networks_map_a_batch_of_150px_photos_to_six_logits(net):
    with torch.inference_mode():
        out = net().eval()(torch.zeros(2, 3, 150, 150))
    assert out.shape == (2, 6)


def test_deeper_cnn_flattens_9x9x256_like_keras_valid_pooling():
    feats = DeeperCNN().features(torch.zeros(1, 3, 150, 150))
    assert feats.shape == (1, 256, 9, 9)


def test_recipes_build_registered_architectures():
    for recipe in RECIPES.values():
        assert recipe.architecture in scenes.ARCHITECTURES
        assert count_parameters(build(recipe)) > 1_000_000
    assert RECIPES["simple"].steps_per_epoch == 438 and RECIPES["simple"].seed == 42
    study = RECIPES["vgg16-study"]
    assert [(p.epochs, p.lr, p.train) for p in study.phases] == [
        (10, 1e-3, "head"),
        (4, 1e-5, "all"),
    ]
