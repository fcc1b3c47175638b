"""The study's two CNNs (VGG16 is app.networks') and one recipe dataclass per model.

The CNNs are listed in app.networks.ARCHITECTURES, so model cards (and the app) can name them.

Layer shapes follow the study's Keras models so the parameter counts match exactly:
simple 1,440,566; deeper 1,726,758; VGG16 + GAP + Dense(64) + Dense(6) 14,747,910.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from torch import nn

from app.networks import build_network
from app.scenes import IMAGENET, NUM_CLASSES, RESCALE_ONLY, Normalization
from training.data import NO_AUGMENT, STUDY_AUGMENT, Augment


class SimpleCNN(nn.Module):
    """Conv2D(16, 3x3, same, relu) -> MaxPool 2x2 -> Flatten -> Dense(16, relu) -> Dense(6)."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 75 * 75, 16),
            nn.ReLU(inplace=True),
            nn.Linear(16, num_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))


class DeeperCNN(nn.Module):
    """Conv(32,5x5) -> Conv(32,3x3) -> Pool -> Conv(64) -> Pool -> Conv(128) -> Pool -> Conv(256)
    -> Pool -> Flatten (9x9x256) -> Dense(64, relu) -> Dense(6). Pools floor like Keras' valid."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        # Four blocks of (channels, kernel) convolutions with ReLU, each ending in a 2x2 pool.
        blocks = (((32, 5), (32, 3)), ((64, 3),), ((128, 3),), ((256, 3),))
        layers: list[nn.Module] = []
        in_channels = 3
        for block in blocks:
            for channels, kernel in block:
                conv = nn.Conv2d(in_channels, channels, kernel, padding=kernel // 2)
                layers += [conv, nn.ReLU(inplace=True)]
                in_channels = channels
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 9 * 9, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))


@dataclass
class Phase:
    """One stretch of training with its own trainable set and optimiser settings."""

    name: str
    epochs: int
    lr: float
    train: str = "all"  # "all", "head" (conv base frozen), or "from:N" (features[N:] + head)
    augment: Augment = STUDY_AUGMENT
    # "constant"; "warmup" (linear warm-up over warmup_fraction of the phase, then constant);
    # "cosine" (linear warm-up, then cosine to 0)
    schedule: str = "constant"
    warmup_fraction: float = 0.0
    head_lr: float | None = None  # a different lr for the head (default: lr)
    cached_features: bool = False  # frozen base + no augmentation: compute features once


@dataclass
class Recipe:
    """Everything that defines a training run; saved into checkpoints and the model card."""

    key: str
    title: str
    architecture: str
    normalization: Normalization
    phases: list[Phase]
    batch_size: int = 32
    seed: int = 42
    steps_per_epoch: int | None = (
        438  # the study's floor(14034 / 32); None = floor(n_train / batch)
    )
    holdout_fraction: float = (
        0.0  # validation split carved from seg_train (model selection, temperature)
    )
    label_smoothing: float = 0.0
    imagenet_init: bool = False
    select_best: bool = False  # keep the epoch with the best holdout accuracy (needs a holdout)
    study_accuracy: float | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["normalization"] = self.normalization.to_dict()
        return d


def study_cnn(key: str, title: str, arch: str, acc: float) -> Recipe:
    return Recipe(
        key=key,
        title=title,
        architecture=arch,
        normalization=RESCALE_ONLY,
        phases=[Phase("train", epochs=10, lr=1e-3)],
        study_accuracy=acc,
        description="The study's recipe: Adam 1e-3, 10 epochs x 438 steps, batch 32, Keras-style augmentation, rescale 1/255.",
    )


SIMPLE_WARMUP = replace(
    study_cnn("simple", "Simple CNN", "simple_cnn", 0.7423),
    phases=[Phase("train", epochs=10, lr=1e-3, schedule="warmup", warmup_fraction=0.1)],
    description="The study's recipe (Adam 1e-3, 10 epochs x 438 steps, batch 32, Keras-style augmentation, "
    "rescale 1/255) with one change: the learning rate rises linearly from 0 to 1e-3 over the first epoch "
    "(438 steps), then stays at 1e-3. Without it, most of the 16 hidden ReLUs of the 90,000->16 dense layer die "
    "in the first 20-50 Adam steps (seed 42 kept 5, seeds 45 and 46 none), so the result is a lottery; "
    "simple-study keeps the study's constant rate.",
)

RECIPES: dict[str, Recipe] = {
    "simple": SIMPLE_WARMUP,
    "simple-study": study_cnn("simple-study", "Simple CNN (study recipe)", "simple_cnn", 0.7423),
    "deeper": study_cnn("deeper", "Deeper CNN", "deeper_cnn", 0.8487),
    "vgg16": Recipe(
        key="vgg16",
        title="VGG16 (bundled recipe)",
        architecture="vgg16_scene",
        normalization=IMAGENET,
        phases=[
            Phase(
                "head on frozen base",
                10,
                1e-3,
                train="head",
                augment=NO_AUGMENT,
                cached_features=True,
            ),
            Phase(
                "fine-tune block 5 + head",
                2,
                3e-5,
                train="from:24",
                augment=NO_AUGMENT,
                cached_features=True,
                schedule="cosine",
                warmup_fraction=0.05,
                head_lr=1e-4,
            ),
        ],
        imagenet_init=True,
        steps_per_epoch=None,
        holdout_fraction=0.1,
        label_smoothing=0.1,
        select_best=True,
        study_accuracy=0.9247,
        description="Bundled weights, a recipe sized for a 2-core CPU without native bf16 (VGG16 forward ~5 img/s "
        "here, so full fine-tuning with per-batch augmentation would take ~10 h). 10% of seg_train held out "
        "(stratified, seed 42) for epoch selection and temperature scaling, never seg_test. Blocks 1-4 stay at "
        "their ImageNet values and their output (pool4, 512x9x9) is computed once per photo. Phase 1: head "
        "trained 10 epochs at Adam 1e-3 on pooled block-5 features. Phase 2: block 5 + head, Adam with warm-up "
        "and cosine decay (peak 3e-5 block 5 / 1e-4 head), label smoothing 0.1, 2 epochs. The epoch with the best "
        "holdout accuracy is kept.",
    ),
    "vgg16-study": Recipe(
        key="vgg16-study",
        title="VGG16 (study recipe)",
        architecture="vgg16_scene",
        normalization=IMAGENET,
        phases=[
            Phase("frozen base", 10, 1e-3, train="head"),
            Phase("fine-tune all", 4, 1e-5, train="all"),
        ],
        imagenet_init=True,
        study_accuracy=0.9247,
        description="The study's recipe: ImageNet VGG16; phase 1 conv base frozen, head 10 epochs at Adam 1e-3; "
        "phase 2 all layers, Adam 1e-5, 4 epochs; augmentation throughout; 438 steps per epoch.",
    ),
}

MODEL_KEYS = ("simple", "deeper", "vgg16")


def build(recipe: Recipe) -> nn.Module:
    return build_network(recipe.architecture, NUM_CLASSES)
