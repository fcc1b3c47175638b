"""ONNX files for the CPU runtime: fp32 graph (weights stored in fp16), int8 (static QDQ), gate.

    export_onnx(card, data, work, methods)   `python -m training export-onnx` (the bundled
                                            safetensors + card), and `export vgg16` after it
                                            writes the safetensors

The fp16 safetensors stay the source of truth: both ONNX files are made from them, and the
graph starts where the torch network starts, at the normalized NCHW float tensor that
`app.model.scenes.to_input` makes. Every figure comes from seg_train except the evaluation:
calibration photos from the training part of seg_train, the temperature from the 10 %
holdout carved as the training run carved it, the gate and the card's figures from seg_test.
Intermediate outputs (logits per model and split) go to runs/onnx/ so a rerun resumes.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from app.model import runtimes, scenes
from app.model.scenes import CLASSES, ModelCard
from training import data as D
from training.evaluation import evaluation, runtime_logits

ONNX_FP32 = "scene_vgg16.onnx"
ONNX_INT8 = "scene_vgg16.int8.onnx"
OPSET = 17
CALIBRATION_PHOTOS = 256
CALIBRATION_BATCH = 16
CALIBRATION_STRIDE = 2  # batches per histogram update: bounds the calibrator's memory (~1.5 GB)
CALIBRATION_METHODS = ("percentile", "entropy")
GATE = {"max_accuracy_drop_points": 0.5, "min_label_agreement": 0.985, "max_ece": 0.03}
SLICE_PER_CLASS = 20  # the card's pinned slice: the first 20 seg_test photos of each class


class _LogitsAndFeatures(nn.Module):
    """The network with the pooled features as a second output (when it has a pool)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.net.pool(self.net.features(x))
        return self.net.head(pooled), pooled.flatten(1)


