"""`python -m training export RECIPE`: a run's weights into the app's resources, in fp16, with
the model card that carries the run's statistics (the ONNX models follow from them:
training.onnx_export)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import torch

from app.model import scenes
from app.model.scenes import ModelCard
from training.models import RECIPES

BUNDLED_WEIGHTS = "scene_vgg16.safetensors"


def export_run(runs: Path, key: str, dest: Path) -> Path:
    """runs/<key>/final.safetensors -> `dest` (fp16) + its model card with the run's
    statistics; returns the card's path."""
    run = runs / key
    result = json.loads((run / "result.json").read_text())
    recipe = RECIPES[key]
    dest.mkdir(parents=True, exist_ok=True)
    state = scenes.load_state_dict(run / "final.safetensors")
    wname = BUNDLED_WEIGHTS if recipe.architecture == "vgg16_scene" else f"scene_{key}.safetensors"
    sha = scenes.save_state_dict(state, dest / wname, dtype=torch.float16)
    stats = result["stats"]
    card = ModelCard(
        architecture=recipe.architecture,
        weights_file=wname,
        weights_sha256=sha,
        normalization=recipe.normalization,
        temperature=float(result.get("temperature") or 1.0),
        name=f"scene-{key}",
        extra={
            "description": "Scene classifier for Scene Tagger: six Intel Image Classification scenes.",
            "input": {
                "size": [scenes.INPUT_SIZE, scenes.INPUT_SIZE],
                "channels": "RGB",
                "scale": "pixels / 255, then (x - mean) / std",
                "resize": "EXIF-oriented, JPEG draft decoding, antialiased bilinear to 150x150 (aspect not kept)",
            },
            "weights_dtype": "float16",
            "training": {
                "recipe": result["recipe"],
                "seed": recipe.seed,
                "wall_times_seconds": result["wall_times"],
                "throughput_img_per_s": result["throughput"],
                "hardware": result["hardware"],
                "torch": result["torch"],
                "n_train": result["n_train"],
                "n_holdout": result["n_holdout"],
                "best_epoch": result["best_epoch"],
                "finished": result["finished"],
            },
            "evaluation": {
                "split": "seg_test",
                "n": result["n_test"],
                "accuracy": stats["accuracy"],
                "ci95": [stats["ci_low"], stats["ci_high"]],
                "kappa": stats["kappa"],
                "per_class": stats["per_class"],
                "ece_15_bins": result["ece"],
                "ece_after_temperature": result["ece_after"],
                "note": "fp32 training-run figures; "
                "`python -m training evaluate` re-measures the exported fp16 weights",
            },
            "date": datetime.now(UTC).date().isoformat(),
        },
    )
    card_path = dest / (
        scenes.MODEL_CARD_NAME if recipe.architecture == "vgg16_scene" else f"model_card_{key}.json"
    )
    dropped = [k for k in card.sections_lost(card_path) if k != "onnx"]  # onnx: written next
    card.write(card_path)
    if dropped:  # measured for the weights before (flip TTA, a clean-cache rerun): redo them
        print(
            f"the card's sections {', '.join(dropped)} were of the weights before and are "
            "gone; measure them again for these (docs/findings.md says how)"
        )
    print(f"exported {dest / wname} (sha256 {sha[:12]}…) and its model card")
    return card_path
