"""Which runtime runs the model on this computer, and why: the order `auto` tries them in,
the gates in the card it trusts, and opening the first that loads.

`open_runtime(card, backend, precision)` picks one. `auto` means torch on a GPU; on a CPU the
int8 model in OpenVINO where it is installed, measured faster on this kind of CPU
(OPENVINO_TAKEN) and its int8 passed the card's gate on that kind's kernels, else the int8 ONNX
model in ONNX Runtime when its gate passed, else the fp32 ONNX model, else torch. `auto_choice`
says which and why (--self-test, Settings). A runtime that cannot be used (file missing or
damaged, package absent) is reported through `warn` and the next one is tried; an explicit
backend that cannot run raises ModelError.
"""

from __future__ import annotations

import os
import platform

from app.model import devices, runtimes, scenes
from app.model.devices import cpu_kind
from app.model.runtimes import (
    BACKENDS,
    PRECISIONS,
    OnnxRuntime,
    OnnxVariant,
    OpenVinoRuntime,
    Runtime,
    TorchRuntime,
    WarnFn,
    _variant_id,
)
from app.model.scenes import ModelCard, ModelError

__all__ = ["auto_choice", "candidates", "expected_model_id", "open_runtime"]


def openvino_gate(card: ModelCard, precision: str = "int8", kind: str | None = None) -> dict | None:
    """The card's record of OpenVINO running its `precision` file: onnx.<precision>.openvino's
    gate; with `kind` (devices.cpu_kind()), the gate measured on that kind of CPU's kernels
    (`by_cpu`, or the record itself where it names that kind or no kind), else None."""
    entry = (card.extra.get("onnx") or {}).get(precision)
    ov = entry.get("openvino") if isinstance(entry, dict) else None
    if not isinstance(ov, dict):
        return None
    if kind is not None:
        by_cpu = ov.get("by_cpu")
        if isinstance(by_cpu, dict) and isinstance(by_cpu.get(kind), dict):
            ov = by_cpu[kind]
        elif ov.get("measured_on") not in (None, f"{kind} CPU"):
            return None
    gate = ov.get("gate")
    return gate if isinstance(gate, dict) else None


def openvino_gated_kinds(card: ModelCard, precision: str = "int8") -> list[str]:
    """The kinds of CPU on whose kernels the card's OpenVINO `precision` gate passed."""
    entry = (card.extra.get("onnx") or {}).get(precision)
    ov = entry.get("openvino") if isinstance(entry, dict) else None
    if not isinstance(ov, dict):
        return []
    kinds = [str(ov.get("measured_on", "")).removesuffix(" CPU")]
    kinds += list(ov.get("by_cpu") or {})
    return [
        k
        for k in dict.fromkeys(kinds)
        if k and (openvino_gate(card, precision, k) or {}).get("passed") is True
    ]


def _gpu_maybe_present() -> bool:
    """A cheap look for a GPU before paying for torch's import: NVIDIA/AMD device nodes on Linux,
    Apple silicon (MPS), or Windows (where no cheap look exists)."""
    system = platform.system()
    if system == "Darwin":
        return platform.machine() == "arm64"
    if system == "Linux":
        return any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd"))
    return True


def _on_gpu(device: str | None) -> bool:
    if device not in (None, "auto"):
        return not str(device).startswith("cpu")
    if not runtimes.torch_available() or not _gpu_maybe_present():
        return False
    return devices.pick_device(None).type != "cpu"