def export_fp32(net: nn.Module, path: Path, input_size: int = scenes.INPUT_SIZE) -> None:
    """The torch network as an ONNX graph: `input` (N,3,S,S) -> `logits` (N,6) [, `features`]."""
    net = net.float().eval()
    with_features = all(hasattr(net, a) for a in ("features", "pool", "head"))
    module = _LogitsAndFeatures(net) if with_features else net
    outputs = list(runtimes.ONNX_OUTPUTS if with_features else runtimes.ONNX_OUTPUTS[:1])
    x = torch.zeros(1, 3, input_size, input_size)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # the TorchScript exporter is deprecated; it needs no onnxscript
        torch.onnx.export(
            module,
            (x,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[runtimes.ONNX_INPUT],
            output_names=outputs,
            dynamic_axes={n: {0: "batch"} for n in [runtimes.ONNX_INPUT, *outputs]},
        )
    tmp.replace(path)


def store_fp16(src: Path, dst: Path) -> None:
    """Store every float32 initializer as float16 with a Cast back to float32 in front of it.

    Used only when the round trip is exact (weights that came from fp16 safetensors), so the
    graph computes what the fp32 graph computes; ONNX Runtime folds the casts when it loads.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        half = arr.astype(np.float16)
        if arr.dtype != np.float32 or not np.array_equal(half.astype(np.float32), arr):
            keep.append(init)
            continue
        keep.append(numpy_helper.from_array(half, init.name + "__fp16"))
        casts.append(
            helper.make_node(
                "Cast",
                [init.name + "__fp16"],
                [init.name],
                to=TensorProto.FLOAT,
                name=f"cast_{init.name}",
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    tmp = dst.with_name(dst.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)


def fp32_nodes(model_path: Path) -> list[str]:
    """The nodes int8 leaves alone: the first convolution (it sees raw pixel statistics) and
    the dense head (64 units: tiny, and where rounding moves labels most)."""
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    first_conv = next(n.name for n in nodes if n.op_type == "Conv")
    return [first_conv] + [n.name for n in nodes if n.op_type in ("Gemm", "MatMul")]


class _CalibrationReader:
    """Normalized calibration batches for onnxruntime.quantization, read a stride at a time."""

    def __init__(self, pixels: np.ndarray, norm: scenes.Normalization) -> None:
        self.batches = [
            pixels[i : i + CALIBRATION_BATCH] for i in range(0, len(pixels), CALIBRATION_BATCH)
        ]
        self.norm = norm
        self.set_range(0, len(self.batches))

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(self.batches[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return (
            None
            if batch is None
            else {runtimes.ONNX_INPUT: scenes.to_input_array(batch, self.norm)}
        )

    def rewind(self) -> None:
        self.set_range(0, len(self.batches))


def quantize_int8(
    fp32_path: Path,
    out_path: Path,
    calib_pixels: np.ndarray,
    norm: scenes.Normalization,
    method: str,
) -> dict:
    """Static QDQ int8: per-channel int8 weights, uint8 activations calibrated by `method`."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out_path.with_name(out_path.stem + ".pre.onnx")
    quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
    exclude = fp32_nodes(pre)
    reader = _CalibrationReader(calib_pixels, norm)
    if len(reader) % CALIBRATION_STRIDE:
        raise ValueError(f"{len(calib_pixels)} calibration photos do not fill whole strides")
    t0 = time.time()
    quantize_static(
        str(pre),
        str(out_path),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method={
            "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy,
        }[method],
        nodes_to_exclude=exclude,
        extra_options={"CalibStridedMinMax": CALIBRATION_STRIDE},
    )
    pre.unlink(missing_ok=True)
    return {
        "format": "QDQ (onnxruntime.quantization.quantize_static)",
        "weights": "int8, per channel",
        "activations": "uint8, per tensor",
        "calibration": {
            "method": method,
            "photos": len(calib_pixels),
            "from": "seg_train, training part (never the holdout, never seg_test)",
        },
        "fp32_nodes": exclude,
        "seconds": round(time.time() - t0, 1),
    }


# --------------------------------------------------------------------------------------------
# Figures


def gate(
    fp32_logits: np.ndarray, int8_logits: np.ndarray, labels: np.ndarray, int8_temperature: float
) -> dict:
    """The int8 model ships only if it is as good as fp32 on seg_test (GATE's three limits)."""
    from app.model.calibration import softmax
    from training.metrics import expected_calibration_error

    a32 = float((fp32_logits.argmax(1) == labels).mean())
    a8 = float((int8_logits.argmax(1) == labels).mean())
    agree = float((fp32_logits.argmax(1) == int8_logits.argmax(1)).mean())
    ece = expected_calibration_error(softmax(int8_logits, int8_temperature), labels)
    drop = 100 * (a32 - a8)
    passed = (
        drop <= GATE["max_accuracy_drop_points"]
        and agree >= GATE["min_label_agreement"]
        and ece <= GATE["max_ece"]
    )
    return {
        **GATE,
        "n": len(labels),
        "accuracy_fp32": a32,
        "accuracy_int8": a8,
        "accuracy_drop_points": drop,
        "label_agreement": agree,
        "ece": ece,
        "passed": bool(passed),
    }


def slice_indices(labels: np.ndarray, per_class: int = SLICE_PER_CLASS) -> np.ndarray:
    """The first `per_class` photos of each class in index order (class folder, file name)."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(CLASSES))])


def slice_record(logits: np.ndarray, labels: np.ndarray) -> dict:
    """What tests/test_onnx_card.py re-runs: the slice's labels (one digit each) and accuracy."""
    idx = slice_indices(labels)
    pred = logits[idx].argmax(1)
    return {
        "photos": len(idx),
        "per_class": SLICE_PER_CLASS,
        "accuracy": float((pred == labels[idx]).mean()),
        "labels": "".join(str(int(c)) for c in pred),
    }


# --------------------------------------------------------------------------------------------
# The pipeline


@dataclass
class Splits:
    train: D.DecodedSplit  # seg_train without the holdout
    holdout: D.DecodedSplit
    test: D.DecodedSplit | None


def load_splits(
    card: ModelCard, data: Path | None, with_test: bool = True, progress: bool = True
) -> Splits:
    """seg_train carved exactly as the training run carved it (fraction and seed from the card)."""
    root = Path(data) if data else D.default_data_dir()
    if root is None:
        raise D.DataError("no --data given and ../shared/data/intel-scenes does not exist")
    recipe = card.extra.get("training", {}).get("recipe", {})
    fraction, seed = float(recipe.get("holdout_fraction") or 0.1), int(recipe.get("seed", 42))
    train = D.decode_split(D.index_split(root, "seg_train"), progress=progress)
    tr, ho = D.stratified_holdout(train.labels, fraction, seed)
    test = D.decode_split(D.index_split(root, "seg_test"), progress=progress) if with_test else None
    return Splits(train.subset(tr), train.subset(ho), test)


def calibration_indices(labels: np.ndarray, n: int, seed: int = 42) -> np.ndarray:
    """`n` photos, the same share of each class, reproducibly."""
    rng = np.random.default_rng(seed)
    per = [np.flatnonzero(labels == c) for c in range(len(CLASSES))]
    take = [rng.choice(idx, n * len(idx) // len(labels), replace=False) for idx in per]
    got = np.concatenate(take)
    rest = np.setdiff1d(np.arange(len(labels)), got)
    return np.sort(np.concatenate([got, rng.choice(rest, n - len(got), replace=False)]))


def quant_summary(quant: dict[str, dict]) -> dict:
    """Each calibration's holdout figures, and its seg_test gate figures for the record."""
    out = {}
    for method, q in quant.items():
        out[method] = {"holdout": q["holdout"]}
        rec = q.get("seg_test_for_the_record")
        if rec:
            out[method]["seg_test"] = {
                k: rec[k] for k in ("accuracy_int8", "label_agreement", "ece", "passed")
            }
    return out


def _cached(work: Path, key: str, compute) -> np.ndarray:
    f = work / f"{key}.npy"
    if f.is_file():
        return np.load(f)
    arr = compute()
    np.save(f.with_suffix(".tmp.npy"), arr)
    f.with_suffix(".tmp.npy").replace(f)
    return arr


def _variant(card: ModelCard, precision: str, path: Path, temperature: float = 1.0):
    return runtimes.OnnxVariant(
        precision, path.name, scenes.sha256_file(path), temperature, None, path
    )


def export_onnx(
    card_path: Path,
    data: Path | None,
    work: Path,
    methods: tuple[str, ...],
    threads: int | None = None,
    progress: bool = True,
) -> dict:
    """Write both ONNX files beside the card, measure them, and record everything in the card."""
    from app.model.calibration import WIDE_BOUNDS, fit_temperature

    card = ModelCard.read(card_path)
    dest = card.weights_path.parent
    work.mkdir(parents=True, exist_ok=True)
    net, _ = scenes.load_model(card)
    raw = work / "fp32.raw.onnx"
    export_fp32(net, raw, card.input_size)
    store_fp16(raw, dest / ONNX_FP32)

    def log(message: str) -> None:
        print(message, flush=True)

    log(f"wrote {dest / ONNX_FP32} ({(dest / ONNX_FP32).stat().st_size / 1e6:.1f} MB)")
    sha_key = card.weights_sha256[:12]
    work = work / sha_key  # cached logits belong to these weights only
    work.mkdir(exist_ok=True)
    splits = load_splits(card, data, progress=progress)
    assert splits.test is not None
    calib = splits.train.pixels[calibration_indices(splits.train.labels, CALIBRATION_PHOTOS)]

    def run(path: Path, precision: str, split: D.DecodedSplit, key: str) -> np.ndarray:
        def compute() -> np.ndarray:
            rt = runtimes.OnnxRuntime(
                card, precision, threads=threads, variant=_variant(card, precision, path)
            )
            t0 = time.time()
            out = runtime_logits(rt, split.pixels, desc=key, progress=progress)
            log(f"{key}: {len(split)} photos in {time.time() - t0:.0f} s")
            return out

        return _cached(work, key, compute)

    fp32_path = dest / ONNX_FP32
    ho32 = run(fp32_path, "fp32", splits.holdout, "fp32-holdout")
    quant: dict[str, dict] = {}
    holdout8: dict[str, np.ndarray] = {}
    for method in methods:
        path = work / f"int8-{method}.onnx"
        info_file = work / f"int8-{method}.json"
        if not (path.is_file() and info_file.is_file()):
            info = quantize_int8(raw, path, calib, card.normalization, method)
            info_file.write_text(json.dumps(info, indent=2))
        info = json.loads(info_file.read_text())
        ho8 = holdout8[method] = run(path, "int8", splits.holdout, f"int8-{method}-holdout")
        info["holdout"] = {
            "label_agreement": float((ho8.argmax(1) == ho32.argmax(1)).mean()),
            "accuracy": float((ho8.argmax(1) == splits.holdout.labels).mean()),
        }
        quant[method] = info
        log(f"int8 {method}: holdout {info['holdout']}")
    # The calibration is chosen on the holdout (agreement with fp32, then accuracy), not seg_test.
    best = max(
        methods,
        key=lambda m: (quant[m]["holdout"]["label_agreement"], quant[m]["holdout"]["accuracy"]),
    )
    shutil.copyfile(work / f"int8-{best}.onnx", dest / ONNX_INT8)
    t32 = fit_temperature(ho32, splits.holdout.labels, WIDE_BOUNDS)
    t8 = fit_temperature(holdout8[best], splits.holdout.labels, WIDE_BOUNDS)
    labels = splits.test.labels
    test32 = run(fp32_path, "fp32", splits.test, "fp32-test")
    test8 = run(work / f"int8-{best}.onnx", "int8", splits.test, f"int8-{best}-test")
    for method in methods:  # every calibration's seg_test figures, for the record only
        other = run(work / f"int8-{method}.onnx", "int8", splits.test, f"int8-{method}-test")
        t = fit_temperature(holdout8[method], splits.holdout.labels, WIDE_BOUNDS)
        quant[method]["seg_test_for_the_record"] = gate(test32, other, labels, t)
    held = (
        f"seg_train holdout ({len(splits.holdout)} photos, the training run's "
        f"{card.extra.get('training', {}).get('recipe', {}).get('holdout_fraction', 0.1):.0%} carve)"
    )
    note = (
        "measured by `python -m training export-onnx` through app.model.runtimes.OnnxRuntime and "
        "the app's preprocessing; re-measure with `python -m training evaluate --backend onnx "
        "--precision P --update-card`"
    )
    card.extra["onnx"] = {
        "fp32": {
            "file": ONNX_FP32,
            "sha256": scenes.sha256_file(fp32_path),
            "opset": OPSET,
            "storage": "float16 initializers cast to float32 at load (bit-identical to the fp16 safetensors)",
            "temperature": t32,
            "temperature_fitted_on": held,
            "evaluation": {**evaluation(test32, labels, t32), "note": note},
            "slice_check": slice_record(test32, labels),
        },
        "int8": {
            "file": ONNX_INT8,
            "sha256": scenes.sha256_file(dest / ONNX_INT8),
            "opset": OPSET,
            "quantization": {
                **{
                    k: v
                    for k, v in quant[best].items()
                    if k not in ("holdout", "seg_test_for_the_record")
                },
                "chosen_by": "holdout agreement with fp32, then accuracy",
                "compared": quant_summary(quant),
            },
            "temperature": t8,
            "temperature_fitted_on": held,
            "evaluation": {**evaluation(test8, labels, t8), "note": note},
            "gate": gate(test32, test8, labels, t8),
            "slice_check": slice_record(test8, labels),
        },
    }
    card.write(card.path or card_path)
    (work / "calibration-comparison.json").write_text(json.dumps(quant, indent=2, default=float))
    log(f"int8 ({best}) gate: {json.dumps(card.extra['onnx']['int8']['gate'], default=float)}")
    return card.extra["onnx"]
