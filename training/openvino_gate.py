"""OpenVINO's int8: the shipped QDQ file compiled by OpenVINO's CPU plugin, gated like ONNX
Runtime's int8 (training/onnx_export.py's GATE: ≤ 0.5 points below fp32 on all 3,000 seg_test
photos, labels equal to fp32's, ECE) and recorded in the card under onnx.int8.openvino. `auto`
runs OpenVINO only where that record says it passed (app.model.runtimes).

    python -m training gate-openvino        re-measure and record (export-onnx runs it after)

It runs twice: with the plugin's default precision for the few fp32 nodes (bf16 on CPUs with
AVX512-BF16/AMX) and with f32, as the app asks for (OpenVinoRuntime) and as CPUs without bf16
run them; both must pass.
The fp32 reference logits are export-onnx's (runs/onnx/<sha12>/fp32-test.npy), else computed
through ONNX Runtime fp32 and kept there.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from app.model import devices, runtimes, scenes
from app.model.scenes import ModelCard
from training import data as D
from training.evaluation import evaluation, runtime_logits
from training.onnx_export import _cached, gate, slice_record


def openvino_record(
    card: ModelCard,
    fp32_logits: np.ndarray,
    test: D.DecodedSplit,
    threads: int | None = None,
    progress: bool = True,
) -> dict | None:
    """OpenVINO's figures for the card's int8 file; None when openvino is not installed."""
    if not runtimes.openvino_available():
        return None
    import openvino as ov

    labels = test.labels
    out: dict = {
        "reads": "the int8 QDQ file above, as it is (no separate OpenVINO model)",
        "openvino": ov.__version__,
        "config": "PERFORMANCE_HINT LATENCY, INFERENCE_NUM_THREADS = physical cores",
        "measured_on": f"{devices.cpu_kind() or 'unknown'} CPU",
        "note": "measured by `python -m training gate-openvino` (or export-onnx) through "
        "app.model.runtimes.OpenVinoRuntime and the app's preprocessing; fp32 reference: "
        "ONNX Runtime fp32 on the same pixels",
    }
    # the plugin's own default for the fp32 nodes (bf16 on AVX512-BF16/AMX CPUs) at the top,
    # and f32, as the app runs them since 2026-12-06 (and as CPUs without bf16 do), beside it
    for key, config in (
        ("native", {"INFERENCE_PRECISION_HINT": "bf16"}),
        ("f32", {"INFERENCE_PRECISION_HINT": "f32"}),
    ):
        rt = runtimes.OpenVinoRuntime(card, "int8", threads=threads, cache_dir=None, config=config)
        t0 = time.time()
        logits = runtime_logits(rt, test.pixels, desc=f"openvino int8 {key}", progress=progress)
        figures = {
            "inference_precision": rt.inference_precision,
            "seconds": round(time.time() - t0, 1),
            "evaluation": evaluation(logits, labels, rt.temperature),
            "gate": gate(fp32_logits, logits, labels, rt.temperature),
            "slice_check": slice_record(logits, labels),
        }
        if key == "native":
            out.update(figures)
        else:
            out["without_bf16"] = figures
        rt.close()
    out["gate"] = {
        **out["gate"],
        "passed": bool(out["gate"]["passed"] and out["without_bf16"]["gate"]["passed"]),
    }
    return out


def merged_record(old: dict | None, new: dict) -> dict:
    """The card's onnx.int8.openvino after a gate run on one kind of CPU: `by_cpu` holds the
    record of every kind measured (the kernels differ: AMX, AVX-512 VNNI, AVX2…), a rerun on a
    kind replaces that kind's; the top level stays the first kind's record, as cards before
    `by_cpu` had it, so that readers of the top level see a gate as before."""

    def kind(record: dict) -> str:
        return str(record.get("measured_on", "")).removesuffix(" CPU")

    old = old if isinstance(old, dict) and old.get("measured_on") else None
    by_cpu: dict = dict((old or {}).get("by_cpu") or {})
    first = {k: v for k, v in old.items() if k != "by_cpu"} if old else new
    if old:
        by_cpu.setdefault(kind(old), first)
    by_cpu[kind(new)] = new
    if kind(first) == kind(new):
        first = new
    return {**first, "by_cpu": by_cpu}


def gate_openvino(
    root: Path, runs: Path, card_path: Path | None, quiet: bool, emulated: str | None = None
) -> int:
    """`python -m training gate-openvino`: measure, record in the card, print; 1 if it failed.
    `emulated`: the kind of CPU a CPUID mask makes this one look like (/proc/cpuinfo still
    names the real one), recorded as that kind with the real CPU beside it."""
    card = ModelCard.read(card_path or scenes.default_card_path())
    if not runtimes.openvino_available():
        raise scenes.ModelError("openvino is not installed (pip install openvino)")
    test = D.decode_split(D.index_split(root, "seg_test"), progress=not quiet)
    work = runs / "onnx" / card.weights_sha256[:12]
    work.mkdir(parents=True, exist_ok=True)

    def fp32() -> np.ndarray:
        rt = runtimes.OnnxRuntime(card, "fp32")
        return runtime_logits(rt, test.pixels, desc="fp32-test", progress=not quiet)

    fp32_logits = _cached(work, "fp32-test", fp32)
    record = openvino_record(card, fp32_logits, test, progress=not quiet)
    assert record is not None
    if emulated:
        record["emulated_on"] = record["measured_on"]
        record["measured_on"] = f"{emulated} CPU"
    card.extra["onnx"]["int8"]["openvino"] = merged_record(
        card.extra["onnx"]["int8"].get("openvino"), record
    )
    card.write(card.path)
    g = record["gate"]
    print(
        f"OpenVINO int8 ({record['inference_precision']}): accuracy {g['accuracy_int8']:.4f} "
        f"(fp32 {g['accuracy_fp32']:.4f}), labels equal to fp32 {g['label_agreement']:.4f}, "
        f"ECE {g['ece']:.4f}; without bf16: "
        f"{record['without_bf16']['gate']['accuracy_int8']:.4f} / "
        f"{record['without_bf16']['gate']['label_agreement']:.4f}; "
        f"gate {'passed' if g['passed'] else 'FAILED'}; card {card.path} updated"
    )
    return 0 if g["passed"] else 1
