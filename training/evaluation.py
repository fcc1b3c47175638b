"""`python -m training evaluate`: a model card measured on a split through the app's own
loading path (the card, sha256, preprocessing), in torch (the safetensors) or in ONNX Runtime
(the card's fp32 or int8 model at its own temperature); `update_card` writes the seg_test
figures into the card. Also the figures every export records (`evaluation`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.model import devices, runtimes, scenes
from app.model.calibration import softmax
from app.model.scenes import CLASSES, ModelCard
from training import data


def runtime_logits(
    runtime: runtimes.Runtime,
    pixels: np.ndarray,
    batch: int = 32,
    desc: str = "",
    progress: bool = True,
) -> np.ndarray:
    from tqdm import tqdm

    out = []
    for i in tqdm(
        range(0, len(pixels), batch), desc=desc, unit="batch", disable=not progress, leave=False
    ):
        out.append(runtime.run_pixels(pixels[i : i + batch])[0])
    return np.concatenate(out).astype(np.float32)


def evaluation(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """The card's seg_test figures: accuracy with its 95 % interval, kappa, ECE."""
    from training.metrics import caret_stats, confusion_matrix, expected_calibration_error

    probs = softmax(logits, temperature)
    s = caret_stats(
        confusion_matrix(probs.argmax(1), labels, len(CLASSES)), list(CLASSES)
    ).to_dict()
    return {
        "split": "seg_test",
        "n": len(labels),
        "accuracy": s["accuracy"],
        "ci95": [s["ci_low"], s["ci_high"]],
        "kappa": s["kappa"],
        "ece_15_bins_with_temperature": expected_calibration_error(probs, labels),
    }


def evaluate_torch(
    card_path: Path | None,
    split: data.DecodedSplit,
    device_name: str | None = None,
    precision: str = "auto",
    update_card: bool = False,
    progress: bool = True,
) -> None:
    """The card's safetensors in torch on `split`; the figures printed (and, for seg_test
    with `update_card`, written into the card)."""
    import torch

    from training.loop import evaluate, make_context, stages
    from training.metrics import (
        caret_stats,
        confusion_matrix,
        expected_calibration_error,
        format_caret,
    )

    net, card = scenes.load_model(card_path or scenes.default_card_path())
    device = devices.pick_device(device_name)
    ctx = make_context(device, precision, progress=progress)
    net.to(device).to(memory_format=torch.channels_last)
    batches = data.iterate_batches(split, 64, card.normalization, shuffle=False)
    _, acc, logits, labels = evaluate(
        stages(net), batches, ctx, total=-(-len(split) // 64), desc=f"eval {split.split}"
    )
    probs = softmax(logits, card.temperature)
    stats = caret_stats(confusion_matrix(probs.argmax(1), labels, len(CLASSES)), list(CLASSES))
    print(
        f"model: {card.model_id} ({card.path}), split {split.split}: {len(split)} photos, "
        f"device {devices.device_name(device)}"
    )
    print(format_caret(stats))
    print(
        f"ECE (15 bins, temperature {card.temperature:.3f}): "
        f"{expected_calibration_error(probs, labels):.4f}"
    )
    print(
        f"seg_test accuracy: {stats.accuracy:.4f}"
        if split.split == "seg_test"
        else f"accuracy: {stats.accuracy:.4f}"
    )
    if update_card and split.split == "seg_test":
        figures = stats.to_dict()
        card.extra["evaluation"] = {
            **card.extra.get("evaluation", {}),
            "accuracy": figures["accuracy"],
            "ci95": [figures["ci_low"], figures["ci_high"]],
            "kappa": figures["kappa"],
            "per_class": figures["per_class"],
            "n": len(split),
            "ece_15_bins_with_temperature": expected_calibration_error(probs, labels),
            "note": f"measured by `python -m training evaluate` on the exported "
            f"{card.weights_file} through the app's preprocessing; "
            f"{devices.device_name(device)}, autocast {ctx.amp}",
        }
        card.write(card.path)
        print(f"model card {card.path} updated with these figures")


def evaluate_onnx(
    card_path: Path | None,
    split: data.DecodedSplit,
    precision: str = "int8",
    update_card: bool = False,
    progress: bool = True,
) -> None:
    """The card's ONNX model (fp32 or int8) through app.model.runtimes, at its own
    temperature; `update_card` writes the seg_test figures into its entry."""
    from training.metrics import caret_stats, confusion_matrix, format_caret

    card = ModelCard.read(card_path or scenes.default_card_path())
    rt = runtimes.OnnxRuntime(card, precision)
    logits = runtime_logits(rt, split.pixels, desc=f"eval {split.split}", progress=progress)
    figures = evaluation(logits, split.labels, rt.temperature)
    pred = logits.argmax(1)
    print(
        f"model: {rt.model_id} ({rt.variant.path}), split {split.split}: {len(split)} photos, "
        f"{rt.description}"
    )
    print(
        format_caret(caret_stats(confusion_matrix(pred, split.labels, len(CLASSES)), list(CLASSES)))
    )
    print(
        f"ECE (15 bins, temperature {rt.temperature:.3f}): "
        f"{figures['ece_15_bins_with_temperature']:.4f}"
    )
    print(f"{split.split} accuracy: {figures['accuracy']:.4f}")
    if update_card and split.split == "seg_test":
        entry = card.extra["onnx"][precision]
        entry["evaluation"] = {
            **figures,
            "note": f"measured by `python -m training evaluate --backend onnx "
            f"--precision {precision}` through the app's preprocessing; {rt.description}",
        }
        card.write(card.path)
        print(f"model card {card.path} updated with these figures")
