"""Every network a model card may name, and the one table that names them (torch).

VGG16 without its top, with the study's scene head, is the bundled model; layer names follow
torchvision's vgg16() so its ImageNet weights load strictly into `features` without
torchvision being imported. This module does not import app.model.scenes: the number of classes
comes in as an argument (app.model.scenes.load_model passes the model card's class count).
"""

from __future__ import annotations

import torch
from torch import nn

# VGG16's five convolution blocks as (channels, 3x3 convolutions); each block ends in a 2x2 max-pool.
VGG16_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
# Where the 13 convolutions sit in `features` (each is followed by its ReLU, each block by a pool).
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for channels, convolutions in VGG16_BLOCKS:
        for _ in range(convolutions):
            layers += [nn.Conv2d(in_channels, channels, kernel_size=3, padding=1), nn.ReLU(True)]
            in_channels = channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG16Scene(nn.Module):
    """VGG16 without its top -> global average pooling -> Dense(64, relu) -> Dense(classes).

    14,747,910 parameters with six classes, as in the study. Returns logits.
    """

    def __init__(self, num_classes: int, hidden: int = 64, dropout: float = 0.0):
        super().__init__()
        self.features = vgg16_features()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


class SimpleCNN(nn.Module):
    """The study's simple CNN (1,440,566 parameters with six classes, as its Keras model):
    Conv2D(16, 3x3, same, relu) -> MaxPool 2x2 -> Flatten -> Dense(16, relu) -> Dense(6)."""

    def __init__(self, num_classes: int):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DeeperCNN(nn.Module):
    """The study's deeper CNN (1,726,758 parameters with six classes):
    Conv(32,5x5) -> Conv(32,3x3) -> Pool -> Conv(64) -> Pool -> Conv(128) -> Pool -> Conv(256)
    -> Pool -> Flatten (9x9x256) -> Dense(64, relu) -> Dense(6). Pools floor like Keras' valid."""

    def __init__(self, num_classes: int):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TinyTestNet(nn.Module):
    """Test hook: a few thousand parameters with VGG16Scene's contract (photo in, logits out,
    `features` + `head`), so tests run the real card/weights/engine path in milliseconds."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 16, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TinyPooledTestNet(nn.Module):
    """Test hook: VGG16Scene's layout (`features` -> `pool` -> `head`) at a few hundred
    parameters, so the ONNX export (and its pooled-features output) runs in tests."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=4, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


# Every architecture a model card may name. Nothing adds to this table at run time: a new
# network is a new line here. Each class takes `num_classes` first.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "vgg16_scene": VGG16Scene,  # the bundled model
    "simple_cnn": SimpleCNN,  # the study's simple CNN (training/models.py has its recipe)
    "deeper_cnn": DeeperCNN,  # the study's deeper CNN
    "tiny_test": TinyTestNet,  # test hook (see its docstring)
    "tiny_pooled_test": TinyPooledTestNet,  # test hook for the ONNX export
}


class UnknownArchitecture(LookupError):
    """A name that is not in ARCHITECTURES."""


def network_class(architecture: str) -> type[nn.Module]:
    try:
        return ARCHITECTURES[architecture]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UnknownArchitecture(
            f"unknown architecture {architecture!r} (known: {known})"
        ) from None


def build_network(architecture: str, num_classes: int) -> nn.Module:
    return network_class(architecture)(num_classes)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
