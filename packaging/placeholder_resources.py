"""Write a stand-in resources folder: the real icons and samples plus a random-weights VGG16.

Packaging checks need a bundle before the trained weights exist. This copies resources/ (icons,
samples, anything else) into OUT and writes a model card named "placeholder-random" with random
VGG16Scene weights (fp16 safetensors, same size and layout as the real ones), so the frozen app
loads, checks the sha256 and classifies exactly as it will with the real model. The self-test's
label check fails on random weights, as it should: never ship a bundle built from this.

    python packaging/placeholder_resources.py OUT_DIR
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLACEHOLDER_NAME = "placeholder-random"
WEIGHTS_FILE = "scene_vgg16.safetensors"


def write_placeholder(out: Path, source: Path = REPO / "app" / "resources", seed: int = 0) -> Path:
    """Copy `source` into `out` and add a random VGG16Scene card; returns the card's path."""
    sys.path.insert(0, str(REPO))
    import torch

    from app.model import networks, scenes

    out.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("__pycache__", "*.tmp", scenes.MODEL_CARD_NAME, "*.safetensors")
    shutil.copytree(source, out, ignore=skip, dirs_exist_ok=True)
    torch.manual_seed(seed)
    net = networks.VGG16Scene(scenes.NUM_CLASSES)
    sha = scenes.save_state_dict(net.state_dict(), out / WEIGHTS_FILE, dtype=torch.float16)
    card = scenes.ModelCard(
        architecture="vgg16_scene",
        weights_file=WEIGHTS_FILE,
        weights_sha256=sha,
        name=PLACEHOLDER_NAME,
        extra={"note": "random weights for packaging checks only; never ship"},
    )
    path = out / scenes.MODEL_CARD_NAME
    card.write(path)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder to fill (created if needed)")
    p.add_argument("--source", type=Path, default=REPO / "app" / "resources", help="default: app/resources/")
    args = p.parse_args()
    print(write_placeholder(args.out, args.source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