# OpenVINO int8 / ONNX Runtime int8, model only, batch 32, 2 threads, quiet (docs/bench_runtimes.md):
# AMX and AVX-512 BF16 on real Xeons (an AMX one; one whose hypervisor hides AMX); AVX-512 VNNI,
# AVX-VNNI and AVX2 on the AVX-512 BF16 one with CPUID masked (the kernels each runtime picks
# are those of such a CPU; the microarchitecture stays the Xeon's).
OPENVINO_OVER_ORT = {
    "AMX": 3.6,
    "AVX-512 BF16": 1.14,
    "AVX-512 VNNI": 1.12,  # two rounds: 1.17, 1.08
    "AVX-VNNI": 1.1,  # 1.15, 1.04
    "AVX2": 0.93,  # 0.97, 0.89
}
# Where auto takes OpenVINO: measured faster, and its int8 gated on that kind of CPU's kernels
# (the card's onnx.int8.openvino.by_cpu records each kind it ran on). AVX2 without VNNI: no
# faster, so ONNX Runtime stays; where the kind cannot be told (not Linux), ONNX Runtime.
OPENVINO_TAKEN = ("AMX", "AVX-512 BF16", "AVX-512 VNNI", "AVX-VNNI")


def candidates(
    card: ModelCard, backend: str, precision: str, device: str | None
) -> list[tuple[str, str]]:
    """(backend, precision) to try in order; ValueError for a combination that cannot exist."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if backend == "torch":
        if precision == "int8":
            raise ValueError(
                "int8 runs on ONNX Runtime or OpenVINO only (--backend onnx, openvino or auto)"
            )
        return [("torch", precision)]
    names = {"onnx": "ONNX Runtime", "openvino": "OpenVINO"}
    if backend in names and precision in ("bf16", "fp16"):
        raise ValueError(f"{precision} runs on torch only (--backend torch or auto)")
    if device not in (None, "auto", "cpu") and backend in names:
        raise ValueError(f"{names[backend]} runs on the CPU here, not on {device}")
    if backend == "onnx":
        if precision == "auto":
            return [("onnx", "int8")] * _int8_passed(card) + [("onnx", "fp32")]
        return [("onnx", precision)]
    if backend == "openvino":
        if precision == "auto":
            return [("openvino", "int8")] * _openvino_int8_passed(card) + [("openvino", "fp32")]
        return [("openvino", precision)]
    # auto: ONNX variants the card does not list, or a missing onnxruntime/openvino, are passed
    # over quietly (a card without ONNX files is normal); a listed file that fails is reported.
    ov_first = precision in ("auto", "int8") and _prefer_openvino(card)
    if precision == "int8":
        return [("openvino", "int8")] * ov_first + [("onnx", "int8")]
    if precision in ("bf16", "fp16") or _on_gpu(device):
        return [("torch", precision)]
    onnx: list[tuple[str, str]] = [("openvino", "int8")] if ov_first else []
    if runtimes.onnxruntime_available():
        if precision == "auto" and _int8_passed(card):
            onnx.append(("onnx", "int8"))
        if _listed(card, "fp32"):
            onnx.append(("onnx", "fp32"))
    return [*onnx, ("torch", "fp32")]


def _prefer_openvino(card: ModelCard) -> bool:
    kind = cpu_kind()
    return (
        runtimes.openvino_available()
        and kind in OPENVINO_TAKEN
        and _openvino_int8_passed(card, kind)
    )


def auto_choice(
    card: ModelCard | str | os.PathLike[str] | None = None, device: str | None = None
) -> str:
    """Why `auto` runs what it runs on this computer, in one sentence (nothing is loaded)."""
    try:
        if card is None:
            card = scenes.default_card_path()
        if not isinstance(card, ModelCard):
            card = ModelCard.read(card)
        first = candidates(card, "auto", "auto", device)[0]
    except (ModelError, ValueError, OSError) as exc:
        return f"cannot tell: {exc}"
    kind = cpu_kind() or "this CPU"
    if first[0] == "torch":
        if _on_gpu(device):
            return "torch on the GPU (a GPU is fastest for this model)"
        return "torch fp32 (the card lists no usable ONNX model, or onnxruntime is missing)"
    if first[0] == "openvino":
        ratio = OPENVINO_OVER_ORT.get(kind)
        measured = f"{ratio:.2g}x ONNX Runtime's int8 rate" if ratio else "faster"
        return (
            f"OpenVINO int8: on {kind} it measured {measured} "
            f"(docs/bench_runtimes.md), and its int8 passed the card's gate on {kind} kernels"
        )
    why = []
    if not runtimes.openvino_available():
        why.append("OpenVINO is not installed")
    elif not _openvino_int8_passed(card):
        why.append("the card records no passed OpenVINO int8 gate")
    elif cpu_kind() not in OPENVINO_TAKEN:
        ratio = OPENVINO_OVER_ORT.get(kind)
        measured = f"measured {ratio:.2g}x ONNX Runtime's rate" if ratio else "not measured"
        taken = ", ".join(OPENVINO_TAKEN)
        why.append(f"on {kind} OpenVINO {measured}; auto takes it only on {taken}")
    elif not _openvino_int8_passed(card, cpu_kind()):
        gated = ", ".join(openvino_gated_kinds(card)) or "no CPU"
        why.append(f"OpenVINO's int8 was gated on {gated} kernels, not on {kind}'s")
    what = f"ONNX Runtime {first[1]}"
    return what + (f" ({'; '.join(why)})" if why else "")


def _listed(card: ModelCard, precision: str) -> bool:
    return isinstance((card.extra.get("onnx") or {}).get(precision), dict)


def _int8_passed(card: ModelCard) -> bool:
    try:
        return OnnxVariant.from_card(card, "int8").gate_passed is True
    except ModelError:
        return False


def _openvino_int8_passed(card: ModelCard, kind: str | None = None) -> bool:
    """Passed on `kind`'s kernels; without a kind, on some CPU's (an explicit --backend openvino)."""
    if kind is None:
        return bool(openvino_gated_kinds(card)) or bool(
            (openvino_gate(card, "int8") or {}).get("passed") is True
        )
    gate = openvino_gate(card, "int8", kind)
    return bool(gate and gate.get("passed") is True)


def expected_model_id(
    card: ModelCard | str | os.PathLike[str] | None = None,
    backend: str = "auto",
    precision: str = "auto",
    device: str | None = None,
) -> str | None:
    """The model id open_runtime will most likely report, without loading anything (the card
    is read; torch is imported only where a GPU seems present): a window can show cached
    results under it while the model still loads. None when it cannot be told."""
    try:
        if card is None:
            card = scenes.default_card_path()
        if not isinstance(card, ModelCard):
            card = ModelCard.read(card)
        kind, prec = candidates(card, backend, precision, device)[0]
    except (ModelError, ValueError, OSError):
        return None
    return _variant_id(card, prec, kind)


def open_runtime(
    card: ModelCard | str | os.PathLike[str] | None = None,
    backend: str = "auto",
    precision: str = "auto",
    device: str | None = None,
    threads: int | None = None,
    warn: WarnFn | None = None,
) -> Runtime:
    """The first runtime of `candidates` that loads; each one that does not is passed to `warn`
    (`auto`) and the next is tried. ModelError when none can run, with every reason."""
    if card is None:
        card = scenes.default_card_path()
    if not isinstance(card, ModelCard):
        card = ModelCard.read(card)
    order = candidates(card, backend, precision, device)
    why = auto_choice(card, device) if backend == precision == "auto" else "asked for"
    failures: list[ModelError] = []
    for i, (kind, prec) in enumerate(order):
        try:
            rt: Runtime
            if kind == "onnx":
                rt = OnnxRuntime(card, prec, threads=threads)
            elif kind == "openvino":
                rt = OpenVinoRuntime(card, prec, threads=threads)
            else:
                rt = TorchRuntime(card, device=device, precision=prec)
            rt.why = why if not failures else "; ".join(map(str, failures)) + " (fell back)"
            return rt
        except ModelError as exc:
            failures.append(exc)
            if warn and i + 1 < len(order):
                nxt = {"torch": "torch", "onnx": "ONNX", "openvino": "OpenVINO"}[order[i + 1][0]]
                warn(
                    f"{exc}; falling back to {nxt if nxt == 'torch' else f'{nxt} {order[i + 1][1]}'}"
                )
    if len(failures) == 1:
        raise failures[0]  # keeps its type (e.g. devices.DeviceError)
    raise ModelError("no runtime can run this model: " + "; ".join(map(str, failures)))
