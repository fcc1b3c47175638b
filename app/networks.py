"""The networks of the contract (torch): VGG16 without its top, with the study's scene head.

Layer names follow torchvision's vgg16() so its ImageNet weights load strictly into `features`
without torchvision being imported. Reached as attributes of app.scenes as well.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from app.scenes import NUM_CLASSES, ModelError

VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = int(v)
    return nn.Sequential(*layers)


class VGG16Scene(nn.Module):
    """VGG16 without its top -> global average pooling -> Dense(64, relu) -> Dense(6).

    14,747,910 parameters, as in the study. Returns logits.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, hidden: int = 64, dropout: float = 0.0):
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


# Architecture registry: the app knows VGG16; training registers the study's two CNNs so that
# the same card/weights loader serves every model.
ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {"vgg16_scene": VGG16Scene}


def build_network(architecture: str) -> nn.Module:
    try:
        return ARCHITECTURES[architecture]()
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ModelError(f"unknown architecture {architecture!r} (known: {known})") from None


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
